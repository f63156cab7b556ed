//! No silent wrong answer, no lost work, no crash (issue 24): each case as a user or an
//! attacker meets it, through the real binary. A failing case must exit non-zero within
//! a few seconds with one `error:` line that names the file or flag, and never panic,
//! abort or hang.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use scrawl::data::idx::encode_idx;
use scrawl::model::{ModelConfig, Sequential};

/// Runs `scrawl args` in `dir` (optionally under `ulimit -v KIB`), killing it after
/// `limit`; returns its output and how long it took.
fn run_in(
    dir: &Path,
    args: &[&str],
    ulimit_kib: Option<u64>,
    limit: Duration,
) -> (Output, Duration) {
    let bin = env!("CARGO_BIN_EXE_scrawl");
    let mut cmd = match ulimit_kib {
        Some(kib) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
                .arg(bin)
                .args(args);
            c
        }
        None => {
            let mut c = Command::new(bin);
            c.args(args);
            c
        }
    };
    // Output goes to files, not pipes: a pipe nobody reads while waiting would block
    // a talkative child and look like a hang.
    let logs = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (logs.path().join("out"), logs.path().join("err"));
    let start = Instant::now();
    let mut child = cmd
        .current_dir(dir)
        .env("SCRAWL_DATA", dir.join("mnist"))
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "scrawl {args:?} did not finish within {limit:?}: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let output = Output {
        status,
        stdout: std::fs::read(&out_path).unwrap(),
        stderr: std::fs::read(&err_path).unwrap(),
    };
    (output, elapsed)
}

/// Checks that `scrawl args` failed cleanly within 5 s: exit 1 or 2, a message that
/// starts with `error:` and holds every one of `want`, no panic, no backtrace, and a
/// first line of reasonable length. Returns the message.
fn fails_under(dir: &Path, args: &[&str], want: &[&str], ulimit_kib: Option<u64>) -> String {
    let (out, _) = run_in(dir, args, ulimit_kib, Duration::from_secs(5));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let code = out.status.code();
    assert!(
        matches!(code, Some(1) | Some(2)),
        "scrawl {args:?} should exit with 1 or 2, got {:?}: {err}",
        out.status
    );
    assert!(
        !err.contains("panicked")
            && !err.contains("backtrace")
            && !err.contains("memory allocation"),
        "scrawl {args:?} crashed: {err}"
    );
    assert!(err.starts_with("error:"), "scrawl {args:?}: {err}");
    let first = err.lines().next().unwrap_or("");
    assert!(
        first.len() < 2000,
        "scrawl {args:?}: a {}-byte error line",
        first.len()
    );
    for w in want {
        assert!(err.contains(w), "scrawl {args:?}: expected '{w}' in: {err}");
    }
    err
}

/// [`fails_under`] with the address space capped at 2 GB (`ulimit -v 2000000`), as
/// the issue's crash cases must hold under.
fn fails(dir: &Path, args: &[&str], want: &[&str]) -> String {
    fails_under(dir, args, want, Some(2_000_000))
}

/// Runs `scrawl args` and requires success; returns stdout and stderr.
fn succeeds(dir: &Path, args: &[&str]) -> (String, String) {
    let (out, _) = run_in(dir, args, None, Duration::from_secs(300));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "scrawl {args:?} failed: {stderr}{stdout}"
    );
    (stdout, stderr)
}

/// IDX files of `n_train` and `n_test` images into `dir`; labels from `label(i)`.
fn write_idx(dir: &Path, n_train: usize, n_test: usize, label: impl Fn(usize) -> u8) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, n) in [("train", n_train), ("t10k", n_test)] {
        let pixels: Vec<u8> = (0..n * 784).map(|i| (i * 7 % 256) as u8).collect();
        let labels: Vec<u8> = (0..n).map(&label).collect();
        std::fs::write(
            dir.join(format!("{name}-images-idx3-ubyte")),
            encode_idx(&[n, 28, 28], &pixels),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{name}-labels-idx1-ubyte")),
            encode_idx(&[n], &labels),
        )
        .unwrap();
    }
}

/// A folder with `mnist/` (20 train, 10 test images), found through $SCRAWL_DATA.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_idx(&dir.path().join("mnist"), 20, 10, |i| (i % 10) as u8);
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A model file of `layers` (a one-line stack) with freshly initialised weights.
fn model_file(
    dir: &Path,
    name: &str,
    input: &[usize],
    layers: &[scrawl::layers::LayerConfig],
) -> PathBuf {
    let mut config = ModelConfig::new(name, input);
    for l in layers {
        config.add(l.clone());
    }
    let path = dir.join(format!("{name}.safetensors"));
    Sequential::new(config, 1).unwrap().save(&path).unwrap();
    path
}

/// `m.safetensors`: one Dense(10, softmax) layer on flat 28×28 images.
fn softmax_model(dir: &Path) -> PathBuf {
    model_file(
        dir,
        "m",
        &[784],
        &[scrawl::layers::LayerConfig::dense(
            10,
            scrawl::activations::Activation::Softmax,
        )],
    )
}

// ---------------------------------------------------------------- wrong answers

