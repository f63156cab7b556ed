//! The library owns runs: a run created, interrupted, reopened and extended through
//! `scrawl::run` alone (no command line), and fine-tuning from saved weights.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};

use scrawl::data::Dataset;
use scrawl::model::Sequential;
use scrawl::optim::OptimizerConfig;
use scrawl::run::{Folder, InitSpec, Run, RunOptions, RunSpec, Start};
use scrawl::train::Verbosity;

fn quiet<'a>() -> RunOptions<'a> {
    RunOptions {
        verbose: Some(Verbosity::Silent),
        ..Default::default()
    }
}

fn spec(epochs: usize) -> RunSpec {
    let model =
        scrawl::presets::preset("Flatten Dense(64,relu) Dropout(0.2) Dense(10,softmax)").unwrap();
    let mut s = RunSpec::new(model, OptimizerConfig::adam(), epochs, 50);
    s.seed = 7;
    s.callbacks.lr_schedule = Some("step:1:0.5".into());
    s.callbacks.checkpoint = Some("best".into());
    s
}

fn weights(model: &Sequential) -> Vec<Vec<f32>> {
    scrawl::callbacks::weights_of(model)
}

/// A finished run of 2 epochs, extended to 3, ends with the weights of an
/// uninterrupted 3-epoch run (the step schedule does not depend on the total).
#[test]
fn extending_a_finished_run_equals_an_uninterrupted_one() {
    let m = common::mnist();
    let train = m.train.take(1_500);
    let val = m.test.take(500);
    let dir = tempfile::tempdir().unwrap();

    let mut straight = Run::create(spec(3), Folder::At(dir.path().join("straight"))).unwrap();
    let a = straight.fit(&train, Some(&val), quiet()).unwrap();

    let mut run = Run::create(spec(2), Folder::At(dir.path().join("extended"))).unwrap();
    let mut first = run.fit(&train, Some(&val), quiet()).unwrap();
    run.finish(&mut first, Some(&val)).unwrap();
    assert_eq!(first.history.epochs.len(), 2);
    drop(run);

    // Reopened as it stands: finished, nothing to do.
    let mut run = Run::open(&dir.path().join("extended")).unwrap();
    assert_eq!(run.position().unwrap(), Start::AlreadyFinished { epoch: 2 });
    let again = run.fit(&train, Some(&val), quiet()).unwrap();
    assert_eq!(again.start, Start::AlreadyFinished { epoch: 2 });
    assert_eq!(weights(&again.model), weights(&first.model));

    run.extend_to(3).unwrap();
    let mut b = run.fit(&train, Some(&val), quiet()).unwrap();
    assert_eq!(b.start, Start::Resumed { epoch: 2, step: 0 });
    assert_eq!(b.history.epochs.len(), 3);
    assert_eq!(weights(&a.model), weights(&b.model), "extended run differs");
    assert_eq!(a.history.epochs[2].loss, b.history.epochs[2].loss);
    assert_eq!(a.history.epochs[2].learning_rate, 0.001 * 0.25);
    run.finish(&mut b, Some(&val)).unwrap();
    // The spec on disk says 3 epochs now, and the model file is the extended one.
    let e = Run::open(run.dir()).unwrap_err().to_string();
    assert!(e.contains("another scrawl process"), "{e}");
    drop(run);
    assert_eq!(
        Run::open(&dir.path().join("extended"))
            .unwrap()
            .spec()
            .epochs,
        3
    );
    let saved = Sequential::load(&dir.path().join("extended/model.safetensors")).unwrap();
    assert_eq!(weights(&saved), weights(&a.model));

    // Shortening is refused, and so is extending a schedule over the whole run.
    let mut run = Run::open(&dir.path().join("extended")).unwrap();
    let e = run.extend_to(2).unwrap_err().to_string();
    assert!(e.contains("extended, not shortened"), "{e}");
    drop(run);
    let mut cosine = spec(1);
    cosine.callbacks.lr_schedule = Some("cosine".into());
    let mut c = Run::create(cosine, Folder::At(dir.path().join("cosine"))).unwrap();
    c.fit(&train, None, quiet()).unwrap();
    let e = c.extend_to(2).unwrap_err().to_string();
    assert!(e.contains("cosine") && e.contains("--init"), "{e}");
}

/// Interrupted mid-epoch through the library's own flag, reopened and continued: the
/// same weights as an uninterrupted run.
#[test]
fn an_interrupted_run_resumes_bit_identical_without_the_cli() {
    let m = common::mnist();
    let train = m.train.take(1_200);
    let val = m.test.take(300);
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(2);
    s.save_freq = Some(5);

    let mut straight = Run::create(s.clone(), Folder::At(dir.path().join("a"))).unwrap();
    let a = straight.fit(&train, Some(&val), quiet()).unwrap();

    // A flag already set stops the run after its first step, with a checkpoint.
    let stop = AtomicBool::new(true);
    let mut run = Run::create(s, Folder::At(dir.path().join("b"))).unwrap();
    let e = run
        .fit(
            &train,
            Some(&val),
            RunOptions {
                verbose: Some(Verbosity::Silent),
                interrupt: Some(&stop),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, scrawl::Error::Interrupted(_)), "{e}");
    drop(run);
    stop.store(false, Ordering::SeqCst);

    let mut run = Run::open(&dir.path().join("b")).unwrap();
    assert_eq!(
        run.position().unwrap(),
        Start::Resumed { epoch: 0, step: 1 }
    );
    let b = run.fit(&train, Some(&val), quiet()).unwrap();
    assert_eq!(weights(&a.model), weights(&b.model));
    assert_eq!(a.history, {
        let mut h = b.history.clone();
        for (x, y) in h.epochs.iter_mut().zip(&a.history.epochs) {
            x.seconds = y.seconds;
        }
        h
    });
}

