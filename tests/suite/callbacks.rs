//! Each callback's decisions on scripted sequences of metric values.

use scrawl::callbacks::{
    Callback, Control, EarlyStopping, EpochEnd, LearningRateScheduler, Mode, ModelCheckpoint,
    ReduceLROnPlateau, Schedule, format_template,
};
use scrawl::history::{EpochLog, History};
use scrawl::loss::Loss;
use scrawl::model::{ModelConfig, Sequential};
use scrawl::optim::OptimizerConfig;

fn tiny_model() -> Sequential {
    let config: ModelConfig = serde_json::from_str(
        r#"{"name": "tiny", "input_shape": [4], "layers": [{"type": "Dense", "units": 3, "activation": "softmax"}]}"#,
    )
    .unwrap();
    let mut m = Sequential::new(config, 1).unwrap();
    m.compile(&OptimizerConfig::adam(), Loss::default())
        .unwrap();
    m
}

fn log(epoch: usize, val_loss: f64) -> EpochLog {
    EpochLog {
        epoch,
        loss: val_loss * 0.5,
        accuracy: 1.0 - val_loss / 10.0,
        val_loss: Some(val_loss),
        val_accuracy: Some(1.0 - val_loss / 5.0),
        learning_rate: 0.001,
        seconds: 1.0,
    }
}

/// Runs `cb` over the val_loss sequence; returns the decisions and the messages.
fn script(
    cb: &mut dyn Callback,
    model: &mut Sequential,
    values: &[f64],
) -> (Vec<Control>, Vec<String>) {
    let mut history = History::default();
    let mut controls = Vec::new();
    let mut all = Vec::new();
    for (i, &v) in values.iter().enumerate() {
        let l = log(i + 1, v);
        history.epochs.push(l.clone());
        let mut messages = Vec::new();
        let mut end = EpochEnd {
            log: &l,
            history: &history,
            messages: &mut messages,
            validation_skipped: false,
        };
        controls.push(cb.on_epoch_end(model, &mut end).unwrap());
        all.extend(messages);
    }
    (controls, all)
}

#[test]
fn early_stopping_counts_epochs_without_improvement() {
    let mut m = tiny_model();
    let mut es = EarlyStopping::new("val_loss", 3, 0.0, Mode::Auto).unwrap();
    let (c, msgs) = script(&mut es, &mut m, &[1.0, 0.9, 0.95, 0.92, 0.91]);
    assert_eq!(c[..4], [Control::Continue; 4]);
    assert_eq!(
        c[4],
        Control::Stop,
        "3 epochs without improvement after epoch 2"
    );
    assert_eq!(es.best_epoch(), 2);
    assert_eq!(es.stopped_epoch, 5);
    assert!(
        msgs[0].contains("Epoch 5: early stopping") && msgs[0].contains("best 0.9000 at epoch 2"),
        "{msgs:?}"
    );
}

#[test]
fn min_delta_edges() {
    let mut m = tiny_model();
    // An improvement must beat best - min_delta strictly: 0.9 is exactly 1.0 - 0.1.
    let mut es = EarlyStopping::new("val_loss", 1, 0.1, Mode::Min).unwrap();
    let (c, _) = script(&mut es, &mut m, &[1.0, 0.9]);
    assert_eq!(c, [Control::Continue, Control::Stop]);
    let mut es = EarlyStopping::new("val_loss", 1, 0.1, Mode::Min).unwrap();
    let (c, _) = script(&mut es, &mut m, &[1.0, 0.89, 0.8]);
    assert_eq!(c, [Control::Continue, Control::Continue, Control::Stop]);
    // max mode (auto for an accuracy): val_accuracy = 1 - v/5 rises as v falls.
    let mut es = EarlyStopping::new("val_accuracy", 2, 0.0, Mode::Auto).unwrap();
    let (c, _) = script(&mut es, &mut m, &[1.0, 0.5, 0.6, 0.7]);
    assert_eq!(c[3], Control::Stop);
    assert_eq!(es.best_epoch(), 2);
    // NaN never improves; missing metrics and bad settings are errors.
    let mut es = EarlyStopping::new("val_loss", 2, 0.0, Mode::Auto).unwrap();
    let (c, _) = script(&mut es, &mut m, &[1.0, f64::NAN, f64::NAN]);
    assert_eq!(c[2], Control::Stop);
    assert!(EarlyStopping::new("val_los", 2, 0.0, Mode::Auto).is_err());
    assert!(EarlyStopping::new("val_loss", 0, 0.0, Mode::Auto).is_err());
    assert!(EarlyStopping::new("val_loss", 2, -1.0, Mode::Auto).is_err());
    let mut es = EarlyStopping::new("val_loss", 2, 0.0, Mode::Auto).unwrap();
    let mut l = log(1, 1.0);
    l.val_loss = None;
    let h = History::default();
    let mut msgs = Vec::new();
    let e = es
        .on_epoch_end(
            &mut m,
            &mut EpochEnd {
                log: &l,
                history: &h,
                messages: &mut msgs,
                validation_skipped: false,
            },
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("no validation data"), "{e}");
}