/// A last layer without activation is trained as logits: the same network as one
/// ending in softmax, with the same weights, gives the same probabilities, loss and
/// gradients (the softmax is then taken inside the loss).
#[test]
fn logits_models_train_as_their_softmax_twins() {
    use scrawl::activations::Activation::{Linear, Relu, Softmax};
    use scrawl::layers::LayerConfig;
    let data = common::random_dataset(40, [28, 28, 1], 10, 3);
    let build = |last| {
        let mut c = ModelConfig::new("m", &[28, 28, 1]);
        c.add(LayerConfig::Flatten);
        c.add(LayerConfig::dense(16, Relu));
        c.add(LayerConfig::dense(10, last));
        let mut m = Sequential::new(c, 7).unwrap();
        m.compile(&scrawl::optim::OptimizerConfig::adam(), Default::default())
            .unwrap();
        m
    };
    let (mut logits, mut softmax) = (build(Linear), build(Softmax));
    assert_eq!(logits.output_kind(), scrawl::model::Output::Logits);
    let idx: Vec<usize> = (0..40).collect();
    let (a, b) = (
        logits.compute_gradients(&data, &idx, false),
        softmax.compute_gradients(&data, &idx, false),
    );
    assert_eq!(a, b, "losses differ");
    for ((n, p), (_, q)) in logits.named_params().iter().zip(softmax.named_params()) {
        assert_eq!(p.grad, q.grad, "gradient of {n} differs");
    }
    let (pa, pb) = (
        logits.predict(&data, 8).unwrap(),
        softmax.predict(&data, 8).unwrap(),
    );
    assert_eq!(pa, pb);
    for row in pa.chunks(10) {
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5 && row.iter().all(|&p| p >= 0.0));
    }
    // And through ONNX: the export ends in a softmax too.
    let onnx = scrawl::interop::onnx::to_onnx(&logits).unwrap();
    let last = onnx
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .rev()
        .nth(1)
        .unwrap();
    assert_eq!(last.op_type, "Softmax");
}

