//! Every error a user can cause, one case each, through the real binary: the command
//! exits with 1 (or 2 for a flag clap rejects), its message names *what* is wrong and
//! *where* (the file, and the line and column, byte offset, tensor, layer or flag),
//! and it never panics or prints a backtrace, even with `RUST_BACKTRACE=1`.
//!
//! The cases are grouped by what the user hands scrawl: IDX folders, CSV files, PNG
//! folders and images, pickles and `.npz` archives, model files, model configs, flags,
//! and run folders. HTTP bodies are covered in tests/suite/serve.rs, against a live server.

use std::path::{Path, PathBuf};
use std::process::Command;

use scrawl::data::idx::encode_idx;
use scrawl::model::Sequential;

/// Runs `scrawl args` in `dir` and checks that it failed cleanly with a message holding
/// every one of `want`. Returns the message.
fn fails(dir: &Path, args: &[&str], want: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_scrawl"))
        .args(args)
        .current_dir(dir)
        .env("SCRAWL_DATA", dir.join("mnist"))
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let code = out.status.code();
    assert!(
        matches!(code, Some(1) | Some(2)),
        "scrawl {args:?} should exit with 1 or 2, got {code:?}: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace") && !err.contains("RUST_BACKTRACE"),
        "scrawl {args:?} panicked: {err}"
    );
    assert!(err.starts_with("error:"), "scrawl {args:?}: {err}");
    for w in want {
        assert!(err.contains(w), "scrawl {args:?}: expected '{w}' in: {err}");
    }
    // One message, not the same cause printed twice.
    let first = err.lines().next().unwrap_or("");
    if let Some(tail) = first.rsplit(": ").next().filter(|t| t.len() > 12) {
        assert_eq!(first.matches(tail).count(), 1, "said twice: {first}");
    }
    err
}

/// A folder `mnist/` of small IDX files (20 train, 10 test images) that the commands
/// find through `$SCRAWL_DATA`, so no case reads the real MNIST.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_idx_set(&dir.path().join("mnist"), |_, b| b);
    dir
}