fn digits_below(d: &Dataset, n: u8) -> Dataset {
    let keep: Vec<usize> = (0..d.len()).filter(|&i| d.labels[i] < n).collect();
    d.select(&keep)
}

/// Keras's load_model then fit: a model trained on digits 0-4 only, continued on all
/// ten from its saved weights, gets better on all ten; a frozen layer keeps its
/// weights bit for bit.
#[test]
fn fine_tuning_from_a_saved_model_improves_it() {
    let m = common::mnist();
    let train = m.train.take(4_000);
    let test = m.test.take(2_000);
    let dir = tempfile::tempdir().unwrap();

    let mut first_spec = spec(2);
    first_spec.callbacks = Default::default();
    let mut first = Run::create(first_spec.clone(), Folder::At(dir.path().join("low"))).unwrap();
    let low = digits_below(&train, 5);
    let mut t = first.fit(&low, None, quiet()).unwrap();
    let before = first.finish(&mut t, Some(&test)).unwrap().unwrap();
    // Never saw 5-9: about half the test set is out of reach.
    assert!(before.accuracy < 0.6, "{before:?}");
    drop(first);

    let mut tune = first_spec.clone();
    tune.init = Some(InitSpec {
        from: dir.path().join("low"), // a run folder: its model.safetensors
        freeze: vec![],
    });
    let mut run = Run::create(tune.clone(), Folder::At(dir.path().join("all"))).unwrap();
    let mut tuned = run.fit(&train, None, quiet()).unwrap();
    let after = run.finish(&mut tuned, Some(&test)).unwrap().unwrap();
    assert!(
        after.accuracy > 0.8 && after.accuracy > before.accuracy + 0.25,
        "{before:?} -> {after:?}"
    );

    // With the hidden layer frozen, only the output layer moves.
    tune.init.as_mut().unwrap().freeze = vec!["dense".into()];
    tune.epochs = 1;
    let mut run = Run::create(tune, Folder::At(dir.path().join("frozen"))).unwrap();
    let frozen = run.fit(&train, None, quiet()).unwrap();
    let saved = Sequential::load(&dir.path().join("low/model.safetensors")).unwrap();
    let old = saved.named_params();
    let new = frozen.model.named_params();
    assert_eq!(frozen.model.trainable_param_count(), 64 * 10 + 10);
    for ((name, p), (_, q)) in old.iter().zip(&new) {
        if name.starts_with("dense/") {
            assert_eq!(p.value, q.value, "{name} was frozen but changed");
        } else {
            assert_ne!(p.value, q.value, "{name} did not train");
        }
    }

    // Errors say what: an unknown layer, BatchNormalization, another architecture.
    let mut bad = spec(1);
    bad.init = Some(InitSpec {
        from: dir.path().join("low"),
        freeze: vec!["nope".into()],
    });
    let mut r = Run::create(bad, Folder::At(dir.path().join("bad"))).unwrap();
    let e = r.fit(&train, None, quiet()).unwrap_err().to_string();
    assert!(
        e.contains("no layer named 'nope'") && e.contains("dense_1"),
        "{e}"
    );
    let mut other = RunSpec::new(
        scrawl::presets::preset("mlp:32").unwrap(),
        OptimizerConfig::adam(),
        1,
        50,
    );
    other.init = Some(InitSpec {
        from: dir.path().join("low"),
        freeze: vec![],
    });
    let mut r = Run::create(other, Folder::At(dir.path().join("other"))).unwrap();
    let e = r.fit(&train, None, quiet()).unwrap_err().to_string();
    assert!(e.contains("another architecture"), "{e}");
}

/// A folder that holds a run is never taken over by a new one, and a folder with no
/// run cannot be opened as one.
#[test]
fn run_folders_are_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("r");
    let run = Run::create(spec(1), Folder::At(d.clone())).unwrap();
    drop(run);
    let e = Run::create(spec(1), Folder::At(d.clone()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("already holds a run") && e.contains("config.json"),
        "{e}"
    );
    std::fs::write(d.join("notes.txt"), "mine").unwrap();
    Run::create(spec(1), Folder::Replace(d.clone())).unwrap();
    assert_eq!(
        std::fs::read_to_string(d.join("notes.txt")).unwrap(),
        "mine"
    );
    let e = Run::open(&dir.path().join("none")).unwrap_err().to_string();
    assert!(e.contains("not a run folder"), "{e}");
    // Created but never trained: nothing to continue from.
    let mut r = Run::open(&d).unwrap();
    let m = common::mnist();
    let e = r
        .fit(&m.train.take(100), None, quiet())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no checkpoint.safetensors"), "{e}");
}