/// On real digits, `Dense(128,relu) Dense(10)` learns, and no printed loss reads 0.
#[test]
fn logits_model_learns_real_digits() {
    let ws = workspace();
    let data = common::mnist_dir();
    let (out, _) = succeeds(
        ws.path(),
        &[
            "train",
            "--model",
            "Dense(64,relu) Dense(10)",
            "--epochs",
            "1",
            "--limit",
            "3000",
            "--batch-size",
            "50",
            "--optimizer",
            "adam",
            "--data",
            s(&data),
            "--out",
            "run",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let acc = v["test_accuracy"].as_f64().unwrap();
    let loss = v["test_loss"].as_f64().unwrap();
    assert!(acc > 0.8, "a logits model reached only {acc}");
    assert!(loss > 0.05 && loss < 1.0, "test loss {loss}");
    let (out, _) = succeeds(
        ws.path(),
        &[
            "evaluate",
            "--model",
            "run/model.safetensors",
            "--data",
            s(&data),
        ],
    );
    assert!(!out.contains("Test loss: 0.0000"), "{out}");
}

#[test]
fn last_activations_that_are_no_probabilities_are_refused() {
    let ws = workspace();
    for act in ["relu", "tanh", "sigmoid"] {
        let model = format!("Dense(32,relu) Dense(10,{act})");
        fails(
            ws.path(),
            &["train", "--model", &model, "--out", "r"],
            &[act, "softmax", "logits"],
        );
    }
}

#[test]
fn a_model_is_evaluated_on_its_own_data_set() {
    let ws = workspace();
    // Fashion-MNIST here labels every image 3 (Dress); the MNIST folder labels i % 10.
    write_idx(&ws.path().join("data/fashion-mnist"), 20, 10, |_| 3);
    succeeds(
        ws.path(),
        &[
            "train",
            "--dataset",
            "fashion-mnist",
            "--model",
            "mlp:8",
            "--out",
            "f",
            "--quiet",
        ],
    );
    let (out, _) = succeeds(
        ws.path(),
        &["predict", "--model", "f/model.safetensors", "--index", "1"],
    );
    assert!(
        out.contains("label 3 Dress"),
        "scored on the wrong data set: {out}"
    );
    let (_, err) = succeeds(
        ws.path(),
        &[
            "evaluate",
            "--model",
            "f/model.safetensors",
            "--dataset",
            "mnist",
        ],
    );
    assert!(
        err.contains("warning") && err.contains("fashion-mnist"),
        "{err}"
    );
}

#[test]
fn non_finite_weights_are_refused_naming_the_tensor() {
    let ws = workspace();
    let d = ws.path();
    let mut model = Sequential::new(scrawl::presets::preset("mlp:8").unwrap(), 1).unwrap();
    model.for_each_param_mut(|name, p| {
        if name == "dense_1/kernel" {
            p.value[5] = f32::NAN;
        }
    });
    model.save(&d.join("nan.safetensors")).unwrap();
    fails(
        d,
        &["evaluate", "--model", "nan.safetensors"],
        &["nan.safetensors", "dense_1/kernel", "non-finite"],
    );
    scrawl::interop::npz::export_npz(&model, &d.join("nan.npz")).unwrap();
    fails(
        d,
        &[
            "import",
            "npz",
            "nan.npz",
            "--model",
            "mlp:8",
            "--out",
            "x.safetensors",
        ],
        &["nan.npz", "dense_1/kernel", "non-finite"],
    );
    assert!(!d.join("x.safetensors").exists());
}

#[test]
fn empty_test_and_validation_sets_are_refused() {
    let ws = workspace();
    write_idx(&ws.path().join("empty"), 20, 0, |i| (i % 10) as u8);
    fails(
        ws.path(),
        &["train", "--data", "empty", "--out", "r"],
        &["test set", "no images"],
    );
    fails(
        ws.path(),
        &[
            "evaluate",
            "--model",
            s(&model_file(
                ws.path(),
                "m",
                &[784],
                &[scrawl::layers::LayerConfig::dense(
                    10,
                    scrawl::activations::Activation::Softmax,
                )],
            )),
            "--data",
            "empty",
        ],
        &["no images"],
    );
}

#[test]
fn float_flags_must_be_finite_and_negative_values_are_values() {
    let ws = workspace();
    let d = ws.path();
    for (flag, value) in [
        ("--lr", "NaN"),
        ("--lr", "inf"),
        ("--label-smoothing", "nan"),
        ("--validation-split", "NaN"),
        ("--min-delta", "-inf"),
        ("--momentum", "1e999"),
    ] {
        fails(d, &["train", flag, value, "--out", "r"], &[flag, "finite"]);
    }
    fails(
        d,
        &[
            "train",
            "--reduce-lr-on-plateau",
            "2",
            "--min-lr",
            "NaN",
            "--out",
            "r",
        ],
        &["--min-lr", "finite"],
    );
    fails(
        d,
        &[
            "train",
            "--reduce-lr-on-plateau",
            "2",
            "--min-lr",
            "-1",
            "--out",
            "r",
        ],
        &["--min-lr must be at least 0, got -1"],
    );
}

#[test]
fn numbers_no_exporter_writes_are_refused() {
    let ws = workspace();
    let d = ws.path();
    let row = |label: &str, pixel: &str| {
        let mut cells = vec![label.to_string()];
        cells.extend((0..784).map(|i| {
            if i == 5 {
                pixel.to_string()
            } else {
                "0".into()
            }
        }));
        cells.join(",")
    };
    for (label, pixel, col) in [
        ("1e0", "0", "column 1"),
        ("+1", "0", "column 1"),
        ("1", "1e2", "column 7"),
        ("1", "+12", "column 7"),
        ("1", "9e0", "column 7"),
        ("1", "0x1", "column 7"),
    ] {
        let text = format!("{}\n{}\n", row("3", "0"), row(label, pixel));
        std::fs::write(d.join("bad.csv"), text).unwrap();
        fails(
            d,
            &["data", "info", "--train", "bad.csv"],
            &["bad.csv", "line 2", col],
        );
    }
    // 7.0 (pandas's float columns) is still read.
    std::fs::write(d.join("ok.csv"), format!("{}\n", row("7.0", "12.00"))).unwrap();
    succeeds(d, &["data", "info", "--train", "ok.csv"]);

    // Trailing bytes after an .npy array's data.
    let mut npy = scrawl::interop::npz::npy_bytes(&[2], &[1.0, 2.0]);
    npy.extend_from_slice(&[0, 0, 0]);
    let e = scrawl::interop::npz::parse_npy(&npy).unwrap_err();
    assert!(e.contains("3 unexpected bytes"), "{e}");
}

/// Rewrites the checkpoint at `path` with its training state passed through `edit`.
fn tamper_checkpoint(
    path: &Path,
    edit: impl Fn(&mut serde_json::Value, &mut std::collections::HashMap<String, String>),
) {
    use safetensors::SafeTensors;
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    let mut state: serde_json::Value = serde_json::from_str(&meta["state"]).unwrap();
    edit(&mut state, &mut meta);
    meta.insert("state".into(), state.to_string());
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors.tensors();
    let out = safetensors::serialize(views, Some(meta)).unwrap();
    std::fs::write(path, out).unwrap();
}

#[test]
fn tampered_checkpoints_are_refused() {
    let ws = workspace();
    let d = ws.path();
    let model = "Dense(8,relu) Dropout(0.5) Dense(10,softmax)";
    succeeds(
        d,
        &[
            "train",
            "--model",
            model,
            "--epochs",
            "2",
            "--batch-size",
            "5",
            "--out",
            "run",
            "--quiet",
        ],
    );
    let cp = d.join("run/checkpoint.safetensors");
    let original = std::fs::read(&cp).unwrap();
    type Edit = fn(&mut serde_json::Value, &mut std::collections::HashMap<String, String>);
    let cases: [(Edit, &str); 7] = [
        (
            |s, _| s["epoch"] = serde_json::json!(1_000_000_000_000_000_000u64),
            "epochs are done",
        ),
        (
            |s, _| s["step"] = serde_json::json!(1_000_000_000u64),
            "step",
        ),
        (
            |s, _| s["seen"] = serde_json::json!(u64::MAX),
            "images seen",
        ),
        (|s, _| s["correct"] = serde_json::json!(3), "right answers"),
        (
            |s, _| s["iterations"] = serde_json::json!(2),
            "optimizer took 2 steps",
        ),
        (
            |_, m| {
                m.insert("optimizer_slots".into(), "3".into());
            },
            "optimizer state buffers",
        ),
        (
            |s, _| {
                s["rng_states"] =
                    serde_json::json!([null, "ééééééééééééééééééééééééééééééééé:0:0", null])
            },
            "random-stream",
        ),
    ];
    for (edit, want) in cases {
        std::fs::write(&cp, &original).unwrap();
        tamper_checkpoint(&cp, edit);
        fails(
            d,
            &["train", "--resume", "run"],
            &["checkpoint.safetensors", want],
        );
    }
}

// ---------------------------------------------------------------- lost work

#[test]
fn simultaneous_runs_get_their_own_folders() {
    let ws = workspace();
    let d = ws.path();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_scrawl"))
            .args(["train", "--model", "mlp:8", "--quiet"])
            .current_dir(d)
            .env("SCRAWL_DATA", d.join("mnist"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for c in [a, b] {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let runs: Vec<PathBuf> = std::fs::read_dir(d.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for r in runs {
        assert!(
            r.join("model.safetensors").is_file(),
            "{} lost its model",
            r.display()
        );
    }
}

#[test]
fn a_run_folder_in_use_or_holding_a_run_is_not_written() {
    let ws = workspace();
    let d = ws.path();
    succeeds(d, &["train", "--model", "mlp:8", "--out", "run", "--quiet"]);
    let model = std::fs::read(d.join("run/model.safetensors")).unwrap();
    let e = fails(
        d,
        &["train", "--model", "mlp:16", "--out", "run"],
        &["run already holds a run", "--resume run", "--overwrite"],
    );
    assert!(!e.contains("panicked"));
    assert_eq!(
        std::fs::read(d.join("run/model.safetensors")).unwrap(),
        model,
        "the earlier model was replaced"
    );
    // A live process's lock keeps others out, --overwrite included.
    let lock = scrawl::run::folder::lock(&d.join("run")).unwrap();
    fails(
        d,
        &["train", "--model", "mlp:16", "--out", "run", "--overwrite"],
        &[
            "being written by another scrawl process",
            &std::process::id().to_string(),
        ],
    );
    drop(lock);
    std::fs::write(d.join("run/notes.txt"), "mine").unwrap();
    std::fs::write(
        d.join("run/.model.safetensors.4194303.tmp"),
        "left by a killed process",
    )
    .unwrap();
    succeeds(
        d,
        &[
            "train",
            "--model",
            "mlp:16",
            "--out",
            "run",
            "--overwrite",
            "--quiet",
        ],
    );
    assert_ne!(
        std::fs::read(d.join("run/model.safetensors")).unwrap(),
        model
    );
    assert_eq!(
        std::fs::read_to_string(d.join("run/notes.txt")).unwrap(),
        "mine"
    );
    assert!(
        !d.join("run/.model.safetensors.4194303.tmp").exists(),
        "a dead process's temporary file stays"
    );
}

#[test]
fn png_export_never_deletes_a_users_files() {
    let ws = workspace();
    let d = ws.path();
    std::fs::create_dir_all(d.join("out/train/notes")).unwrap();
    std::fs::write(d.join("out/train/photo.jpg"), "a photo").unwrap();
    std::fs::write(d.join("out/train/notes/a.txt"), "notes").unwrap();
    fails(
        d,
        &["data", "export", "--format", "png-dir", "--out", "out"],
        &["out/train", "--overwrite"],
    );
    succeeds(
        d,
        &[
            "data",
            "export",
            "--format",
            "png-dir",
            "--out",
            "out",
            "--overwrite",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(d.join("out/train/photo.jpg")).unwrap(),
        "a photo"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("out/train/notes/a.txt")).unwrap(),
        "notes"
    );
    assert!(d.join("out/train/00019_9.png").is_file());
    // A smaller export again: its images replace the earlier ones, the user's stay.
    succeeds(
        d,
        &[
            "data",
            "export",
            "--format",
            "png-dir",
            "--out",
            "out",
            "--overwrite",
            "--limit",
            "3",
        ],
    );
    assert!(!d.join("out/train/00019_9.png").exists());
    assert!(d.join("out/train/00002_2.png").is_file());
    assert!(d.join("out/train/photo.jpg").is_file());
    // The CSV exports, likewise, replace nothing without the flag.
    std::fs::create_dir_all(d.join("csv")).unwrap();
    std::fs::write(d.join("csv/train.csv"), "mine").unwrap();
    fails(
        d,
        &["data", "export", "--format", "kaggle", "--out", "csv"],
        &["csv/train.csv", "--overwrite"],
    );
    assert_eq!(
        std::fs::read_to_string(d.join("csv/train.csv")).unwrap(),
        "mine"
    );
}

/// Every command that writes a file the user names (a picture, a chart, a model, a
/// submission, a report) leaves one that is already there alone unless `--overwrite`
/// says to replace it, and says so before doing its work.
#[test]
fn output_files_are_never_replaced_without_overwrite() {
    let ws = workspace();
    let d = ws.path();
    let model = softmax_model(d);
    let model = s(&model);
    succeeds(d, &["train", "--model", "mlp:8", "--out", "run"]);
    succeeds(
        d,
        &[
            "export", "--model", model, "--format", "npz", "--out", "w.npz",
        ],
    );
    let header: Vec<String> = (0..784).map(|i| format!("pixel{i}")).collect();
    let row = vec!["0"; 784].join(",");
    std::fs::write(d.join("test.csv"), format!("{}\n{row}\n", header.join(","))).unwrap();
    std::fs::create_dir_all(d.join("rep")).unwrap();
    std::fs::write(d.join("rep/report.md"), "mine").unwrap();
    let lr_find = |out: &'static str| {
        [
            "lr-find",
            "--model",
            "mlp:8",
            "--batch-size",
            "4",
            "--out",
            out,
        ]
    };
    let commands: [&[&str]; 11] = [
        &["data", "show", "--index", "0", "--out", "p.png"],
        &[
            "data", "grid", "--rows", "1", "--cols", "2", "--out", "p.png",
        ],
        &["data", "plot-labels", "--out", "p.png"],
        &["plot", "run", "--out", "p.png"],
        &lr_find("p.png"),
        &[
            "export", "--model", model, "--format", "onnx", "--out", "p.png",
        ],
        &["import", "npz", "w.npz", "--model", model, "--out", "p.png"],
        &[
            "predict", "--model", model, "--csv", "test.csv", "--out", "p.png",
        ],
        &["evaluate", "--model", model, "--report", "rep"],
        &["import", "onnx", "w.npz", "--out", "p.png"],
        &["import", "keras", "w.npz", "--out", "p.png"],
    ];
    std::fs::write(d.join("p.png"), "mine").unwrap();
    for args in commands {
        let named = if args.contains(&"rep") {
            "rep/report.md"
        } else {
            "p.png"
        };
        fails(d, args, &[named, "already exists", "--overwrite"]);
        assert_eq!(
            std::fs::read_to_string(d.join(named)).unwrap(),
            "mine",
            "{args:?}"
        );
    }
    // A sweep's Markdown table over a user's notes (no sweep table beside them), and
    // a sweep table too large to be one, likewise.
    std::fs::write(d.join("notes.md"), "mine").unwrap();
    fails(
        d,
        &[
            "sweep", "--hidden", "4", "--epochs", "1", "--out", "notes.md",
        ],
        &["notes.md", "already exists", "--overwrite"],
    );
    assert_eq!(std::fs::read_to_string(d.join("notes.md")).unwrap(), "mine");
    std::fs::write(d.join("big.csv"), vec![b'a'; (64 << 20) + 1]).unwrap();
    fails(
        d,
        &[
            "sweep", "--hidden", "4", "--epochs", "1", "--out", "big.csv",
        ],
        &["big.csv", "64 MiB"],
    );
    assert_eq!(
        std::fs::metadata(d.join("big.csv")).unwrap().len(),
        (64 << 20) + 1
    );
    // An output whose folder is missing, or is a file, is refused before the work
    // (lr-find trains, predict --csv predicts), not at the save after it.
    for out in ["nodir/p.png", "p.png/x.png"] {
        fails(
            d,
            &lr_find(out),
            &[
                out,
                if out.starts_with("nodir") {
                    "does not exist"
                } else {
                    "is not a folder"
                },
            ],
        );
    }
    let csv_out = [
        "predict",
        "--model",
        model,
        "--csv",
        "test.csv",
        "--out",
        "nodir/s.csv",
    ];
    fails(d, &csv_out, &["nodir/s.csv", "does not exist"]);
    fails(
        d,
        &["evaluate", "--model", model, "--report", "p.png"],
        &["--report p.png is a file, not a folder"],
    );
    assert!(!d.join("nodir").exists());
    // With the flag, each replaces it.
    for args in [
        &[
            "data",
            "grid",
            "--rows",
            "1",
            "--cols",
            "2",
            "--out",
            "p.png",
            "--overwrite",
        ][..],
        &[
            "evaluate",
            "--model",
            model,
            "--report",
            "rep",
            "--overwrite",
        ],
    ] {
        std::fs::write(d.join("p.png"), "mine").unwrap();
        succeeds(d, args);
        let named = if args.contains(&"rep") {
            "rep/report.md"
        } else {
            "p.png"
        };
        assert_ne!(std::fs::read(d.join(named)).unwrap(), b"mine", "{args:?}");
    }
}

/// A `--checkpoint` path template outside the run folder never writes over files an
/// earlier run left under names it could produce, unless `--overwrite` says so; the
/// refusal comes before any run folder is made.
#[test]
fn checkpoint_templates_never_replace_an_earlier_runs_files() {
    let ws = workspace();
    let d = ws.path();
    let train = |out: &'static str, template: &'static str, overwrite: bool| {
        let mut args = vec!["train", "--model", "mlp:8", "--epochs", "2"];
        args.extend(["--checkpoint", template, "--out", out]);
        if overwrite {
            args.push("--overwrite");
        }
        args
    };
    let template = "model/m-{epoch:02d}-{loss:.4f}.safetensors";
    succeeds(d, &train("r1", template, false));
    let saved = std::fs::read_dir(d.join("model"))
        .unwrap()
        .next()
        .expect("the first run saved a checkpoint")
        .unwrap()
        .path();
    let kept = std::fs::read(&saved).unwrap();
    fails(
        d,
        &train("r2", template, false),
        &["would write over", "model/m-", "--overwrite"],
    );
    assert!(!d.join("r2").exists(), "a refused run left its folder");
    assert_eq!(std::fs::read(&saved).unwrap(), kept);
    // Another template in the same folder is free; --overwrite lets the first one write.
    succeeds(d, &train("r3", "model/n-{epoch}.safetensors", false));
    succeeds(d, &train("r2", template, true));
    assert!(d.join("r2/model.safetensors").is_file());
}

#[test]
fn resume_says_truthfully_why_it_cannot() {
    let ws = workspace();
    let d = ws.path();
    succeeds(
        d,
        &[
            "train",
            "--model",
            "mlp:8",
            "--epochs",
            "1",
            "--checkpoint",
            "best",
            "--out",
            "run",
            "--quiet",
        ],
    );
    std::fs::remove_file(d.join("run/checkpoint.safetensors")).unwrap();
    let e = fails(
        d,
        &["train", "--resume", "run"],
        &[
            "no checkpoint.safetensors",
            "history.csv records 1 finished epoch",
            "best.safetensors",
            "--save-freq",
        ],
    );
    assert!(!e.contains("before its first epoch finished"), "{e}");
}

/// `save_freq` writes the state inside an epoch, and a run resumed from such a
/// mid-epoch state ends with the weights of an uninterrupted run, bit for bit.
#[test]
fn save_freq_checkpoints_resume_bit_identically() {
    use scrawl::callbacks::Callback;
    use scrawl::train::{FitOptions, Verbosity, load_checkpoint};
    let data = common::random_dataset(60, [28, 28, 1], 10, 5);
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("checkpoint.safetensors");
    let kept = dir.path().join("kept.safetensors");
    /// Copies the checkpoint aside when step 5 begins (after the save at step 4).
    struct Keep(PathBuf, PathBuf);
    impl Callback for Keep {
        fn name(&self) -> &'static str {
            "keep"
        }
        fn on_epoch_end(
            &mut self,
            _: &mut Sequential,
            _: &mut scrawl::callbacks::EpochEnd<'_>,
        ) -> scrawl::Result<scrawl::callbacks::Control> {
            Ok(scrawl::callbacks::Control::Continue)
        }
        fn on_batch_begin(&mut self, _: &mut Sequential, step: u64, _: usize) {
            if step == 4 && self.0.exists() {
                std::fs::copy(&self.0, &self.1).unwrap();
            }
        }
    }
    let fresh = || {
        let mut m = Sequential::new(scrawl::presets::preset("mlp:16").unwrap(), 3).unwrap();
        m.compile(&scrawl::optim::OptimizerConfig::adam(), Default::default())
            .unwrap();
        m
    };
    let opts = |cbs: Vec<Box<dyn Callback>>, resume| FitOptions {
        epochs: 2,
        batch_size: 10,
        seed: 9,
        verbose: Verbosity::Silent,
        callbacks: cbs,
        checkpoint: Some(cp.clone()),
        save_freq: Some(2),
        resume,
        ..Default::default()
    };
    let mut whole = fresh();
    whole
        .fit(
            &data,
            opts(vec![Box::new(Keep(cp.clone(), kept.clone()))], None),
        )
        .unwrap();
    let (mut resumed, state) = load_checkpoint(&kept).unwrap();
    assert_eq!(
        (state.epoch, state.step),
        (0, 4),
        "the kept state is not mid-epoch"
    );
    resumed
        .compile(&scrawl::optim::OptimizerConfig::adam(), Default::default())
        .unwrap();
    resumed
        .fit(
            &data,
            opts(
                vec![Box::new(Keep(cp.clone(), dir.path().join("unused")))],
                Some(state),
            ),
        )
        .unwrap();
    for ((n, a), (_, b)) in whole.named_params().iter().zip(resumed.named_params()) {
        assert_eq!(a.value, b.value, "{n} differs after resuming mid-epoch");
    }
}

// ---------------------------------------------------------------- crashes

#[test]
fn endless_streams_and_fifos_are_refused_at_once() {
    let ws = workspace();
    let d = ws.path();
    let model = softmax_model(d);
    fails(
        d,
        &["predict", "--model", s(&model), "/dev/zero"],
        &["/dev/zero", "not a regular file"],
    );
    fails(
        d,
        &["evaluate", "--model", "/dev/zero"],
        &["/dev/zero", "not a regular file"],
    );
    fails(
        d,
        &["import", "dlfs", "/dev/zero", "--out", "x.safetensors"],
        &["/dev/zero", "not a regular file"],
    );
    fails(
        d,
        &[
            "import",
            "npz",
            "/dev/zero",
            "--model",
            "mlp:8",
            "--out",
            "x.safetensors",
        ],
        &["/dev/zero", "not a regular file"],
    );
    let fifo = d.join("pipe.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo failed");
    fails(
        d,
        &["data", "info", "--train", "pipe.csv"],
        &["pipe.csv", "not a regular file"],
    );
    fails(
        d,
        &["train", "--model", "pipe.csv"],
        &["pipe.csv", "not a regular file"],
    );
}

/// A 2 MB gzipped IDX pair that decompresses within each file's limit but not
/// together, and a 3 GB raw file with a wrong magic: refused from their headers.
#[test]
fn idx_bombs_are_refused_from_the_header_in_bounded_memory() {
    use std::io::Write;
    let ws = workspace();
    let d = ws.path();
    let bomb = d.join("bomb");
    std::fs::create_dir_all(&bomb).unwrap();
    let gz = |dims: &[usize], path: &Path| {
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(path).unwrap(),
            flate2::Compression::fast(),
        );
        e.write_all(&encode_idx(dims, &[])).unwrap();
        let zeros = vec![0u8; 1 << 20];
        let mut left: usize = dims.iter().product();
        while left > 0 {
            let n = left.min(zeros.len());
            e.write_all(&zeros[..n]).unwrap();
            left -= n;
        }
        e.finish().unwrap();
    };
    // 400 MB of images, then labels that claim 400 MB more.
    gz(&[510_000, 28, 28], &bomb.join("train-images-idx3-ubyte.gz"));
    std::fs::write(
        bomb.join("train-labels-idx1-ubyte"),
        encode_idx(&[400_000_000], &[]),
    )
    .unwrap();
    for f in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        std::fs::copy(d.join("mnist").join(f), bomb.join(f)).unwrap();
    }
    fails_under(
        d,
        &["data", "info", "--data", "bomb"],
        &["bomb/train-labels-idx1-ubyte", "over the limit"],
        Some(2_000_000),
    );
    // A 3 GB sparse file with a wrong magic is refused from its first bytes.
    let raw = d.join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    for f in [
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        std::fs::copy(d.join("mnist").join(f), raw.join(f)).unwrap();
    }
    let big = std::fs::File::create(raw.join("train-images-idx3-ubyte")).unwrap();
    big.set_len(3 << 30).unwrap();
    fails_under(
        d,
        &["data", "info", "--data", "raw"],
        &["bad magic number"],
        Some(2_000_000),
    );
}

/// What a batch needs is computed from the shapes before allocating.
#[test]
fn batches_that_cannot_fit_are_refused_with_a_batch_that_does() {
    use scrawl::activations::Activation::{Linear, Softmax};
    use scrawl::layers::{LayerConfig, Padding};
    let ws = workspace();
    let d = ws.path();
    write_idx(&d.join("many"), 20, 600, |i| (i % 10) as u8);
    let wide = model_file(
        d,
        "wide",
        &[28, 28, 1],
        &[
            LayerConfig::conv2d(21_000, 3, Padding::Same, Linear),
            LayerConfig::GlobalAveragePooling2D,
            LayerConfig::dense(10, Softmax),
        ],
    );
    let e = fails_under(
        d,
        &["evaluate", "--model", s(&wide), "--data", "many"],
        &["MiB", "--batch-size"],
        Some(2_000_000),
    );
    assert!(e.contains("a batch of 500"), "{e}");
    // 40,000 layers of nothing but activations: 3.8 GB for 32 images.
    let mut config = ModelConfig::new("deep", &[784]);
    for _ in 0..40_000 {
        config.add(LayerConfig::Activation { activation: Linear });
    }
    config.add(LayerConfig::dense(10, Softmax));
    std::fs::write(d.join("deep.json"), serde_json::to_string(&config).unwrap()).unwrap();
    fails_under(
        d,
        &["train", "--model", "deep.json", "--out", "r"],
        &["--batch-size"],
        Some(2_000_000),
    );
}

#[test]
fn absurd_counts_are_refused() {
    let ws = workspace();
    let d = ws.path();
    fails(
        d,
        &[
            "train",
            "--batch-size",
            "18446744073709551615",
            "--out",
            "r",
        ],
        &["--batch-size"],
    );
    fails(
        d,
        &["evaluate", "--model", "x", "--batch-size", "1000000000000"],
        &["--batch-size"],
    );
    fails(d, &["bench", "--repeats", "1000000000000"], &["--repeats"]);
    fails(d, &["bench", "--threads", "5000"], &["--threads"]);
    fails(
        d,
        &["lr-find", "--threads", "18446744073709551615"],
        &["--threads"],
    );
    // A batch larger than the data is the whole data, as in Keras.
    succeeds(
        d,
        &[
            "train",
            "--model",
            "mlp:8",
            "--batch-size",
            "1000000",
            "--out",
            "big",
            "--quiet",
        ],
    );
    for template in ["{epoch:99999999d}", "{val_loss:.100000f}", "{epoch:é}"] {
        fails(
            d,
            &[
                "train",
                "--checkpoint",
                &format!("c/{template}.safetensors"),
                "--out",
                "r",
            ],
            &["--checkpoint"],
        );
    }
    let deep = r#"{"name": "five", "input_shape": [1, 1, 1, 28, 28], "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]}"#;
    std::fs::write(d.join("five.json"), deep).unwrap();
    fails(
        d,
        &["train", "--model", "five.json", "--out", "r"],
        &["five.json", "input_shape", "at most 3 axes"],
    );
}

#[test]
fn error_messages_stay_short_and_say_the_cause() {
    let ws = workspace();
    let d = ws.path();
    // A pickle holding a 5 MB integer.
    let mut pkl = b"\x80\x02}q\x00X\x02\x00\x00\x00W1q\x01I".to_vec();
    pkl.extend(std::iter::repeat_n(b'9', 5 << 20));
    pkl.extend_from_slice(b"\ns.");
    std::fs::write(d.join("big.pkl"), pkl).unwrap();
    let e = fails(
        d,
        &["import", "dlfs", "big.pkl", "--out", "x.safetensors"],
        &["big.pkl"],
    );
    assert!(e.len() < 1000, "a {}-byte message", e.len());
    // An archive of 20,000 arrays, none of them the model's: the names are clipped.
    {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::fs::File::create(d.join("many.npz")).unwrap());
        let npy = scrawl::interop::npz::npy_bytes(&[1], &[0.0]);
        for i in 0..20_000 {
            zip.start_file(
                format!("array_number_{i:06}.npy"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            zip.write_all(&npy).unwrap();
        }
        zip.finish().unwrap();
    }
    let e = fails(
        d,
        &[
            "import",
            "npz",
            "many.npz",
            "--model",
            "mlp:8",
            "--out",
            "x.safetensors",
        ],
        &["many.npz", "no array dense/kernel", "characters in all"],
    );
    assert!(e.len() < 1000, "a {}-byte message", e.len());
    // A data folder that is not a folder says so.
    fails(
        d,
        &["data", "info", "--data", "mnist/train-images-idx3-ubyte/x"],
        &["Not a directory"],
    );
    // --out naming a folder for a file.
    let model = softmax_model(d);
    std::fs::create_dir_all(d.join("outdir")).unwrap();
    fails(
        d,
        &[
            "export",
            "--model",
            s(&model),
            "--format",
            "npz",
            "--out",
            "outdir/",
        ],
        &["outdir", "is a folder"],
    );
}

/// Each parser family, run in a child process under a 1 GiB address-space cap on a
/// hostile input, answers with a clean error (no abort, no out-of-memory kill).
#[test]
fn every_parser_fails_cleanly_under_a_memory_cap() {
    use std::io::Write;
    const CAP_KIB: u64 = 1 << 20;
    let ws = workspace();
    let d = ws.path();
    let model = softmax_model(d);
    let m = s(&model);
    // IDX: a gzipped header claiming 600 million values, over the data set budget.
    let idx = d.join("idx");
    write_idx(&idx, 20, 10, |i| (i % 10) as u8);
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(idx.join("train-images-idx3-ubyte.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    e.write_all(&encode_idx(&[765_000, 28, 28], &[])).unwrap();
    e.write_all(&vec![0u8; 1 << 20]).unwrap();
    e.finish().unwrap();
    std::fs::remove_file(idx.join("train-images-idx3-ubyte")).unwrap();
    fails_under(
        d,
        &["data", "info", "--data", "idx"],
        &["train-images-idx3-ubyte.gz", "over the limit"],
        Some(CAP_KIB),
    );
    // CSV: a 4 MB line with no line break.
    std::fs::write(d.join("line.csv"), vec![b'1'; 4 << 20]).unwrap();
    fails_under(
        d,
        &["data", "info", "--train", "line.csv"],
        &["line.csv", "longer than"],
        Some(CAP_KIB),
    );
    // PNG: a header claiming 100000 x 100000 pixels, as a file and in a folder.
    let png = {
        let mut b = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        b.extend_from_slice(&100_000u32.to_be_bytes());
        b.extend_from_slice(&100_000u32.to_be_bytes());
        b.extend_from_slice(&[8, 0, 0, 0, 0]);
        let crc = crc32(&b[12..]);
        b.extend_from_slice(&crc.to_be_bytes());
        b
    };
    std::fs::write(d.join("huge.png"), &png).unwrap();
    fails_under(
        d,
        &["predict", "--model", m, "huge.png"],
        &["huge.png"],
        Some(CAP_KIB),
    );
    std::fs::create_dir_all(d.join("pngs/3")).unwrap();
    std::fs::write(d.join("pngs/3/a.png"), &png).unwrap();
    fails_under(
        d,
        &["data", "info", "--train", "pngs"],
        &["a.png"],
        Some(CAP_KIB),
    );
    // Pickle: BINBYTES8 claiming 2^40 bytes.
    let mut pkl = b"\x80\x04\x8e".to_vec();
    pkl.extend_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(d.join("claim.pkl"), &pkl).unwrap();
    fails_under(
        d,
        &["import", "dlfs", "claim.pkl", "--out", "x.safetensors"],
        &["claim.pkl"],
        Some(CAP_KIB),
    );
    // npz: an array whose header claims 10^12 values.
    let npy = scrawl::interop::npz::npy_bytes(&[1_000_000, 1_000_000], &[]);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(d.join("claim.npz")).unwrap());
    zip.start_file("dense/kernel.npy", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(&npy).unwrap();
    zip.finish().unwrap();
    fails_under(
        d,
        &[
            "import",
            "npz",
            "claim.npz",
            "--model",
            "mlp:8",
            "--out",
            "x.safetensors",
        ],
        &["claim.npz", "dense/kernel"],
        Some(CAP_KIB),
    );
    // safetensors: a header length of 2^40.
    let mut st = (1u64 << 40).to_le_bytes().to_vec();
    st.extend_from_slice(b"{}");
    std::fs::write(d.join("claim.safetensors"), &st).unwrap();
    fails_under(
        d,
        &["evaluate", "--model", "claim.safetensors"],
        &["claim.safetensors"],
        Some(CAP_KIB),
    );
    // A checkpoint whose header claims 2^40 bytes, in a run folder.
    succeeds(d, &["train", "--model", "mlp:8", "--out", "run", "--quiet"]);
    std::fs::write(d.join("run/checkpoint.safetensors"), &st).unwrap();
    fails_under(
        d,
        &["train", "--resume", "run"],
        &["checkpoint.safetensors"],
        Some(CAP_KIB),
    );
    // A model config whose layers are each within limits but whose batch is not.
    let mut config = ModelConfig::new("deep", &[784]);
    for _ in 0..20_000 {
        config.add(scrawl::layers::LayerConfig::Activation {
            activation: scrawl::activations::Activation::Linear,
        });
    }
    config.add(scrawl::layers::LayerConfig::dense(
        10,
        scrawl::activations::Activation::Softmax,
    ));
    std::fs::write(d.join("deep.json"), serde_json::to_string(&config).unwrap()).unwrap();
    fails_under(
        d,
        &["train", "--model", "deep.json", "--out", "r"],
        &["--batch-size"],
        Some(CAP_KIB),
    );
}

/// CRC-32 (IEEE) for the PNG chunk above.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