/// Writes the four IDX files into `dir`, each passed through `edit(name, bytes)`.
fn write_idx_set(dir: &Path, edit: impl Fn(&str, Vec<u8>) -> Vec<u8>) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, n) in [("train", 20usize), ("t10k", 10)] {
        let pixels: Vec<u8> = (0..n * 784).map(|i| (i * 7 % 256) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let images = format!("{name}-images-idx3-ubyte");
        let labels_name = format!("{name}-labels-idx1-ubyte");
        let bytes = edit(&images, encode_idx(&[n, 28, 28], &pixels));
        std::fs::write(dir.join(&images), bytes).unwrap();
        let bytes = edit(&labels_name, encode_idx(&[n], &labels));
        std::fs::write(dir.join(&labels_name), bytes).unwrap();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn idx_files() {
    let ws = workspace();
    let d = ws.path();
    let case = |name: &str, file: &str, edit: &dyn Fn(Vec<u8>) -> Vec<u8>, want: &[&str]| {
        let dir = d.join(name);
        write_idx_set(&dir, |n, b| if n == file { edit(b) } else { b });
        fails(d, &["data", "info", "--data", path(&dir)], want);
    };
    let images = "train-images-idx3-ubyte";
    let labels = "train-labels-idx1-ubyte";
    case(
        "magic",
        images,
        &|mut b| {
            b[2] = 9;
            b
        },
        &[
            "magic/train-images-idx3-ubyte",
            "bad magic number",
            "at byte 0",
        ],
    );
    case(
        "truncated",
        images,
        &|b| b[..1000].to_vec(),
        &[
            "truncated/train-images-idx3-ubyte",
            "truncated at byte 1000",
        ],
    );
    case(
        "billions",
        images,
        &|_| encode_idx(&[4_000_000_000, 28, 28], &[]),
        &[
            "billions/train-images-idx3-ubyte",
            "header claims",
            "over the limit",
        ],
    );
    case(
        "zero",
        images,
        &|_| encode_idx(&[20, 0, 28], &[]),
        &[
            "zero/train-images-idx3-ubyte",
            "dimension 1 (byte 8) is zero",
        ],
    );
    case(
        "count",
        labels,
        &|_| encode_idx(&[19], &[1; 19]),
        &["count/train-labels-idx1-ubyte", "19 labels", "20 images"],
    );
    case(
        "label",
        labels,
        &|mut b| {
            b[8 + 3] = 12;
            b
        },
        &[
            "label/train-labels-idx1-ubyte",
            "label 12 at index 3 (byte 11)",
        ],
    );
    // A corrupt gzip stream in place of the images.
    let dir = d.join("gz");
    write_idx_set(&dir, |_, b| b);
    std::fs::remove_file(dir.join(images)).unwrap();
    std::fs::write(dir.join(format!("{images}.gz")), b"\x1f\x8b\x08\0garbage").unwrap();
    fails(
        d,
        &["data", "info", "--data", path(&dir)],
        &["gz/train-images-idx3-ubyte.gz", "corrupt gzip stream"],
    );
    // A folder without the files, and a data set name that is a path.
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    fails(
        d,
        &["data", "info", "--data", path(&empty)],
        &["empty", "does not hold the four MNIST files"],
    );
    fails(
        d,
        &["data", "info", "--dataset", "../etc"],
        &["--dataset '../etc'", "not a data set name"],
    );
}

#[test]
fn csv_files() {
    let ws = workspace();
    let d = ws.path();
    let header = format!(
        "label,{}",
        (0..784)
            .map(|i| format!("pixel{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let row = |label: &str, pixels: &[&str]| {
        let mut cells = vec![label.to_string()];
        cells.extend((0..784).map(|i| pixels.get(i).unwrap_or(&"0").to_string()));
        cells.join(",")
    };
    let good = row("3", &[]);
    let mut at_100 = vec!["0"; 101];
    let mut cases: Vec<(&str, String, Vec<&str>)> = Vec::new();
    cases.push((
        "label.csv",
        format!("{header}\n{good}\n{}\n", row("11", &[])),
        vec![
            "label.csv",
            "line 3",
            "column 1 (label)",
            "'11' is not a label 0-9",
        ],
    ));
    cases.push((
        "short.csv",
        format!("{header}\n{good}\n4,0,0,0\n"),
        vec!["short.csv", "line 3", "4 columns, expected 785"],
    ));
    at_100[100] = "abc";
    cases.push((
        "word.csv",
        format!("{header}\n{good}\n{}\n", row("5", &at_100)),
        vec![
            "word.csv",
            "line 3",
            "column 102 (pixel 100)",
            "'abc' is not a whole number",
        ],
    ));
    at_100[100] = "300";
    cases.push((
        "range.csv",
        format!("{header}\n{}\n", row("5", &at_100)),
        vec![
            "range.csv",
            "line 2",
            "column 102 (pixel 100)",
            "300 is outside 0-255",
        ],
    ));
    cases.push((
        "empty.csv",
        String::new(),
        vec!["empty.csv", "the file is empty"],
    ));
    cases.push((
        "header.csv",
        format!("{header}\n"),
        vec!["header.csv", "a header but no data rows"],
    ));
    cases.push((
        "endless.csv",
        format!("{header}\n{}", "0,".repeat(600_000)),
        vec!["endless.csv", "line 2 is longer than"],
    ));
    for (name, text, want) in &cases {
        std::fs::write(d.join(name), text).unwrap();
        fails(d, &["data", "info", "--train", name, "--test", name], want);
    }
    // The same checks on the Kaggle test.csv read for a submission.
    let model = d.join("m.safetensors");
    Sequential::new(scrawl::presets::preset("mlp:4").unwrap(), 1)
        .unwrap()
        .save(&model)
        .unwrap();
    fails(
        d,
        &["predict", "--model", "m.safetensors", "--csv", "short.csv"],
        &["short.csv", "line 3", "4 columns"],
    );
    fails(
        d,
        &[
            "predict",
            "--model",
            "m.safetensors",
            "--csv",
            "missing.csv",
        ],
        &["missing.csv", "No such file"],
    );
}

/// A file name and its contents.
type NamedBytes<'a> = (&'a str, &'a [u8]);

/// A PNG whose header claims `w` x `h` pixels and whose image data is empty.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        png.extend((data.len() as u32).to_be_bytes());
        png.extend(kind);
        png.extend(data);
        png.extend(crc.sum().to_be_bytes());
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    // The zlib stream of zero bytes.
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    png
}

#[test]
fn images_and_png_folders() {
    let ws = workspace();
    let d = ws.path();
    let model = d.join("m.safetensors");
    Sequential::new(scrawl::presets::preset("mlp:4").unwrap(), 1)
        .unwrap()
        .save(&model)
        .unwrap();
    let png = |rows: usize, cols: usize| {
        scrawl::data::png::encode_gray_png(&vec![0u8; rows * cols], rows, cols).unwrap()
    };
    let good = png(28, 28);
    let files: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "huge.png",
            png_header_only(100_000, 100_000),
            vec!["huge.png", "100000x100000", "outside the 1-8192 pixels"],
        ),
        (
            "cut.png",
            good[..good.len() - 20].to_vec(),
            vec!["cut.png", "not a readable image"],
        ),
        (
            "text.png",
            b"hello, not an image".to_vec(),
            vec!["text.png", "not a PNG, JPEG or BMP image"],
        ),
        (
            "big.png",
            [b"\x89PNG\r\n\x1a\n".as_slice(), &vec![0u8; 33 << 20]].concat(),
            vec!["big.png", "larger than the 32 MiB"],
        ),
    ];
    for (name, bytes, want) in &files {
        std::fs::write(d.join(name), bytes).unwrap();
        fails(d, &["predict", "--model", "m.safetensors", name], want);
    }
    fails(
        d,
        &["predict", "--model", "m.safetensors", "nowhere.png"],
        &["nowhere.png", "No such file"],
    );

    // PNG folders for --train / --test.
    let small = png(20, 20);
    let folders: Vec<(&str, Vec<NamedBytes>, Vec<&str>)> = vec![
        (
            "classes",
            vec![("seven/00001.png", &good)],
            vec!["classes/seven", "a class folder must be named by its label"],
        ),
        (
            "names",
            vec![("00001.png", &good)],
            vec!["names/00001.png", "must end in _LABEL.png"],
        ),
        (
            "none",
            vec![("readme.txt", b"x")],
            vec!["none", "no .png images here"],
        ),
        (
            "sizes",
            vec![("00001_3.png", &good), ("00002_4.png", &small)],
            vec![
                "sizes/00002_4.png",
                "is 20x20 pixels but the images before it are 28x28",
            ],
        ),
        (
            "garbage",
            vec![("00001_3.png", b"garbage")],
            vec!["garbage/00001_3.png", "not a readable image"],
        ),
    ];
    for (name, files, want) in &folders {
        for (f, bytes) in files {
            let p = d.join(name).join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        fails(d, &["data", "info", "--train", name, "--test", name], want);
    }
}

/// A pickle (protocol 2) that calls `posix.system("ls")` when Python loads it.
const EVIL_PICKLE: &[u8] = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";

#[test]
fn pickles_and_npz_archives() {
    let ws = workspace();
    let d = ws.path();
    let book = std::fs::read(common_shared().join("data/dlfs/sample_weight.pkl")).unwrap();
    let pickles: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "evil.pkl",
            EVIL_PICKLE.to_vec(),
            vec!["evil.pkl", "posix.system (byte 30)", "never runs code"],
        ),
        (
            "list.pkl",
            b"\x80\x02]q\x00(K\x01K\x02e.".to_vec(),
            vec!["list.pkl", "expected a dict of arrays W1 b1 W2 b2"],
        ),
        (
            "cut.pkl",
            book[..5000].to_vec(),
            vec!["cut.pkl", "truncated", "the file ends at 5000"],
        ),
        (
            "deep.pkl",
            [
                b"\x80\x02".as_slice(),
                &b"]".repeat(1000),
                &b"a".repeat(999),
                b".",
            ]
            .concat(),
            vec!["deep.pkl", "nested more than 100 deep at byte 1102"],
        ),
        ("text.pkl", b"W1,W2\n".to_vec(), vec!["text.pkl", "byte 0"]),
    ];
    for (name, bytes, want) in &pickles {
        std::fs::write(d.join(name), bytes).unwrap();
        fails(d, &["import", "dlfs", name, "--out", "x.safetensors"], want);
        assert!(!d.join("x.safetensors").exists(), "{name} wrote a model");
    }

    // An archive from a 4-unit MLP does not fit an 8-unit one.
    let four = Sequential::new(scrawl::presets::preset("mlp:4").unwrap(), 1).unwrap();
    scrawl::interop::npz::export_npz(&four, &d.join("four.npz")).unwrap();
    fails(
        d,
        &[
            "import",
            "npz",
            "--model",
            "mlp:8",
            "four.npz",
            "--out",
            "x.safetensors",
        ],
        &[
            "four.npz",
            "dense/kernel has shape [784, 4] but the model needs [784, 8]",
        ],
    );
    std::fs::write(d.join("junk.npz"), b"PK\x03\x04 garbage").unwrap();
    fails(
        d,
        &[
            "import",
            "npz",
            "--model",
            "mlp:4",
            "junk.npz",
            "--out",
            "x.safetensors",
        ],
        &["junk.npz", "not a .npz (zip) archive"],
    );
    assert!(!d.join("x.safetensors").exists());
}

