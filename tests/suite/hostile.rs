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
