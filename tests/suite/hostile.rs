//! Every input the fuzzers ever found a bug with (`tests/data/fuzz/<target>/`), run
//! again through the same entry point (`scrawl::fuzz`) so the bug stays fixed. See
//! docs/SECURITY.md for running the fuzzers themselves.

use std::path::Path;

use scrawl::fuzz::targets;

#[test]
fn every_saved_fuzz_input_is_handled_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut ran = 0;
    for (name, entry) in targets() {
        let dir = root.join(name);
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        for file in files {
            let path = file.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            eprintln!("{name}: {}", path.display());
            entry(&data);
            ran += 1;
        }
    }
    assert!(ran > 0, "no inputs under {}", root.display());
}

/// The entry points accept the empty input and a little of everything.
#[test]
fn every_target_takes_trivial_inputs() {
    for (_, entry) in targets() {
        for data in [
            &b""[..],
            b"\x00",
            b"\x1f\x8b",
            b"{}",
            b"label\n",
            b"\x80\x02.",
        ] {
            entry(data);
        }
    }
}

/// The importers of other people's model files (Keras's `.keras` and `.h5`, ONNX) and
/// the TensorBoard reader, on thousands of truncated and byte-flipped copies of real
/// files: an error or a model, never a panic.
#[test]
fn corrupted_model_files_are_errors_not_panics() {
    let keras = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keras");
    let model = scrawl::model::Sequential::new(
        scrawl::presets::preset(
            "Conv2D(4,3,relu,padding=1) MaxPooling2D Flatten Dense(10,softmax)",
        )
        .unwrap(),
        1,
    )
    .unwrap();
    use prost::Message;
    let onnx = scrawl::interop::onnx::to_onnx(&model)
        .unwrap()
        .encode_to_vec();
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("keras", std::fs::read(keras.join("cnn.keras")).unwrap()),
        ("keras", std::fs::read(keras.join("cnn.h5")).unwrap()),
        ("onnx", onnx),
    ];
    let entry = |name: &str| targets().into_iter().find(|(n, _)| *n == name).unwrap().1;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (name, good) in &inputs {
        let f = entry(name);
        f(good);
        for trial in 0..400 {
            let mut bad = good.clone();
            if trial < 60 {
                bad.truncate(next() as usize % good.len());
            } else {
                for _ in 0..1 + next() % 6 {
                    let i = next() as usize % bad.len();
                    bad[i] = next() as u8;
                }
            }
            f(&bad);
        }
    }
}