/// The shared folder beside the repository (MNIST, the book's weights).
fn common_shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// Rewrites the JSON header of a safetensors file with `edit`, keeping the data.
fn edit_header(bytes: &[u8], edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let text = serde_json::to_vec(&header).unwrap();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(&bytes[8 + n..]);
    out
}

#[test]
fn model_files() {
    let ws = workspace();
    let d = ws.path();
    let model = d.join("m.safetensors");
    Sequential::new(scrawl::presets::preset("mlp:4").unwrap(), 1)
        .unwrap()
        .save(&model)
        .unwrap();
    let good = std::fs::read(&model).unwrap();
    let set_config = |f: &dyn Fn(&mut serde_json::Value)| {
        edit_header(&good, |h| {
            let text = h["__metadata__"]["config"].as_str().unwrap().to_string();
            let mut c: serde_json::Value = serde_json::from_str(&text).unwrap();
            f(&mut c);
            h["__metadata__"]["config"] = c.to_string().into();
        })
    };
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "cut.safetensors",
            good[..good.len() / 2].to_vec(),
            vec!["cut.safetensors", "not a valid safetensors file"],
        ),
        (
            "shape.safetensors",
            edit_header(&good, |h| {
                h["dense/kernel"]["shape"] = serde_json::json!([784, 3])
            }),
            vec![
                "shape.safetensors",
                "tensor dense/kernel",
                "F32 of shape [784, 3] needs 9408 bytes",
            ],
        ),
        (
            "dtype.safetensors",
            edit_header(&good, |h| h["dense/kernel"]["dtype"] = "F64".into()),
            vec!["dtype.safetensors", "tensor dense/kernel", "F64"],
        ),
        (
            "foreign.safetensors",
            edit_header(&good, |h| {
                h.as_object_mut().unwrap().remove("__metadata__");
            }),
            vec!["foreign.safetensors", "not a scrawl model"],
        ),
        (
            "config.safetensors",
            edit_header(&good, |h| h["__metadata__"]["config"] = "{not json".into()),
            vec![
                "config.safetensors",
                "the architecture in the metadata is not valid",
                "line 1 column 2",
            ],
        ),
        (
            "absurd.safetensors",
            set_config(&|c| c["layers"][0]["units"] = (1u64 << 30).into()),
            vec![
                "absurd.safetensors",
                "layer dense (Dense)",
                "more than the limit",
            ],
        ),
        (
            "wide.safetensors",
            set_config(&|c| c["layers"][0]["units"] = 5.into()),
            vec!["wide.safetensors", "dense/kernel"],
        ),
    ];
    for (name, bytes, want) in &cases {
        std::fs::write(d.join(name), bytes).unwrap();
        fails(d, &["evaluate", "--model", name], want);
        fails(d, &["summary", "--model", name], want);
    }
    fails(
        d,
        &["evaluate", "--model", "mlp-512"],
        &["mlp-512", "preset name, not a model file"],
    );
    // A model that does not fit the data, and one that cannot be exported.
    let cnn = d.join("cnn.safetensors");
    Sequential::new(scrawl::presets::preset("convnet").unwrap(), 1)
        .unwrap()
        .save(&cnn)
        .unwrap();
    fails(
        d,
        &["ensemble", "m.safetensors", "cnn.safetensors"],
        &[
            "cnn.safetensors",
            "[28, 28, 1]",
            "m.safetensors",
            "[784]",
            "must agree",
        ],
    );
    fails(
        d,
        &[
            "export",
            "--model",
            "m.safetensors",
            "--format",
            "tflite",
            "--out",
            "m.tflite",
        ],
        &["--format", "'tflite'"],
    );
    fails(
        d,
        &[
            "export",
            "--model",
            "m.safetensors",
            "--format",
            "onnx",
            "--out",
            "no/dir/m.onnx",
        ],
        &["no/dir/m.onnx", "no/dir does not exist"],
    );
}

