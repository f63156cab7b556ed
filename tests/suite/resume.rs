//! Nothing lost: a run killed (SIGKILL) or interrupted (SIGINT) mid-epoch and resumed
//! ends with weights identical, bit for bit, to an uninterrupted run.

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scrawl::model::Sequential;
use scrawl::train::load_checkpoint;

/// Dropout, an LR schedule, a checkpoint callback and early stopping: every piece of
/// state a resume has to restore.
const ARGS: &[&str] = &[
    "train",
    "--model",
    "Flatten Dense(256,relu) Dropout(0.3) Dense(10,softmax)",
    "--limit",
    "20000",
    "--epochs",
    "3",
    "--batch-size",
    "8",
    "--optimizer",
    "adam",
    "--lr-schedule",
    "cosine",
    "--checkpoint",
    "best",
    "--early-stopping",
    "5",
    "--threads",
    "2",
];

fn scrawl(extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_scrawl"));
    c.args(extra)
        .env("SCRAWL_DATA", common::mnist_dir())
        .env_remove("RUST_BACKTRACE");
    c
}

fn start(out: &Path) -> Child {
    scrawl(ARGS)
        .args(["--out", out.to_str().unwrap(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the first epoch's checkpoint exists (the run is then in epoch 2).
fn wait_for_checkpoint(out: &Path, child: &mut Child) {
    let t0 = Instant::now();
    while !out.join("checkpoint.safetensors").exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its first checkpoint"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "no checkpoint after 300 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(150));
}

fn resume(out: &Path) {
    let o = scrawl(&["train", "--resume", out.to_str().unwrap(), "--threads", "2"])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "resume failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = String::from_utf8_lossy(&o.stderr);
    assert!(s.contains("Resuming"), "{s}");
}

fn same_weights(a: &Path, b: &Path) {
    let ma = Sequential::load(a).unwrap();
    let mb = Sequential::load(b).unwrap();
    for ((na, pa), (_, pb)) in ma.named_params().into_iter().zip(mb.named_params()) {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert!(bits(&pa.value) == bits(&pb.value), "{na} differs");
    }
}

#[test]
#[ignore = "full tier: kills real processes"]
fn killed_or_interrupted_runs_resume_to_identical_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let o = scrawl(ARGS)
        .args(["--out", whole.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // SIGKILL mid-epoch: resumes from the end of the last finished epoch.
    let killed = tmp.path().join("killed");
    let mut child = start(&killed);
    wait_for_checkpoint(&killed, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let (_, state) = load_checkpoint(&killed.join("checkpoint.safetensors")).unwrap();
    assert!(
        !state.finished && state.epoch < 3,
        "the kill came too late to test anything (epoch {})",
        state.epoch
    );
    assert!(!killed.join("model.safetensors").exists());
    resume(&killed);
    same_weights(
        &whole.join("model.safetensors"),
        &killed.join("model.safetensors"),
    );
    same_weights(
        &whole.join("best.safetensors"),
        &killed.join("best.safetensors"),
    );

    // SIGINT: finishes the step, saves a mid-epoch checkpoint, exits 130.
    let stopped = tmp.path().join("stopped");
    let mut child = start(&stopped);
    wait_for_checkpoint(&stopped, &mut child);
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted at epoch") && err.contains("resume with: scrawl train --resume"),
        "{err}"
    );
    let (_, state) = load_checkpoint(&stopped.join("checkpoint.safetensors")).unwrap();
    assert!(
        state.step > 0 && !state.finished,
        "not a mid-epoch checkpoint: {state:?}"
    );
    resume(&stopped);
    same_weights(
        &whole.join("model.safetensors"),
        &stopped.join("model.safetensors"),
    );

    // A finished run has nothing to resume; a model file is not a checkpoint.
    let o = scrawl(&["train", "--resume", whole.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("finished already"));
    let e = load_checkpoint(&whole.join("model.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a scrawl training checkpoint"), "{e}");
    let o = scrawl(&[
        "train",
        "--resume",
        whole.to_str().unwrap(),
        "--epochs",
        "9",
    ])
    .output()
    .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cosine") && err.contains("--init"), "{err}");
    let o = scrawl(&["train", "--resume", whole.to_str().unwrap(), "--lr", "0.1"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("its own settings") && err.contains("--lr 0.1"),
        "{err}"
    );
}

/// `--resume RUN --epochs N` after a finished run of M < N epochs: the weights of an
/// uninterrupted N-epoch run, for a schedule that does not depend on the total.
#[test]
fn extending_a_finished_run_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let args = |epochs: &str, out: &Path| -> Vec<String> {
        [
            "train",
            "--model",
            "Flatten Dense(64,relu) Dropout(0.2) Dense(10,softmax)",
            "--limit",
            "3000",
            "--epochs",
            epochs,
            "--batch-size",
            "32",
            "--optimizer",
            "adam",
            "--lr-schedule",
            "step:1:0.5",
            "--checkpoint",
            "best",
            "--threads",
            "2",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let whole = tmp.path().join("whole");
    let o = scrawl(&[]).args(args("3", &whole)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let short = tmp.path().join("short");
    let o = scrawl(&[]).args(args("2", &short)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = scrawl(&[
        "train",
        "--resume",
        short.to_str().unwrap(),
        "--epochs",
        "3",
        "--threads",
        "2",
    ])
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("Resuming") && err.contains("at epoch 3"),
        "{err}"
    );
    same_weights(
        &whole.join("model.safetensors"),
        &short.join("model.safetensors"),
    );
    same_weights(
        &whole.join("best.safetensors"),
        &short.join("best.safetensors"),
    );
    let history = std::fs::read_to_string(short.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 4, "{history}");
    // Shorter than it is: refused, saying so.
    let o = scrawl(&[
        "train",
        "--resume",
        short.to_str().unwrap(),
        "--epochs",
        "2",
    ])
    .output()
    .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not shortened"));
}
