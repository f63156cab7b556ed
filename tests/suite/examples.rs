//! Every tutorial example in examples/ runs (on a slice of MNIST, one or two epochs)
//! and prints what its tutorial printed, so an example can never rot. `cargo test`
//! builds the examples before the tests run.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

/// Runs target/<profile>/examples/NAME with the data and the limits set.
fn run(name: &str, limit: Option<usize>, out: &std::path::Path) -> String {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin: PathBuf = profile_dir.join("examples").join(name);
    assert!(bin.exists(), "{} was not built", bin.display());
    let mut cmd = Command::new(&bin);
    cmd.env("SCRAWL_DATA", common::mnist_dir())
        .env("SCRAWL_EXAMPLE_OUT", out)
        .env("SCRAWL_EXAMPLE_EPOCHS", "1");
    if let Some(n) = limit {
        cmd.env("SCRAWL_EXAMPLE_LIMIT", n.to_string());
    }
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

#[test]
#[ignore = "full tier: runs the example programs"]
fn tutorial_000_functional_mlp() {
    let dir = tempfile::tempdir().unwrap();
    let out = run("tutorial_000_functional_mlp", Some(600), dir.path());
    assert!(out.contains("x_train [600, 784]"), "{out}");
    assert!(out.contains("Total params: 1,192,202"), "{out}");
    assert!(
        out.contains("Epoch 1/1") && out.contains("val_accuracy"),
        "{out}"
    );
    for png in ["tutorial_000_labels.png", "tutorial_000_curves.png"] {
        let bytes = std::fs::read(dir.path().join(png)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{png}");
    }
}

#[test]
#[ignore = "full tier: runs the example programs"]
fn tutorial_001_sweep_and_cnns() {
    let dir = tempfile::tempdir().unwrap();
    let out = run("tutorial_001_sweep_and_cnns", Some(300), dir.path());
    assert_eq!(out.matches("hidden_layer_size: ").count(), 7, "{out}");
    for model in ["mlp-1024-512-256-128-32", "cnn", "cnn-deep"] {
        assert!(
            out.contains(&format!("{model}: test, loss and metric: [")),
            "{out}"
        );
    }
}

#[test]
#[ignore = "full tier: runs the example programs"]
fn tutorial_002_sequential() {
    let dir = tempfile::tempdir().unwrap();
    let out = run("tutorial_002_sequential", Some(600), dir.path());
    // The first training image as numbers: MNIST's 5.
    assert!(out.contains("label 5"), "{out}");
    assert!(out.contains("Total params: 669,706"), "{out}");
    assert!(out.contains("validation image 0: predicted"), "{out}");
}

#[test]
#[ignore = "full tier: runs the example programs"]
fn tutorial_003_dlfs_inference_scores_the_books_figure() {
    let dir = tempfile::tempdir().unwrap();
    let out = run("tutorial_003_dlfs_inference", None, dir.path());
    assert_eq!(out, "Accuracy:0.9352\nAccuracy:0.9352\n");
}

#[test]
#[ignore = "full tier: runs the example programs"]
fn tutorial_004_checkpoint_early_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        "tutorial_004_checkpoint_early_stopping",
        Some(600),
        dir.path(),
    );
    assert!(out.contains("val_loss improved from inf to"), "{out}");
    let saved: Vec<_> = std::fs::read_dir(dir.path().join("model"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(saved[0].starts_with("mnist-01-") && saved[0].ends_with(".safetensors"));
    scrawl::model::Sequential::load(&dir.path().join("model").join(&saved[0])).unwrap();
}

#[test]
#[ignore = "full tier: runs the example programs"]
fn resume_a_run_extends_it_by_two_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let out = run("resume_a_run", Some(600), dir.path());
    assert!(out.contains("after 1 epochs: test accuracy"), "{out}");
    assert!(out.contains("Resumed { epoch: 1, step: 0 }"), "{out}");
    assert!(
        out.contains("Epoch 3/3") && out.contains("after 3 epochs"),
        "{out}"
    );
    assert!(dir.path().join("run-mlp-512/best.safetensors").is_file());
}

#[test]
#[ignore = "full tier: runs the example programs"]
fn fine_tune_learns_the_digits_it_never_saw() {
    let dir = tempfile::tempdir().unwrap();
    let out = run("fine_tune", Some(3_000), dir.path());
    let accuracy = |prefix: &str| -> f64 {
        let line = out.lines().find(|l| l.starts_with(prefix)).expect(prefix);
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let before = accuracy("trained on 0-4");
    let after = accuracy("fine-tuned on all ten");
    // On 3,000 images and one epoch each (the full run reaches far more).
    assert!(before < 0.6 && after > before + 0.1, "{out}");
}
