//! The `scrawl` binary end to end: outputs, JSON, and errors that are messages (exit
//! code non-zero, no panic, no backtrace).

use crate::common;

use std::process::{Command, Output};

fn scrawl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scrawl"))
        .args(args)
        .env("SCRAWL_DATA", common::mnist_dir())
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = scrawl(args);
    assert!(
        o.status.success(),
        "scrawl {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let o = scrawl(args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "scrawl {args:?} should fail");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "panic: {err}"
    );
    err
}

#[test]
fn summary_of_the_tutorial_mlp() {
    let s = ok(&["summary", "--model", "mlp-512"]);
    assert!(
        s.contains("401,920") && s.contains("5,130") && s.contains("Total params: 407,050"),
        "{s}"
    );
    let s = ok(&["summary", "--model", "mlp:256,128"]);
    assert!(
        s.contains("(None, 256)") && s.contains("(None, 128)"),
        "{s}"
    );
}

#[test]
fn data_info_and_show() {
    let s = ok(&["data", "info"]);
    assert!(
        s.contains("shape (60000, 28, 28)")
            && s.contains("min 0  max 255")
            && s.contains("1: 6742"),
        "{s}"
    );
    let s = ok(&["data", "show", "--index", "0"]);
    assert!(s.contains("train image 0, label 5"), "{s}");
    assert!(s.contains("253") && s.contains("@@"), "{s}");
    assert!(fails(&["data", "show", "--index", "60000"]).contains("out of range"));
    assert!(fails(&["data", "show", "--index", "1", "--split", "val"]).contains("train or test"));
}