#[test]
fn restore_best_weights_goes_back_to_the_best_epoch() {
    let mut m = tiny_model();
    let mut es = EarlyStopping::new("val_loss", 2, 0.0, Mode::Auto)
        .unwrap()
        .restore_best_weights(true);
    let mut history = History::default();
    let mut kernel_at_best = Vec::new();
    for (i, v) in [0.5, 0.3, 0.4, 0.45].iter().enumerate() {
        // A different set of weights each epoch, as training would leave.
        m.for_each_param_mut(|_, p| p.value.iter_mut().for_each(|w| *w = i as f32));
        if i == 1 {
            kernel_at_best = m.named_params()[0].1.value.clone();
        }
        let l = log(i + 1, *v);
        history.epochs.push(l.clone());
        let mut msgs = Vec::new();
        let c = es
            .on_epoch_end(
                &mut m,
                &mut EpochEnd {
                    log: &l,
                    history: &history,
                    messages: &mut msgs,
                    validation_skipped: false,
                },
            )
            .unwrap();
        if i == 3 {
            assert_eq!(c, Control::Stop);
            assert!(
                msgs[0].contains("restored the weights of epoch 2"),
                "{msgs:?}"
            );
        }
    }
    assert_eq!(m.named_params()[0].1.value, kernel_at_best);
    // Its state survives a checkpoint round trip.
    let state = es.state();
    let mut again = EarlyStopping::new("val_loss", 2, 0.0, Mode::Auto)
        .unwrap()
        .restore_best_weights(true);
    again.restore(state).unwrap();
    assert_eq!(again.best_epoch(), 2);
}

#[test]
fn model_checkpoint_saves_improvements_only() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir
        .path()
        .join("mnist-{epoch:02d}-{val_loss:.4f}.safetensors");
    let mut mc =
        ModelCheckpoint::new(template.to_str().unwrap(), "val_loss", Mode::Auto, true).unwrap();
    let mut m = tiny_model();
    let (_, msgs) = script(&mut mc, &mut m, &[0.0812, 0.0731, 0.0800, 0.0731]);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["mnist-01-0.0812.safetensors", "mnist-02-0.0731.safetensors"]
    );
    assert!(msgs[0].contains("val_loss improved from inf to 0.0812, saving model to"));
    assert!(msgs[1].contains("val_loss improved from 0.0812 to 0.0731"));
    assert!(msgs[2].contains("Epoch 3: val_loss did not improve from 0.0731"));
    assert!(msgs[3].contains("did not improve"), "equal is not better");
    // The saved file is a model with the epoch's metrics in its info.
    let (_, info) =
        Sequential::load_with_info(&dir.path().join("mnist-02-0.0731.safetensors")).unwrap();
    assert_eq!(info["epoch"], 2);
    assert_eq!(info["val_loss"], 0.0731);

    // Every epoch when not best-only; accuracy monitored in max mode.
    let every = dir.path().join("all/e{epoch}.safetensors");
    let mut mc =
        ModelCheckpoint::new(every.to_str().unwrap(), "val_accuracy", Mode::Auto, false).unwrap();
    script(&mut mc, &mut m, &[0.3, 0.4]);
    assert!(dir.path().join("all/e1.safetensors").is_file());
    assert!(dir.path().join("all/e2.safetensors").is_file());
}

#[test]
fn checkpoint_templates_format_like_keras() {
    let l = log(3, 0.123456);
    let f = |t: &str| format_template(t, &l).unwrap();
    assert_eq!(f("m-{epoch:02d}-{val_loss:.4f}.st"), "m-03-0.1235.st");
    assert_eq!(f("{epoch}_{epoch:3d}"), "3_  3");
    assert_eq!(f("{val_loss:.2e}"), "1.23e-01");
    assert_eq!(f("{{literal}}"), "{literal}");
    for bad in ["{epoch", "x}", "{nope}", "{epoch:q}", "{loss:.xf}"] {
        let e = format_template(bad, &l).unwrap_err().to_string();
        assert!(e.contains("checkpoint path"), "{bad}: {e}");
    }
    let mut no_val = l.clone();
    no_val.val_loss = None;
    let e = format_template("{val_loss}", &no_val)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no validation data"), "{e}");
}