#[test]
fn model_configs_and_stacks() {
    let ws = workspace();
    let d = ws.path();
    let dense = |units: i64, act: &str| serde_json::json!({"type": "Dense", "units": units, "activation": act});
    let flat = serde_json::json!([784]);
    let image = serde_json::json!([28, 28, 1]);
    let config = |input: &serde_json::Value, layers: Vec<serde_json::Value>| {
        serde_json::json!({"name": "x", "input_shape": input, "layers": layers}).to_string()
    };
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "syntax.json",
            "{\"name\": \"x\",\n \"input_shape\": [784] \"layers\": []}".into(),
            vec!["syntax.json", "line 2, column"],
        ),
        (
            "class.json",
            config(&flat, vec![serde_json::json!({"type": "Conv3D"})]),
            vec!["class.json", "unknown variant `Conv3D`", "column"],
        ),
        (
            "field.json",
            config(
                &flat,
                vec![serde_json::json!({"type": "Dense", "unitz": 10})],
            ),
            vec!["field.json", "unknown field `unitz`"],
        ),
        (
            "activation.json",
            config(&flat, vec![dense(10, "swish")]),
            vec!["activation.json", "unknown variant `swish`"],
        ),
        (
            "units.json",
            config(&flat, vec![dense(0, "relu"), dense(10, "softmax")]),
            vec![
                "units.json",
                "layer dense (Dense)",
                "units must be at least 1",
            ],
        ),
        (
            "negative.json",
            config(&flat, vec![dense(-3, "relu")]),
            vec!["negative.json", "invalid value", "column"],
        ),
        (
            "big.json",
            config(&flat, vec![dense(100_000, "relu"), dense(10, "softmax")]),
            vec!["big.json", "784 x 100000 weights", "more than the limit"],
        ),
        (
            "window.json",
            config(
                &image,
                vec![
                    serde_json::json!({"type": "Conv2D", "filters": 4, "kernel_size": [30, 30], "padding": "valid"}),
                    serde_json::json!({"type": "Flatten"}),
                    dense(10, "softmax"),
                ],
            ),
            vec![
                "window.json",
                "layer conv2d (Conv2D)",
                "30x30 window does not fit",
            ],
        ),
        (
            "flatten.json",
            config(
                &image,
                vec![
                    serde_json::json!({"type": "Conv2D", "filters": 4, "kernel_size": 3}),
                    dense(10, "softmax"),
                ],
            ),
            vec![
                "flatten.json",
                "layer dense (Dense) needs a flat input",
                "add a Flatten layer",
            ],
        ),
        (
            "empty.json",
            config(&flat, vec![]),
            vec!["empty.json", "has no layers"],
        ),
        (
            "input.json",
            config(&serde_json::json!([0]), vec![dense(10, "softmax")]),
            vec![
                "input.json",
                "input_shape must be non-empty with no zero axis",
            ],
        ),
    ];
    for (name, text, want) in &cases {
        std::fs::write(d.join(name), text).unwrap();
        fails(d, &["summary", "--model", name], want);
    }
    // A model that scores 7 classes cannot train on 10.
    std::fs::write(
        d.join("seven.json"),
        config(&flat, vec![dense(7, "softmax")]),
    )
    .unwrap();
    fails(
        d,
        &["train", "--model", "seven.json", "--epochs", "1"],
        &["model 'x' scores 7 classes but the data has 10"],
    );
    // Stacks written on the command line.
    for (stack, want) in [
        (
            "Conv2D(4,3) Flatten Dense(10",
            vec!["in model 'Conv2D(4,3) Flatten Dense(10'", "unmatched '('"],
        ),
        (
            "Conv2D(4,3)) Flatten",
            vec!["in model 'Conv2D(4,3)) Flatten'", "unmatched ')'"],
        ),
        (
            "Conv2D(4,x) Flatten Dense(10)",
            vec![
                "layer 1 ('Conv2D(4,x)')",
                "unknown activation or padding 'x'",
            ],
        ),
        (
            "Conv2D(4,kernel_size=x) Flatten Dense(10)",
            vec!["layer 1", "expected a size"],
        ),
        (
            "Dense(128,gelu) Dense(10)",
            vec!["unknown activation or padding 'gelu'", "relu"],
        ),
        (
            "Conv2D(4,3,padding=-1) Flatten Dense(10)",
            vec!["layer 1", "expected a padding"],
        ),
        (
            "Flatten Dense(10,activaton=softmax)",
            vec!["layer 2", "unknown field `activaton`"],
        ),
        ("mlp:12,x", vec!["'x' is not a layer size"]),
        ("mlp-999", vec!["unknown model 'mlp-999'"]),
    ] {
        fails(d, &["summary", "--model", stack], &want);
    }
}