#[test]
fn train_evaluate_predict_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out_s = out.to_str().unwrap();
    let s = ok(&[
        "train",
        "--model",
        "mlp:64",
        "--epochs",
        "2",
        "--batch-size",
        "100",
        "--optimizer",
        "adam",
        "--limit",
        "3000",
        "--out",
        out_s,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(s.trim()).unwrap();
    let acc = v["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.82, "{v}"); // seeds 1-3 and 42 give 0.84-0.87
    assert_eq!(v["epochs"], 2);
    assert!(v["seconds"].as_f64().unwrap() > 0.0 && v["test_loss"].as_f64().unwrap() > 0.0);
    for f in [
        "model.safetensors",
        "history.csv",
        "history.json",
        "config.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3);
    assert!(csv.starts_with("epoch,loss,accuracy,val_loss,val_accuracy"));
    // curves.svg marks the epoch of the lowest val_loss (what the callbacks watch).
    let val_loss = |l: &str| l.split(',').nth(3).unwrap().parse::<f64>().unwrap();
    let best = csv
        .lines()
        .skip(1)
        .min_by(|a, b| val_loss(a).total_cmp(&val_loss(b)))
        .unwrap();
    let epoch = best.split(',').next().unwrap();
    let svg = std::fs::read_to_string(out.join("curves.svg")).unwrap();
    assert!(
        svg.contains(&format!("best val_loss (epoch {epoch})")),
        "epoch {epoch}"
    );

    let model = out.join("model.safetensors");
    let m = model.to_str().unwrap();
    let e: serde_json::Value =
        serde_json::from_str(ok(&["evaluate", "--model", m, "--json"]).trim()).unwrap();
    assert_eq!(
        e["accuracy"].as_f64().unwrap(),
        acc,
        "evaluate agrees with train at full precision"
    );
    assert_eq!(e["split"], "test");
    let t: serde_json::Value =
        serde_json::from_str(ok(&["evaluate", "--model", m, "--json", "--split", "train"]).trim())
            .unwrap();
    assert_eq!(
        (t["split"].as_str(), t["count"].as_u64()),
        (Some("train"), Some(60_000))
    );
    assert_ne!(t["accuracy"], e["accuracy"]);
    assert!(ok(&["evaluate", "--model", m, "--split", "train"]).starts_with("Train loss: "));
    assert!(fails(&["evaluate", "--model", m, "--split", "valid"]).contains("possible values"));
    let p: serde_json::Value =
        serde_json::from_str(ok(&["predict", "--model", m, "--index", "0", "--json"]).trim())
            .unwrap();
    let probs: Vec<f64> = p["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(probs.len(), 10);
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-5);
    assert_eq!(p["label"], 7);
    let text = ok(&["predict", "--model", m, "--index", "0"]);
    assert!(
        text.contains("predicted") && text.contains("(label 7)"),
        "{text}"
    );
    let s = ok(&["summary", "--model", m]);
    assert!(s.contains("(None, 64)"), "{s}");
}

#[test]
fn epoch_lines_look_like_keras() {
    let dir = tempfile::tempdir().unwrap();
    let s = ok(&[
        "train",
        "--model",
        "mlp:32",
        "--epochs",
        "2",
        "--limit",
        "1000",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let line = s.lines().find(|l| l.starts_with("Epoch 2/2")).expect(&s);
    assert!(regex_like(line), "{line}");
    assert!(s.contains("Test loss:"), "{s}");
    let q = ok(&[
        "train",
        "--model",
        "mlp:32",
        "--limit",
        "500",
        "--quiet",
        "--out",
        dir.path().to_str().unwrap(),
        "--overwrite",
    ]);
    assert_eq!(q.lines().count(), 1, "--quiet prints the result only: {q}");
}

/// `Epoch 2/2 - 0.1s - loss: 0.1234 - accuracy: 0.9876 - val_loss: 0.1234 - val_accuracy: 0.9876`
fn regex_like(line: &str) -> bool {
    let parts: Vec<&str> = line.split(" - ").collect();
    parts.len() == 6
        && parts[1].ends_with('s')
        && ["loss: ", "accuracy: ", "val_loss: ", "val_accuracy: "]
            .iter()
            .zip(&parts[2..])
            .all(|(k, p)| {
                p.starts_with(k) && p[k.len()..].len() == 6 && p[k.len()..].parse::<f64>().is_ok()
            })
}

#[test]
fn bad_flags_and_files_are_clear_errors() {
    assert!(fails(&["train", "--model", "mlp-999"]).contains("unknown model 'mlp-999'"));
    assert!(fails(&["train", "--model", "mlp:12,x"]).contains("'x' is not a layer size"));
    assert!(fails(&["train", "--optimizer", "adagrad"]).contains("sgd, adam, adamw or rmsprop"));
    assert!(fails(&["train", "--epochs", "0"]).contains("--epochs must be at least 1"));
    assert!(fails(&["train", "--batch-size", "0"]).contains("--batch-size"));
    assert!(
        fails(&["train", "--lr", "-1", "--limit", "10"])
            .contains("learning rate must be a positive number")
    );
    assert!(fails(&["train", "--optimizer", "adam", "--momentum", "0.9"]).contains("sgd only"));
    assert!(fails(&["train", "--optimizer", "sgd", "--nesterov"]).contains("needs a momentum"));
    assert!(
        fails(&["train", "--validation-split", "1.5", "--limit", "10"]).contains("between 0 and 1")
    );
    assert!(fails(&["evaluate", "--threads", "0"]).contains("--threads"));
    // --threads belongs to the commands that compute; elsewhere it is an unknown flag.
    for quiet in [
        &["summary", "--threads", "2"][..],
        &["presets", "--threads", "2"],
        &["--threads", "2", "train"],
    ] {
        let e = fails(quiet);
        assert!(
            e.contains("unexpected argument '--threads'"),
            "{quiet:?}: {e}"
        );
    }
    let e = fails(&["evaluate", "--model", "/nonexistent/model.safetensors"]);
    assert!(e.contains("/nonexistent/model.safetensors"), "{e}");
    assert!(fails(&["evaluate", "--model", "mlp-512"]).contains("preset name, not a model file"));
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"\x08\0\0\0\0\0\0\0{}garbage").unwrap();
    let e = fails(&["evaluate", "--model", junk.to_str().unwrap()]);
    assert!(e.contains("junk.safetensors"), "{e}");
    let e = fails(&["data", "info", "--data", dir.path().to_str().unwrap()]);
    assert!(e.contains("does not hold the four MNIST files"), "{e}");
}

#[test]
fn model_config_json_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("net.json");
    std::fs::write(&cfg, r#"{"name": "mine", "input_shape": [28, 28, 1], "layers": [
        {"type": "Flatten"}, {"type": "Dense", "units": 32, "activation": "tanh"},
        {"type": "Dropout", "rate": 0.2}, {"type": "Dense", "units": 10, "activation": "softmax"}]}"#).unwrap();
    let s = ok(&["summary", "--model", cfg.to_str().unwrap()]);
    assert!(
        s.contains("Model: \"mine\"")
            && s.contains("flatten (Flatten)")
            && s.contains("dropout (Dropout)"),
        "{s}"
    );
    std::fs::write(&cfg, r#"{"name": "bad", "input_shape": [28, 28, 1], "layers": [{"type": "Dense", "units": 10}]}"#).unwrap();
    assert!(fails(&["summary", "--model", cfg.to_str().unwrap()]).contains("add a Flatten layer"));
    std::fs::write(
        &cfg,
        r#"{"name": "bad", "input_shape": [784], "layers": [{"type": "Dense", "unit": 10}]}"#,
    )
    .unwrap();
    let e = fails(&["summary", "--model", cfg.to_str().unwrap()]);
    assert!(e.contains("net.json") && e.contains("line 1"), "{e}");
}

/// A CNN given on the command line as a one-line stack trains, saves, and evaluates;
/// a bad stack is a message naming the layer.
#[test]
fn train_a_cnn_given_as_a_stack() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let s = ok(&[
        "train",
        "--model",
        "Conv2D(8,3,same,relu) MaxPooling2D Flatten Dense(10,softmax)",
        "--limit",
        "1000",
        "--epochs",
        "1",
        "--batch-size",
        "50",
        "--optimizer",
        "adam",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(s.contains("test accuracy"), "{s}");
    let model = out.join("model.safetensors");
    let e = ok(&["evaluate", "--model", model.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(e.trim()).unwrap();
    assert!(v["accuracy"].as_f64().unwrap() > 0.5, "{e}");
    let s = ok(&["summary", "--model", model.to_str().unwrap()]);
    assert!(
        s.contains("(None, 28, 28, 8)") && s.contains("Total params: 15,770"),
        "{s}"
    );
    let err = fails(&["summary", "--model", "Conv2D(8,3) MaxPool(9,9,9,9)"]);
    assert!(
        err.contains("layer 2") && err.contains("too many positional"),
        "{err}"
    );
    let err = fails(&["summary", "--model", "Conv2D(8,30) Flatten Dense(10)"]);
    assert!(err.contains("does not fit"), "{err}");
}

/// `data export --format kaggle` writes Kaggle's train.csv/test.csv; `predict --csv`
/// turns test.csv into a submission whose labels agree with `predict --index`.
#[test]
fn kaggle_export_and_submission() {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("kaggle");
    let s = ok(&[
        "data",
        "export",
        "--format",
        "kaggle",
        "--limit",
        "200",
        "--out",
        k.to_str().unwrap(),
    ]);
    assert!(
        s.contains("train.csv: 200 images") && s.contains("test.csv: 200 images"),
        "{s}"
    );
    let test = std::fs::read_to_string(k.join("test.csv")).unwrap();
    assert!(test.starts_with("pixel0,pixel1,"));
    // The issue's workflow: train from Kaggle's train.csv with a seeded 80/20 split.
    let run = dir.path().join("run");
    let s = ok(&[
        "train",
        "--train",
        k.join("train.csv").to_str().unwrap(),
        "--validation-split",
        "0.2",
        "--seed",
        "42",
        "--model",
        "mlp:32",
        "--epochs",
        "2",
        "--optimizer",
        "adam",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(
        s.contains("val_accuracy") && s.contains("No labelled test set"),
        "{s}"
    );
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(
        config.contains(r#""train_images": 160"#) && config.contains(r#""validation_images": 40"#),
        "{config}"
    );
    let model = run.join("model.safetensors");
    let sub = dir.path().join("submission.csv");
    let s = ok(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--csv",
        k.join("test.csv").to_str().unwrap(),
        "--out",
        sub.to_str().unwrap(),
    ]);
    assert!(s.contains("Predicted 200 images"), "{s}");
    let text = std::fs::read_to_string(&sub).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ImageId,Label");
    assert_eq!(lines.len(), 201);
    for i in [0usize, 1, 57, 199] {
        let p = ok(&[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--index",
            &i.to_string(),
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(p.trim()).unwrap();
        assert_eq!(
            lines[i + 1],
            format!("{},{}", i + 1, v["digit"]),
            "image {i}"
        );
    }
    let err = fails(&[
        "data",
        "export",
        "--format",
        "parquet",
        "--out",
        k.to_str().unwrap(),
    ]);
    assert!(err.contains("csv, kaggle or png-dir"), "{err}");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "pixel0,pixel1\n1,2\n").unwrap();
    let err = fails(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--csv",
        bad.to_str().unwrap(),
    ]);
    assert!(err.contains("bad.csv") && err.contains("line 1"), "{err}");
}

#[test]
fn onehot_and_head_show_the_tutorials_views() {
    let s = ok(&["data", "onehot", "--rows", "2"]);
    assert!(s.contains("[0 1 2 3 4 5 6 7 8 9]"), "{s}");
    // MNIST's first two training labels are 5 and 0.
    assert!(
        s.contains("label 5  [0. 0. 0. 0. 0. 1. 0. 0. 0. 0.]"),
        "{s}"
    );
    assert!(
        s.contains("label 0  [1. 0. 0. 0. 0. 0. 0. 0. 0. 0.]"),
        "{s}"
    );
    let s = ok(&["data", "head", "--rows", "3", "--split", "test"]);
    assert!(
        s.contains("pixel783") && s.contains("[3 rows x 785 columns]"),
        "{s}"
    );
    // The test set's first label is 7.
    assert!(
        s.lines().nth(1).unwrap().split_whitespace().nth(1) == Some("7"),
        "{s}"
    );
}

/// Writes a tiny data set in MNIST's IDX layout (gzipped) into `dir`.
fn write_fake_idx(dir: &std::path::Path, n: usize) {
    use scrawl::data::idx::encode_idx;
    use std::io::Write;
    std::fs::create_dir_all(dir).unwrap();
    let gz = |name: &str, bytes: Vec<u8>| {
        let f = std::fs::File::create(dir.join(format!("{name}.gz"))).unwrap();
        let mut w = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        w.write_all(&bytes).unwrap();
        w.finish().unwrap();
    };
    let pixels: Vec<u8> = (0..n * 784).map(|i| (i * 7 % 256) as u8).collect();
    // Image i has label 9 - i % 10, so image 0 is an "Ankle boot".
    let labels: Vec<u8> = (0..n).map(|i| 9 - (i % 10) as u8).collect();
    for (images, labels_name) in [
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    ] {
        gz(images, encode_idx(&[n, 28, 28], &pixels));
        gz(labels_name, encode_idx(&[n], &labels));
    }
}

#[test]
fn other_idx_data_sets_by_name_with_their_class_names() {
    let tmp = tempfile::tempdir().unwrap();
    write_fake_idx(&tmp.path().join("data/fashion-mnist"), 40);
    // Found in ./data/NAME without --data.
    let o = Command::new(env!("CARGO_BIN_EXE_scrawl"))
        .args(["data", "info", "--dataset", "fashion-mnist"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        s.contains("fashion-mnist from data/fashion-mnist")
            && s.contains("9 Ankle boot")
            && s.contains("shape (40, 28, 28)"),
        "{s}"
    );
    let dir = tmp.path().join("data/fashion-mnist");
    let d = dir.to_str().unwrap();
    let s = ok(&[
        "data",
        "show",
        "--dataset",
        "fashion-mnist",
        "--data",
        d,
        "--index",
        "0",
    ]);
    assert!(s.contains("label 9 (Ankle boot)"), "{s}");
    // A model trained on it remembers the class names.
    let run = tmp.path().join("run");
    let r = run.to_str().unwrap();
    ok(&[
        "train",
        "--dataset",
        "fashion-mnist",
        "--data",
        d,
        "--model",
        "mlp:8",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        r,
    ]);
    let model = run.join("model.safetensors");
    let s = ok(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--dataset",
        "fashion-mnist",
        "--data",
        d,
        "--index",
        "0",
    ]);
    assert!(
        s.contains("(label 9 Ankle boot)") && s.contains("T-shirt/top"),
        "{s}"
    );
    // Unknown names are looked for, not invented; odd names are refused.
    let e = fails(&["data", "info", "--dataset", "kmnist"]);
    assert!(
        e.contains("kmnist was not found") && e.contains("/usr/share/datasets/kmnist"),
        "{e}"
    );
    let e = fails(&["data", "info", "--dataset", "../etc"]);
    assert!(e.contains("not a data set name"), "{e}");
}

#[test]
fn pictures_of_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let s = ok(&["data", "plot-labels", "--out", &p("labels.png")]);
    assert!(s.contains("labels.png"), "{s}");
    ok(&["data", "plot-labels", "--out", &p("labels.svg")]);
    let s = ok(&[
        "data",
        "show",
        "--index",
        "7",
        "--split",
        "test",
        "--out",
        &p("d.png"),
    ]);
    assert!(s.contains("test image 7, label 9"), "{s}");
    let s = ok(&[
        "data",
        "grid",
        "--rows",
        "2",
        "--cols",
        "5",
        "--out",
        &p("g.png"),
    ]);
    assert!(s.contains("10 train images"), "{s}");
    for (name, size) in [
        ("labels.png", (900, 520)),
        ("d.png", (320, 336)),
        ("g.png", (468, 264)),
    ] {
        let img = image::open(tmp.path().join(name)).unwrap();
        assert_eq!((img.width(), img.height()), size, "{name}");
    }
    let svg = std::fs::read_to_string(tmp.path().join("labels.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("train (60000)"));

    let e = fails(&["data", "grid", "--out", &p("g.jpg")]);
    assert!(e.contains(".png or .svg"), "{e}");
    let e = fails(&["data", "grid", "--rows", "0", "--out", &p("g.png")]);
    assert!(e.contains("--rows"), "{e}");
    let e = fails(&["data", "grid", "--start", "60000", "--out", &p("g.png")]);
    assert!(e.contains("out of range"), "{e}");
    let e = fails(&[
        "data",
        "show",
        "--index",
        "0",
        "--scale",
        "0",
        "--out",
        &p("d.png"),
    ]);
    assert!(e.contains("--scale"), "{e}");
}

#[test]
fn png_folders_export_and_train() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("png");
    let o = out.to_str().unwrap();
    let s = ok(&[
        "data", "export", "--format", "png-dir", "--limit", "300", "--out", o,
    ]);
    assert!(s.contains("300 images"), "{s}");
    let train = out.join("train");
    let test = out.join("test");
    let s = ok(&[
        "data",
        "info",
        "--train",
        train.to_str().unwrap(),
        "--test",
        test.to_str().unwrap(),
    ]);
    assert!(
        s.contains("folder of PNG images, 300 images") && s.contains("shape (300, 28, 28)"),
        "{s}"
    );
    let run = tmp.path().join("run");
    let s = ok(&[
        "train",
        "--train",
        train.to_str().unwrap(),
        "--test",
        test.to_str().unwrap(),
        "--model",
        "mlp:16",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(s.contains("test accuracy"), "{s}");
    std::fs::write(train.join("junk_x.png"), b"").unwrap();
    let e = fails(&["data", "info", "--train", train.to_str().unwrap()]);
    assert!(e.contains("junk_x.png"), "{e}");
}

#[test]
fn training_workflow_callbacks_curves_report_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let a = runs.join("a");
    let s = ok(&[
        "train",
        "--model",
        "mlp:32",
        "--limit",
        "2000",
        "--epochs",
        "6",
        "--batch-size",
        "50",
        "--optimizer",
        "adam",
        "--checkpoint",
        "best",
        "--early-stopping",
        "2",
        "--restore-best-weights",
        "--out",
        a.to_str().unwrap(),
    ]);
    assert!(s.contains("Epoch 1: val_loss improved from inf to"), "{s}");
    assert!(
        s.contains("saving model to") && s.contains("best.safetensors"),
        "{s}"
    );
    for f in [
        "model.safetensors",
        "best.safetensors",
        "checkpoint.safetensors",
        "history.csv",
        "history.json",
        "config.json",
        "curves.png",
        "curves.svg",
    ] {
        assert!(a.join(f).is_file(), "{f} missing from the run folder");
    }
    let curves = image::open(a.join("curves.png")).unwrap();
    assert_eq!((curves.width(), curves.height()), (1200, 500));
    let config = std::fs::read_to_string(a.join("config.json")).unwrap();
    assert!(config.contains(r#""notes""#) && config.contains(r#""checkpoint": "best""#));

    // A second run with a schedule; the LR shows in the epoch line when it changes.
    let b = runs.join("b");
    let s = ok(&[
        "train",
        "--model",
        "mlp:32",
        "--limit",
        "2000",
        "--epochs",
        "3",
        "--batch-size",
        "50",
        "--optimizer",
        "sgd",
        "--lr-schedule",
        "step:1:0.5",
        "--out",
        b.to_str().unwrap(),
    ]);
    assert!(s.contains("learning_rate: 5.0000e-03"), "{s}");
    let s = ok(&["runs", "--dir", runs.to_str().unwrap()]);
    assert!(
        s.contains("best val_acc") && s.contains("test_acc") && s.lines().count() == 3,
        "{s}"
    );
    let j = ok(&["runs", "--dir", runs.to_str().unwrap(), "--json"]);
    let rows: serde_json::Value = serde_json::from_str(j.trim()).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{j}");
    for r in rows {
        assert_eq!(r["state"], "done", "{r}");
        assert!(r["epochs"].as_u64().unwrap() >= 1, "{r}");
        let test = r["test_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&test), "{r}");
        assert!(r["date"].as_str().unwrap().len() == 16, "{r}");
        // The table prints the same test accuracy.
        assert!(s.contains(&format!("{test:.4}")), "{s}");
    }
    let empty = ok(&[
        "runs",
        "--dir",
        tmp.path().join("none").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(empty.trim(), "[]");
    let png = tmp.path().join("cmp.svg");
    ok(&[
        "plot",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]);
    let svg = std::fs::read_to_string(&png).unwrap();
    assert!(svg.contains("a train") && svg.contains("b validation"));

    let report = tmp.path().join("report");
    let best = a.join("best.safetensors");
    let s = ok(&[
        "evaluate",
        "--model",
        best.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(
        s.contains("precision") && s.contains("macro avg") && s.contains("most confused"),
        "{s}"
    );
    assert!(report.join("report.md").is_file() && report.join("misclassified.png").is_file());

    let e = fails(&[
        "plot",
        tmp.path().to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(e.contains("not a run folder"), "{e}");
}

#[test]
fn divergence_stops_the_run_and_keeps_the_last_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    // Epoch 1 trains normally; epoch 2's learning rate (1e34) overflows the weights.
    let e = fails(&[
        "train",
        "--model",
        "mlp:32",
        "--limit",
        "1000",
        "--epochs",
        "3",
        "--batch-size",
        "50",
        "--optimizer",
        "sgd",
        "--lr-schedule",
        "step:1:1e36",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(
        e.contains("at epoch 2, step")
            && e.contains("lower learning rate")
            && e.contains("epoch 1 is kept"),
        "{e}"
    );
    let (_, state) = scrawl::train::load_checkpoint(&run.join("checkpoint.safetensors")).unwrap();
    assert_eq!(state.epoch, 1);
    let history = std::fs::read_to_string(run.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 2, "{history}");
    assert!(run.join("curves.png").is_file());
}

#[test]
fn bad_training_workflow_flags() {
    for (args, want) in [
        (
            &["train", "--checkpoint", "sometimes"][..],
            "--checkpoint must be",
        ),
        (&["train", "--monitor", "val_f1"], "cannot monitor"),
        (&["train", "--lr-schedule", "warp:9"], "not a schedule"),
        (&["train", "--early-stopping", "0"], "at least 1"),
        (
            &["train", "--resume", "/nonexistent/run"],
            "not a run folder",
        ),
        (
            &["train", "--checkpoint", "m-{epoch:q}.safetensors"],
            "checkpoint path",
        ),
        (&["plot", "--out", "x.png"], "RUN"),
    ] {
        let e = fails(args);
        assert!(e.contains(want), "{args:?}: {e}");
    }
}

#[test]
fn pickle_in_npz_out_and_in_onnx_out() {
    let tmp = tempfile::tempdir().unwrap();
    let pkl = common::mnist_dir()
        .parent()
        .unwrap()
        .join("dlfs/sample_weight.pkl");
    let model = tmp.path().join("dlfs.safetensors");
    let m = model.to_str().unwrap();
    let s = ok(&["import", "dlfs", pkl.to_str().unwrap(), "--out", m]);
    assert!(s.contains("45360 parameters"), "{s}");
    for batch in ["1", "100"] {
        let s = ok(&["evaluate", "--model", m, "--batch-size", batch]);
        assert!(
            s.contains("test accuracy: 0.9352 (9352/10000"),
            "batch {batch}: {s}"
        );
    }
    let npz = tmp.path().join("w.npz");
    ok(&[
        "export",
        "--model",
        m,
        "--format",
        "npz",
        "--out",
        npz.to_str().unwrap(),
    ]);
    let back = tmp.path().join("back.safetensors");
    ok(&[
        "import",
        "npz",
        npz.to_str().unwrap(),
        "--model",
        "dlfs",
        "--out",
        back.to_str().unwrap(),
    ]);
    let s = ok(&["evaluate", "--model", back.to_str().unwrap()]);
    assert!(s.contains("9352/10000"), "{s}");
    let onnx = tmp.path().join("m.onnx");
    ok(&[
        "export",
        "--model",
        m,
        "--format",
        "onnx",
        "--out",
        onnx.to_str().unwrap(),
    ]);
    assert!(std::fs::metadata(&onnx).unwrap().len() > 45360 * 4);
    let e = fails(&["export", "--model", m, "--format", "tflite", "--out", "x"]);
    assert!(e.contains("npz, onnx or keras"), "{e}");
    let e = fails(&[
        "import",
        "npz",
        npz.to_str().unwrap(),
        "--model",
        "mlp-512",
        "--out",
        "x.safetensors",
    ]);
    assert!(e.contains("dense/kernel has shape [784, 50]"), "{e}");
    let e = fails(&["import", "dlfs", npz.to_str().unwrap()]);
    assert!(e.contains("w.npz"), "{e}");
}

#[test]
fn sweep_tabulates_the_grid_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let md = tmp.path().join("sweep.md");
    let m = md.to_str().unwrap();
    let s = ok(&[
        "sweep",
        "--hidden",
        "8",
        "--hidden",
        "8,8",
        "--lr",
        "0.001,0.01",
        "--epochs",
        "1",
        "--out",
        m,
    ]);
    assert!(
        s.contains("4 configurations on 42000 training / 18000 held-out"),
        "{s}"
    );
    let table = std::fs::read_to_string(&md).unwrap();
    assert_eq!(table.lines().count(), 2 + 4, "{table}");
    assert!(
        table.contains("| 8-8 | adam | 0.01 | 200 | 1 | 42 | 6442 |"),
        "{table}"
    );
    let csv_path = tmp.path().join("sweep.md.csv");
    let before = std::fs::read_to_string(&csv_path).unwrap();
    // A wider grid: the four finished rows are kept as they are, one new row runs.
    let s = ok(&[
        "sweep",
        "--hidden",
        "8",
        "--hidden",
        "8,8",
        "--hidden",
        "4",
        "--lr",
        "0.001,0.01",
        "--epochs",
        "1",
        "--out",
        m,
    ]);
    assert!(s.contains("4 already in"), "{s}");
    let after = std::fs::read_to_string(&csv_path).unwrap();
    assert!(
        after.starts_with(&before),
        "finished rows changed:\n{before}\n{after}"
    );
    assert_eq!(after.lines().count(), 1 + 6);
    // Another seed is another row, told apart by its seed column on screen and in
    // the file.
    let s = ok(&[
        "sweep", "--hidden", "4", "--lr", "0.01", "--epochs", "1", "--seed", "7", "--out", m,
    ]);
    let header = s.lines().find(|l| l.starts_with("hidden")).unwrap();
    assert!(header.contains("epochs") && header.contains("seed"), "{s}");
    let table = std::fs::read_to_string(&md).unwrap();
    assert!(
        table.contains("| 4 | adam | 0.01 | 200 | 1 | 7 |"),
        "{table}"
    );
    assert!(
        table.contains("| 4 | adam | 0.01 | 200 | 1 | 42 |"),
        "{table}"
    );
    let e = fails(&["sweep", "--hidden", "8,x", "--out", m]);
    assert!(e.contains("'x'"), "{e}");
    let e = fails(&["sweep", "--hidden", "8", "--out", "table.txt"]);
    assert!(e.contains(".csv or .md"), "{e}");
}

#[test]
fn bench_reports_every_figure() {
    // Shape of the report only: speed is measured by `scrawl bench`, never asserted.
    let s = ok(&["bench", "--model", "mlp:16", "--repeats", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(s.trim()).unwrap();
    assert!(v["gemm_peak_gflops"].as_f64().unwrap() > 0.0);
    let m = &v["models"][0];
    assert_eq!(m["model"], "mlp:16");
    assert_eq!(m["batch_size"], 200);
    for k in ["train_images_per_s", "latency_ms", "infer_images_per_s"] {
        assert!(m[k]["median"].as_f64().unwrap() > 0.0, "{k}: {m}");
        assert!(m[k]["min"].as_f64().unwrap() <= m[k]["max"].as_f64().unwrap());
    }
    let e = fails(&["bench", "--model", "nope"]);
    assert!(e.contains("unknown model"), "{e}");
}

#[test]
fn predict_image_files() {
    let tmp = tempfile::tempdir().unwrap();
    let pkl = common::mnist_dir()
        .parent()
        .unwrap()
        .join("dlfs/sample_weight.pkl");
    let model = tmp.path().join("dlfs.safetensors");
    ok(&[
        "import",
        "dlfs",
        pkl.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    // Test image 0 (a 7) drawn dark on a light page, three times larger, off-centre.
    let digit = common::mnist().test.image(0).to_vec();
    let page = image::GrayImage::from_fn(200, 150, |x, y| {
        let (dx, dy) = (x as i64 - 90, y as i64 - 40);
        if (0..84).contains(&dx) && (0..84).contains(&dy) {
            image::Luma([255 - digit[(dy / 3 * 28 + dx / 3) as usize]])
        } else {
            image::Luma([255])
        }
    });
    let seven = tmp.path().join("seven.png");
    page.save(&seven).unwrap();
    let blank = tmp.path().join("blank.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([255]))
        .save(&blank)
        .unwrap();
    let s = ok(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        seven.to_str().unwrap(),
        blank.to_str().unwrap(),
    ]);
    assert!(
        s.contains("seven.png: 7 (") && s.contains("dark ink on a light background"),
        "{s}"
    );
    assert!(s.contains("blank.png: blank"), "{s}");
    let junk = tmp.path().join("junk.png");
    std::fs::write(&junk, b"nope").unwrap();
    let e = fails(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        junk.to_str().unwrap(),
    ]);
    assert!(e.contains("junk.png"), "{e}");
}

/// Issue 9's tools on a small scale: training with --augment, AdamW and label
/// smoothing; `evaluate --tta`; `ensemble` of two seeds; and their bad inputs.
#[test]
fn augment_adamw_tta_and_ensemble() {
    let dir = tempfile::tempdir().unwrap();
    let mut models = Vec::new();
    for seed in ["1", "2"] {
        let out = dir.path().join(format!("run{seed}"));
        ok(&[
            "train",
            "--model",
            "Conv2D(8,3,relu) MaxPooling2D Flatten Dense(10,softmax)",
            "--limit",
            "1500",
            "--epochs",
            "2",
            "--batch-size",
            "50",
            "--optimizer",
            "adamw",
            "--weight-decay",
            "0.01",
            "--beta-1",
            "0.5",
            "--label-smoothing",
            "0.1",
            "--augment",
            "--rotation-range",
            "8",
            "--seed",
            seed,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        let config = std::fs::read_to_string(out.join("config.json")).unwrap();
        assert!(
            config.contains("\"rotation_range\": 8.0")
                && config.contains("\"adamw\"")
                && config.contains("\"beta_1\": 0.5"),
            "{config}"
        );
        models.push(out.join("model.safetensors").to_string_lossy().into_owned());
    }
    let plain = ok(&["evaluate", "--model", &models[0], "--json"]);
    let tta = ok(&["evaluate", "--model", &models[0], "--json", "--tta"]);
    let acc = |s: &str| {
        let v: serde_json::Value = serde_json::from_str(s.trim()).unwrap();
        v["accuracy"].as_f64().unwrap()
    };
    assert!(acc(&plain) > 0.7, "{plain}");
    assert!(acc(&tta) > 0.7, "{tta}");
    assert_ne!(plain, tta, "--tta averages other views");

    let s = ok(&["ensemble", &models[0], &models[1]]);
    assert!(
        s.contains("Ensemble of 2 models: test loss") && s.lines().count() == 3,
        "{s}"
    );
    let j = ok(&["ensemble", &models[0], &models[1], "--json", "--tta"]);
    let v: serde_json::Value = serde_json::from_str(j.trim()).unwrap();
    assert_eq!(v["members"].as_array().unwrap().len(), 2);
    assert!(v["accuracy"].as_f64().unwrap() > 0.7, "{j}");

    // Bad inputs are messages.
    let err = fails(&["ensemble", &models[0]]);
    assert!(err.contains("at least two"), "{err}");
    let err = fails(&["ensemble", &models[0], "no-such.safetensors"]);
    assert!(err.contains("no-such.safetensors"), "{err}");
    let other = dir.path().join("mlp");
    ok(&[
        "train",
        "--model",
        "mlp:16",
        "--limit",
        "200",
        "--epochs",
        "1",
        "--out",
        other.to_str().unwrap(),
        "--quiet",
    ]);
    let mlp = other.join("model.safetensors");
    let err = fails(&["ensemble", &models[0], mlp.to_str().unwrap()]);
    assert!(err.contains("must agree"), "{err}");
    let err = fails(&["train", "--rotation-range", "5", "--epochs", "1"]);
    assert!(err.contains("--augment"), "{err}");
    let err = fails(&["train", "--augment", "--zoom-range", "2", "--limit", "10"]);
    assert!(err.contains("zoom range"), "{err}");
    let err = fails(&["train", "--elastic", "10", "--epochs", "1"]);
    assert!(err.contains("--augment"), "{err}");
    let err = fails(&["train", "--augment", "--elastic", "500", "--limit", "10"]);
    assert!(err.contains("elastic alpha"), "{err}");
    let err = fails(&[
        "train",
        "--augment",
        "--elastic",
        "8",
        "--elastic-sigma",
        "0",
    ]);
    assert!(err.contains("elastic sigma"), "{err}");
    let err = fails(&["train", "--clean-epochs", "1", "--epochs", "2"]);
    assert!(err.contains("--augment"), "{err}");
    let err = fails(&["train", "--augment", "--clean-epochs", "2", "--epochs", "2"]);
    assert!(
        err.contains("2 clean epochs of 2 leave none augmented"),
        "{err}"
    );
    let err = fails(&["data", "grid", "--augment", "--elastic", "-3"]);
    assert!(err.contains("elastic alpha"), "{err}");
    let err = fails(&["train", "--weight-decay", "0.1", "--optimizer", "adam"]);
    assert!(err.contains("adamw"), "{err}");
    let err = fails(&["train", "--beta-1", "0.8", "--optimizer", "sgd"]);
    assert!(err.contains("adam or adamw"), "{err}");
    let err = fails(&["train", "--beta-2", "1.5", "--optimizer", "adam"]);
    assert!(err.contains("beta_2"), "{err}");
    let err = fails(&["train", "--label-smoothing", "1.5"]);
    assert!(err.contains("label-smoothing"), "{err}");
}

/// `--init MODEL_OR_RUN` starts from saved weights with a fresh optimizer, `--freeze`
/// keeps layers as they are, and the other commands take a run folder for its model.
#[test]
fn fine_tuning_and_run_folders_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let common = [
        "--limit",
        "2000",
        "--batch-size",
        "100",
        "--optimizer",
        "adam",
    ];
    let mut args = vec!["train", "--model", "mlp:32", "--out", a.to_str().unwrap()];
    args.extend(common);
    ok(&args);
    let mut args = vec!["train", "--init", a.to_str().unwrap(), "--freeze", "dense"];
    args.extend(common);
    args.extend(["--out", b.to_str().unwrap()]);
    let s = ok(&args);
    assert!(s.contains("Starting from the weights of"), "{s}");
    // 784 x 32 + 32 frozen.
    assert!(s.contains("Non-trainable params: 25,120"), "{s}");
    let before = scrawl::model::Sequential::load(&a.join("model.safetensors")).unwrap();
    let after = scrawl::model::Sequential::load(&b.join("model.safetensors")).unwrap();
    assert_eq!(
        before.named_params()[0].1.value,
        after.named_params()[0].1.value
    );
    assert_ne!(
        before.named_params()[2].1.value,
        after.named_params()[2].1.value
    );

    // evaluate, predict, summary and export take the run folder.
    let s = ok(&["evaluate", "--model", b.to_str().unwrap()]);
    assert!(s.contains("accuracy"), "{s}");
    ok(&["predict", "--model", b.to_str().unwrap(), "--index", "0"]);
    let s = ok(&["summary", "--model", b.to_str().unwrap()]);
    assert!(s.contains("Total params: 25,450"), "{s}");
    let npz = tmp.path().join("b.npz");
    ok(&[
        "export",
        "--model",
        b.to_str().unwrap(),
        "--format",
        "npz",
        "--out",
        npz.to_str().unwrap(),
    ]);
    assert!(npz.is_file());

    // What cannot work says why.
    let e = fails(&[
        "train",
        "--init",
        a.to_str().unwrap(),
        "--model",
        "mlp:64",
        "--limit",
        "100",
    ]);
    assert!(e.contains("another architecture"), "{e}");
    let e = fails(&[
        "train",
        "--init",
        a.to_str().unwrap(),
        "--freeze",
        "nope",
        "--limit",
        "100",
    ]);
    assert!(e.contains("no layer named 'nope'"), "{e}");
    let e = fails(&["train", "--freeze", "dense", "--limit", "100"]);
    assert!(e.contains("--init"), "{e}");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = fails(&["evaluate", "--model", empty.to_str().unwrap()]);
    assert!(e.contains("without a model.safetensors"), "{e}");
}

#[test]
fn an_architecture_exports_the_npz_names_and_shapes_it_expects() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "Conv2D(6,5,relu) MaxPooling2D Flatten Dense(10,softmax)";
    let npz = dir.path().join("expected.npz");
    let o = scrawl(&[
        "export",
        "--model",
        spec,
        "--format",
        "npz",
        "--out",
        npz.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    for line in [
        "conv2d/kernel",
        "(5, 5, 1, 6)",
        "conv2d/bias",
        "(6,)",
        "dense/kernel",
        "(864, 10)",
    ] {
        assert!(out.contains(line), "{line} missing from:\n{out}");
    }
    // The file holds exactly those arrays: it imports into the same architecture,
    // giving the freshly initialised model back.
    let back = dir.path().join("back.safetensors");
    let o = scrawl(&[
        "import",
        "npz",
        npz.to_str().unwrap(),
        "--model",
        spec,
        "--out",
        back.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (loaded, _) = scrawl::model::Sequential::load_with_info(&back).unwrap();
    let fresh =
        scrawl::model::Sequential::new(scrawl::stack::parse_stack(spec).unwrap(), 0).unwrap();
    let x = vec![0.25f32; 784];
    assert_eq!(
        loaded.predict_values(&x).unwrap(),
        fresh.predict_values(&x).unwrap()
    );
    // ONNX wants trained weights: a preset name is refused with the way forward.
    let o = scrawl(&[
        "export", "--model", "mlp-512", "--format", "onnx", "--out", "x.onnx",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("train it first"));
}

/// `--validation-freq` above `--epochs` validates never: the start line says so, no
/// epoch line has a validation metric, and the test set is evaluated once, at the end.
#[test]
fn validation_freq_above_the_epochs_says_it_does_not_validate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out = out.to_str().unwrap();
    let train = |freq| {
        let mut args: Vec<&str> = "train --model mlp:32 --epochs 2 --limit 1000 --overwrite"
            .split(' ')
            .collect();
        args.extend(["--out", out, "--validation-freq", freq]);
        ok(&args)
    };
    let s = train("3");
    assert!(
        s.contains("Training on 1000 images, not validating during training"),
        "{s}"
    );
    let epochs: Vec<&str> = s.lines().filter(|l| l.starts_with("Epoch ")).collect();
    assert_eq!(epochs.len(), 2, "{s}");
    assert!(epochs.iter().all(|l| !l.contains("val_")), "{s}");
    assert_eq!(s.matches("Test loss: ").count(), 1, "{s}");
    // At the epochs or below, the line names what it validates on.
    let s = train("2");
    assert!(s.contains("validating on 10000 (the test set)"), "{s}");
}

#[test]
fn shell_completions_know_the_commands_and_flags() {
    for shell in ["bash", "zsh", "fish"] {
        let s = ok(&["completions", shell]);
        for word in [
            "train",
            "evaluate",
            "completions",
            "validation-freq",
            "beta-1",
        ] {
            assert!(s.contains(word), "{shell}: '{word}' missing");
        }
    }
    // The bash script is valid bash.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("scrawl.bash");
    std::fs::write(&script, ok(&["completions", "bash"])).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(fails(&["completions", "tcsh"]).contains("possible values"));
}

#[test]
fn lr_find_draws_its_chart_and_leaves_no_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lr.svg");
    let o = Command::new(env!("CARGO_BIN_EXE_scrawl"))
        .args([
            "lr-find", "--model", "mlp:64", "--steps", "60", "--json", "--out",
        ])
        .arg(&out)
        .current_dir(dir.path())
        .env("SCRAWL_DATA", common::mnist_dir())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let steps = v["losses"].as_array().unwrap().len();
    assert!(steps > 10 && steps <= 60, "{steps}");
    assert!(v["suggestion"].as_f64().is_some(), "{v}");
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.contains("learning rate (log scale)") && svg.contains("suggested"));
    // Only the chart was written: no run folder, no model.
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(fails(&["lr-find", "--out", "x.gif"]).contains(".png or .svg"));
    assert!(fails(&["lr-find", "--start-lr", "1", "--end-lr", "0.1"]).contains("positive start"));
}

/// Into a pipe, a long epoch shows life: a plain line with the step, the metrics so
/// far, the epoch's and the whole run's ETA (here every 1 ms instead of 30 s).
#[test]
fn piped_training_prints_progress_lines_with_the_run_eta() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let stdout = ok(&[
        "train",
        "--model",
        "mlp:32",
        "--limit",
        "4000",
        "--batch-size",
        "8",
        "--epochs",
        "2",
        "--progress-every",
        "0.001",
        "--out",
        out.to_str().unwrap(),
    ]);
    let steps: Vec<&str> = stdout.lines().filter(|l| l.contains(" - step ")).collect();
    assert!(steps.len() >= 2, "{stdout}");
    for l in &steps {
        assert!(l.starts_with("Epoch "), "{l}");
        assert!(l.contains("/500 - loss: ") && l.contains(" - ETA "), "{l}");
    }
    // In the first epoch the run ETA counts the second epoch too.
    assert!(
        steps
            .iter()
            .any(|l| l.starts_with("Epoch 1/2") && l.contains("run ETA")),
        "{stdout}"
    );
    assert!(stdout.contains("validating: "), "{stdout}");
    // The epoch lines are still there, one an epoch.
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("Epoch 2/2 - ") && l.contains("val_loss"))
            .count(),
        1
    );
    // Without the flag (30 s) a short run prints none.
    let out2 = tmp.path().join("r2");
    let quiet = ok(&[
        "train",
        "--model",
        "mlp:32",
        "--limit",
        "400",
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert!(!quiet.contains(" - step "), "{quiet}");
}

/// `data grid --augment`: one image a row, the original first (captioned with its
/// index and label), then its augmented versions by epoch; the title names the
/// augmentation, elastic included.
#[test]
fn augmented_grid_shows_each_original_beside_its_augmentations() {
    let tmp = tempfile::tempdir().unwrap();
    let svg = tmp.path().join("g.svg");
    let grid = |extra: &[&str]| {
        let mut args = vec!["data", "grid", "--augment", "--rows", "2", "--cols", "4"];
        // The second picture replaces the first.
        args.extend_from_slice(&["--overwrite"]);
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--out", svg.to_str().unwrap()]);
        ok(&args);
        std::fs::read_to_string(&svg).unwrap()
    };
    let text = grid(&[]);
    for want in [
        "#0 5",
        "#1 0",
        "epoch 1",
        "epoch 3",
        "rotation ±10°",
        "zoom ±10%",
        "--seed 42",
    ] {
        assert!(text.contains(want), "{want} missing");
    }
    assert!(!text.contains("epoch 4") && !text.contains("#2 ") && !text.contains("elastic"));
    let text = grid(&["--elastic", "8"]);
    assert!(text.contains("elastic α 8") && text.contains("σ 4"));
}

/// A short run of a BatchNormalization model says why its validation and test
/// accuracy lag its training accuracy (the moving statistics still hold much of
/// their starting values); with a momentum that has caught up, it says nothing.
#[test]
fn a_short_batch_norm_run_says_its_moving_statistics_lag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let train = |model: &str| {
        let o = scrawl(&[
            "train",
            "--model",
            model,
            "--epochs",
            "1",
            "--limit",
            "640",
            "--batch-size",
            "64",
            "--quiet",
            "--overwrite",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    // 10 steps at momentum 0.99: 0.99^10 = 90% of the starting values.
    let err = train("Flatten Dense(16,use_bias=false) BatchNormalization relu Dense(10,softmax)");
    assert!(
        err.contains("note: after 10 training steps") && err.contains("still hold 90.4%"),
        "{err}"
    );
    // At momentum 0.5, 0.5^10 is 0.1%.
    let err = train(
        "Flatten Dense(16,use_bias=false) BatchNormalization(momentum=0.5) relu Dense(10,softmax)",
    );
    assert!(!err.contains("moving statistics"), "{err}");
}