#[test]
fn reduce_lr_on_plateau_waits_then_cools_down() {
    let mut m = tiny_model();
    let mut r = ReduceLROnPlateau::new("val_loss", 2)
        .unwrap()
        .factor(0.5)
        .unwrap()
        .cooldown(1)
        .min_lr(0.0003);
    let lr = |m: &Sequential| m.optimizer().unwrap().config().learning_rate();
    let mut rates = Vec::new();
    let mut history = History::default();
    for (i, v) in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0].iter().enumerate() {
        let l = log(i + 1, *v);
        history.epochs.push(l.clone());
        let mut msgs = Vec::new();
        r.on_epoch_end(
            &mut m,
            &mut EpochEnd {
                log: &l,
                history: &history,
                messages: &mut msgs,
                validation_skipped: false,
            },
        )
        .unwrap();
        rates.push(lr(&m));
    }
    assert_eq!(
        rates,
        [0.001, 0.001, 0.0005, 0.0005, 0.0003, 0.0003, 0.0003],
        "reduced after 2 flat epochs; the cooldown epoch (4) resets the count, which then \
         counts again from that same epoch as Keras does; floored at min_lr"
    );
    // A min_delta of 1e-4 by default: 1e-5 better is not an improvement.
    let mut r = ReduceLROnPlateau::new("val_loss", 1).unwrap();
    let mut m = tiny_model();
    script(&mut r, &mut m, &[1.0, 0.99999]);
    assert!((lr(&m) - 0.0001).abs() < 1e-9);
    assert!(
        ReduceLROnPlateau::new("val_loss", 1)
            .unwrap()
            .factor(1.5)
            .is_err()
    );
}

#[test]
fn schedules_follow_their_formulas() {
    let base = 0.1;
    let (per_epoch, total) = (100, 1000);
    let s = Schedule::parse("step:3:0.5").unwrap();
    assert_eq!(s.rate(base, 0, per_epoch, total), 0.1);
    assert_eq!(s.rate(base, 299, per_epoch, total), 0.1);
    assert_eq!(s.rate(base, 300, per_epoch, total), 0.05);
    assert_eq!(s.rate(base, 650, per_epoch, total), 0.025);
    let s = Schedule::parse("exponential:0.9").unwrap();
    assert!((s.rate(base, 200, per_epoch, total) - 0.081).abs() < 1e-12);
    let s = Schedule::parse("cosine").unwrap();
    assert_eq!(s.rate(base, 0, per_epoch, total), 0.1);
    assert!((s.rate(base, 500, per_epoch, total) - 0.05).abs() < 1e-12);
    assert!(s.rate(base, 1000, per_epoch, total).abs() < 1e-12);
    let s = Schedule::parse("one-cycle:0.5").unwrap();
    assert!((s.rate(base, 0, per_epoch, total) - 0.02).abs() < 1e-12);
    assert!((s.rate(base, 300, per_epoch, total) - 0.5).abs() < 1e-12);
    assert!((s.rate(base, 1000, per_epoch, total) - 0.02 / 1e4).abs() < 1e-12);
    let peak = (0..1000)
        .map(|t| s.rate(base, t, per_epoch, total))
        .fold(0.0, f64::max);
    assert!((peak - 0.5).abs() < 1e-12);
    for bad in [
        "step:0:0.5",
        "step:2.5:0.5",
        "exponential",
        "cosine:1",
        "warp:3",
        "one-cycle:-1",
    ] {
        assert!(Schedule::parse(bad).is_err(), "{bad}");
    }

    // The scheduler sets the rate before each step from the step number alone.
    let mut m = tiny_model();
    let mut sch = LearningRateScheduler::new(Schedule::Cosine, 10);
    sch.on_train_begin(&mut m).unwrap();
    sch.on_batch_begin(&mut m, 5, 5);
    let lr = m.optimizer().unwrap().config().learning_rate();
    assert!((lr - 0.0005).abs() < 1e-9, "{lr}");
}

/// Keras's `validation_freq`: only epochs N, 2N, ... are validated; callbacks that
/// watch a val_* metric skip the others instead of failing, and a run without any
/// validation data still fails loudly.
#[test]
fn validation_freq_validates_every_nth_epoch_and_callbacks_skip_the_rest() {
    use scrawl::train::{FitOptions, Verbosity};
    let data = crate::common::random_dataset(120, [4, 1, 1], 3, 5);
    let (train, val) = data.split_tail(0.25).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let best = dir.path().join("best.safetensors");
    let mut m = tiny_model();
    let history = m
        .fit(
            &train,
            FitOptions {
                epochs: 5,
                batch_size: 30,
                validation: Some(&val),
                validation_freq: 2,
                verbose: Verbosity::Silent,
                callbacks: vec![
                    Box::new(EarlyStopping::new("val_loss", 10, 0.0, Mode::Auto).unwrap()),
                    Box::new(
                        ModelCheckpoint::new(best.to_str().unwrap(), "val_loss", Mode::Auto, true)
                            .unwrap(),
                    ),
                ],
                ..Default::default()
            },
        )
        .unwrap();
    let validated: Vec<bool> = history
        .epochs
        .iter()
        .map(|e| e.val_loss.is_some())
        .collect();
    assert_eq!(validated, [false, true, false, true, false]);
    assert!(best.is_file(), "the validated epochs were checkpointed");
    // Without validation data, a val_* monitor is still an error.
    let mut m = tiny_model();
    let err = m
        .fit(
            &train,
            FitOptions {
                epochs: 2,
                batch_size: 30,
                validation_freq: 2,
                verbose: Verbosity::Silent,
                callbacks: vec![Box::new(
                    EarlyStopping::new("val_loss", 3, 0.0, Mode::Auto).unwrap(),
                )],
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("no validation data"), "{err}");
}