#[test]
fn flags() {
    let ws = workspace();
    let d = ws.path();
    let model = d.join("m.safetensors");
    Sequential::new(scrawl::presets::preset("mlp:4").unwrap(), 1)
        .unwrap()
        .save(&model)
        .unwrap();
    let t = |extra: &[&'static str]| {
        let mut v: Vec<&'static str> = vec!["train", "--model", "mlp:4"];
        v.extend_from_slice(extra);
        v
    };
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (t(&["--epochs", "0"]), vec!["--epochs must be at least 1"]),
        (
            t(&["--epochs", "100000000"]),
            vec!["--epochs 100000000 is not reasonable"],
        ),
        (t(&["--batch-size", "0"]), vec!["--batch-size"]),
        (t(&["--limit", "0"]), vec!["--limit must be at least 1"]),
        (
            t(&["--optimizer", "adagrad"]),
            vec!["unknown optimizer 'adagrad'"],
        ),
        (
            t(&["--lr", "-1"]),
            vec!["learning rate must be a positive number"],
        ),
        (
            t(&["--decay", "-1"]),
            vec!["decay must be 0 or more, got -1"],
        ),
        (
            t(&["--optimizer", "adamw", "--weight-decay", "2"]),
            vec!["weight decay must be in [0, 1), got 2"],
        ),
        (
            t(&["--label-smoothing", "1.5"]),
            vec!["--label-smoothing", "1.5"],
        ),
        (
            t(&["--validation-split", "0"]),
            vec!["--validation-split", "between 0 and 1, got 0"],
        ),
        (
            t(&["--validation-split", "1.5"]),
            vec!["--validation-split", "got 1.5"],
        ),
        (
            t(&["--lr-schedule", "warp:9"]),
            vec!["--lr-schedule 'warp:9' is not a schedule"],
        ),
        (
            t(&["--lr-schedule", "step:0:0.5"]),
            vec!["--lr-schedule step:0:0.5", "positive number"],
        ),
        (
            t(&["--lr-schedule", "one-cycle:-1"]),
            vec!["--lr-schedule one-cycle:-1", "peak rate"],
        ),
        (
            t(&["--early-stopping", "0"]),
            vec!["patience must be at least 1"],
        ),
        (
            t(&["--reduce-lr-on-plateau", "0"]),
            vec!["patience must be at least 1"],
        ),
        (
            t(&["--early-stopping", "3", "--min-delta", "-1"]),
            vec!["--min-delta", "got -1"],
        ),
        (t(&["--monitor", "val_f1"]), vec!["cannot monitor 'val_f1'"]),
        (
            t(&[
                "--validation-split",
                "0.5",
                "--mode",
                "up",
                "--early-stopping",
                "2",
            ]),
            vec!["mode must be min, max or auto, not 'up'"],
        ),
        (
            t(&["--checkpoint", "sometimes"]),
            vec!["--checkpoint must be"],
        ),
        (
            t(&["--augment", "--rotation-range", "400"]),
            vec!["between 0 and", "got 400"],
        ),
        (
            t(&["--augment", "--elastic", "10", "--elastic-sigma", "50"]),
            vec!["elastic sigma", "got 50"],
        ),
        (t(&["--elastic", "10"]), vec!["--augment"]),
        (
            t(&["--augment", "--clean-epochs", "5", "--epochs", "3"]),
            vec!["5 clean epochs of 3 leave none augmented"],
        ),
        (
            t(&["--augment", "--clean-epochs", "-1"]),
            vec!["--clean-epochs", "-1"],
        ),
        (
            vec!["train", "--resume", "nowhere"],
            vec!["nowhere", "not a run folder"],
        ),
        (vec!["predict", "--threads", "0"], vec!["--threads"]),
        (
            vec!["sweep", "--hidden", "0,10"],
            vec!["--hidden sizes must be at least 1"],
        ),
        (vec!["sweep", "--hidden", "10,x"], vec!["hidden", "'x'"]),
        (
            vec!["sweep", "--hidden", "10", "--lr=-1"],
            vec!["--lr", "got -1"],
        ),
        (
            vec!["sweep", "--hidden", "10", "--batch-size", "0"],
            vec!["--batch-size"],
        ),
        (
            vec!["sweep", "--hidden", "10", "--test-size", "1"],
            vec!["--test-size", "got 1"],
        ),
        (
            vec!["sweep", "--hidden", "10", "--out", "x.xlsx"],
            vec!["--out must end in .csv or .md"],
        ),
        (
            vec!["data", "show", "--index", "99999"],
            vec!["--index 99999 is out of range", "20 images"],
        ),
        (
            vec!["data", "grid", "--out", "x.gif"],
            vec!["x.gif", ".png or .svg"],
        ),
        (
            vec!["predict", "--model", "m.safetensors", "--index", "10"],
            vec!["--index 10 is out of range"],
        ),
        (
            vec![
                "predict",
                "--model",
                "m.safetensors",
                "--split",
                "valid",
                "--index",
                "1",
            ],
            vec!["--split", "'valid'"],
        ),
        (
            vec!["ensemble", "m.safetensors"],
            vec!["at least two models"],
        ),
        (
            vec!["serve", "--model", "m.safetensors", "--addr", "nonsense"],
            vec!["nonsense", "invalid socket address"],
        ),
        (
            vec!["serve", "--model", "m.safetensors", "--threads", "0"],
            vec!["--threads", "give 1 to 256"],
        ),
        (
            vec!["serve", "--model", "m.safetensors", "--header-timeout", "0"],
            vec!["--header-timeout", "more than 0"],
        ),
        (
            vec![
                "serve",
                "--model",
                "m.safetensors",
                "--request-timeout",
                "1e9",
            ],
            vec!["--request-timeout", "86400"],
        ),
        (
            vec!["bench", "--model", "mlp:4", "--repeats", "0"],
            vec!["--repeats"],
        ),
        (
            vec!["bench", "--model", "nope"],
            vec!["unknown model 'nope'"],
        ),
        (vec!["plot", "--out", "x.png"], vec!["RUN"]),
    ];
    for (args, want) in &cases {
        fails(d, args, want);
    }
}

#[test]
fn run_folders() {
    let ws = workspace();
    let d = ws.path();
    let out = Command::new(env!("CARGO_BIN_EXE_scrawl"))
        .args(["train", "--model", "mlp:4", "--epochs", "1", "--out", "run"])
        .current_dir(d)
        .env("SCRAWL_DATA", d.join("mnist"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = d.join("run");
    let copy = |name: &str| {
        let to = d.join(name);
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(&run).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
        to
    };
    let cut = copy("cut");
    let ck = std::fs::read(cut.join("checkpoint.safetensors")).unwrap();
    std::fs::write(cut.join("checkpoint.safetensors"), &ck[..100]).unwrap();
    fails(
        d,
        &["train", "--resume", "cut"],
        &["cut/checkpoint.safetensors", "not a valid safetensors file"],
    );
    let config = copy("config");
    std::fs::write(config.join("config.json"), "{bad").unwrap();
    fails(
        d,
        &["train", "--resume", "config"],
        &["config/config.json", "not valid JSON", "line 1 column 2"],
    );
    // A spec whose numbers no run could have, and an absurd extension.
    let zero = copy("zero");
    let text = std::fs::read_to_string(zero.join("config.json")).unwrap();
    let text = text.replacen("\"batch_size\": 32", "\"batch_size\": 0", 1);
    assert!(text.contains("\"batch_size\": 0"), "{text}");
    std::fs::write(zero.join("config.json"), text).unwrap();
    fails(
        d,
        &["train", "--resume", "zero"],
        &["zero/config.json", "batch size must be at least 1"],
    );
    fails(
        d,
        &["train", "--resume", "run", "--epochs", "99999999999"],
        &["--epochs 99999999999 is not reasonable"],
    );
    let model = copy("model");
    std::fs::copy(
        run.join("model.safetensors"),
        model.join("checkpoint.safetensors"),
    )
    .unwrap();
    fails(
        d,
        &["train", "--resume", "model"],
        &[
            "model/checkpoint.safetensors",
            "not a scrawl training checkpoint",
        ],
    );
    let history = copy("history");
    std::fs::remove_file(history.join("history.json")).unwrap();
    std::fs::write(
        history.join("history.csv"),
        "epoch,loss,accuracy\n1,0.5,zz\n",
    )
    .unwrap();
    fails(
        d,
        &["plot", "history", "--out", "h.png"],
        &["history/history.csv", "line 2", "not a history row"],
    );
    // None of the failures above touched what the first run saved.
    Sequential::load(&run.join("model.safetensors")).unwrap();
    scrawl::train::load_checkpoint(&run.join("checkpoint.safetensors")).unwrap();
}
