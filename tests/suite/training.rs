//! Real training on MNIST slices: it learns, and it is reproducible.

use crate::common;

use scrawl::data::Dataset;
use scrawl::loss::Loss;
use scrawl::model::Sequential;
use scrawl::optim::OptimizerConfig;
use scrawl::presets::preset;
use scrawl::train::{FitOptions, Verbosity};

fn weights(m: &Sequential) -> Vec<u32> {
    m.named_params()
        .iter()
        .flat_map(|(_, p)| p.value.iter().map(|v| v.to_bits()))
        .collect()
}

fn train(
    model: &str,
    opt: OptimizerConfig,
    n: usize,
    epochs: usize,
    batch: usize,
    seed: u64,
) -> (Sequential, scrawl::history::History) {
    let m = common::mnist();
    let train = m.train.take(n);
    let mut model = Sequential::new(preset(model).unwrap(), seed).unwrap();
    model.compile(&opt, Loss::default()).unwrap();
    let h = model
        .fit(
            &train,
            FitOptions {
                epochs,
                batch_size: batch,
                seed,
                verbose: Verbosity::Silent,
                validation: Some(&m.test.take(1000)),
                ..Default::default()
            },
        )
        .unwrap();
    (model, h)
}

#[test]
fn a_short_real_training_reaches_90_percent() {
    let m = common::mnist();
    let (model, h) = train("mlp-512", OptimizerConfig::adam(), 5000, 1, 32, 1);
    assert_eq!(h.epochs.len(), 1);
    assert!(h.epochs[0].val_accuracy.unwrap() > 0.85);
    let e = model.evaluate(&m.test, 500).unwrap();
    assert!(
        e.accuracy >= 0.90,
        "test accuracy {} after one epoch on 5000 images",
        e.accuracy
    );
    assert_eq!(e.count, 10000);
    // predict_classes agrees with evaluate's count
    let classes = model.predict_classes(&m.test, 333).unwrap();
    let right = classes
        .iter()
        .zip(&m.test.labels)
        .filter(|(a, b)| a == b)
        .count();
    assert_eq!(right, e.correct);
}

#[test]
fn every_optimizer_learns() {
    let sgd = OptimizerConfig::Sgd {
        learning_rate: 0.1,
        momentum: 0.9,
        nesterov: true,
        decay: 1e-4,
    };
    for opt in [sgd, OptimizerConfig::rmsprop(), OptimizerConfig::adam()] {
        let (_, h) = train("mlp:64", opt.clone(), 3000, 2, 64, 2);
        let (first, last) = (&h.epochs[0], &h.epochs[1]);
        assert!(
            last.loss < first.loss,
            "{opt:?}: loss {} -> {}",
            first.loss,
            last.loss
        );
        assert!(last.val_accuracy.unwrap() > 0.8, "{opt:?}: {last:?}");
    }
}

#[test]
fn same_seed_same_threads_same_weights() {
    let run = |seed| weights(&train("mlp:128,64", OptimizerConfig::adam(), 2000, 2, 50, seed).0);
    let a = run(7);
    assert_eq!(a, run(7), "two runs with seed 7 differ");
    assert_ne!(a, run(8), "seeds 7 and 8 gave the same weights");
}

#[test]
fn sigmoid_dlfs_network_trains_with_sgd() {
    let (_, h) = train(
        "dlfs",
        OptimizerConfig::Sgd {
            learning_rate: 0.5,
            momentum: 0.0,
            nesterov: false,
            decay: 0.0,
        },
        3000,
        3,
        32,
        3,
    );
    assert!(
        h.epochs[2].val_accuracy.unwrap() > 0.75,
        "{:?}",
        h.epochs[2]
    );
    assert!(h.epochs[2].loss < h.epochs[0].loss);
}

#[test]
fn divergence_is_reported_and_weights_stay_finite() {
    let m = common::mnist();
    let train = m.train.take(2000);
    let mut model = Sequential::new(preset("mlp:64").unwrap(), 0).unwrap();
    model
        .compile(
            &OptimizerConfig::Sgd {
                learning_rate: 1e38, // the first update overflows the logits to inf
                momentum: 0.0,
                nesterov: false,
                decay: 0.0,
            },
            Loss::default(),
        )
        .unwrap();
    let e = model
        .fit(
            &train,
            FitOptions {
                epochs: 5,
                batch_size: 100,
                verbose: Verbosity::Silent,
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("epoch") && e.contains("step") && e.contains("lower learning rate"),
        "{e}"
    );
    assert!(
        model
            .named_params()
            .iter()
            .all(|(_, p)| p.value.iter().all(|v| v.is_finite()))
    );
}

#[test]
fn mismatched_data_is_an_error() {
    let data = common::random_dataset(10, [8, 8, 1], 10, 0);
    let mut model = Sequential::new(preset("mlp-512").unwrap(), 0).unwrap();
    model
        .compile(&OptimizerConfig::adam(), Loss::default())
        .unwrap();
    let e = model
        .fit(&data, FitOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("784 values") && e.contains("64 values"), "{e}");
    let mut fresh = Sequential::new(preset("mlp:4").unwrap(), 0).unwrap();
    let ok = common::random_dataset(4, [28, 28, 1], 10, 0);
    assert!(
        fresh
            .fit(&ok, FitOptions::default())
            .unwrap_err()
            .to_string()
            .contains("compile")
    );
}

/// The Keras MNIST convnet on 4,000 images, two epochs: the CNN path learns for real.
/// Also checks a CNN trains reproducibly and survives a save/load round trip.
#[test]
fn convnet_on_a_few_thousand_images_reaches_90_percent() {
    let m = common::mnist();
    let (model, h) = train("convnet", OptimizerConfig::adam(), 4000, 2, 64, 3);
    assert!(h.epochs[1].loss < h.epochs[0].loss, "{:?}", h.epochs);
    let test = m.test.take(2000);
    let e = model.evaluate(&test, 256).unwrap();
    assert!(
        e.accuracy >= 0.90,
        "convnet test accuracy {} after 2 epochs on 4000 images",
        e.accuracy
    );
    let bytes = model.to_bytes(&Default::default()).unwrap();
    let (back, _) = Sequential::from_bytes(&bytes).unwrap();
    assert_eq!(
        back.predict(&test, 100).unwrap(),
        model.predict(&test, 100).unwrap()
    );
    let (again, _) = train("convnet", OptimizerConfig::adam(), 4000, 2, 64, 3);
    assert_eq!(weights(&model), weights(&again), "same seed, same weights");
}

/// The learning-rate range test on the tutorial MLP with Adam: rates grow
/// geometrically, the test stops where the loss diverges, and the suggestion lands
/// where Adam trains this network well (1e-4 to 1e-2; Keras's default is 1e-3).
#[test]
fn lr_find_suggests_a_sensible_rate_for_adam() {
    use scrawl::train::{LrFindOptions, lr_find};
    let m = common::mnist();
    let train = m.train.take(20_000);
    let mut model = Sequential::new(preset("mlp-512").unwrap(), 42).unwrap();
    model
        .compile(&OptimizerConfig::adam(), Default::default())
        .unwrap();
    let opts = LrFindOptions::default();
    let found = lr_find(&mut model, &train, &opts).unwrap();
    let n = found.losses.len();
    assert!(
        n > 50 && n < opts.steps,
        "{n} steps: it should stop on divergence"
    );
    assert_eq!((found.learning_rates.len(), found.smoothed.len()), (n, n));
    let ratio = (opts.end_lr as f64 / opts.start_lr as f64).powf(1.0 / 99.0);
    for w in found.learning_rates.windows(2) {
        assert!((w[1] as f64 / w[0] as f64 - ratio).abs() < 1e-4 * ratio);
    }
    let lr = found.suggestion.expect("a suggestion");
    assert!((1e-4..=1e-2).contains(&lr), "suggested {lr}");
    // The same seed gives the same test.
    let mut again = Sequential::new(preset("mlp-512").unwrap(), 42).unwrap();
    again
        .compile(&OptimizerConfig::adam(), Default::default())
        .unwrap();
    assert_eq!(lr_find(&mut again, &train, &opts).unwrap(), found);
    for (bad, needle) in [
        (
            LrFindOptions {
                start_lr: 0.0,
                ..opts.clone()
            },
            "positive start",
        ),
        (
            LrFindOptions {
                end_lr: 1e-8,
                ..opts.clone()
            },
            "positive start",
        ),
        (
            LrFindOptions {
                steps: 1,
                ..opts.clone()
            },
            "2 to 100000 steps",
        ),
    ] {
        let err = lr_find(&mut again, &train, &bad).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    }
}

/// A batch whose first convolution's output would not stay in cache runs forward and
/// backward in chunks (`speedrun` at batch 200: chunks of 75 images), each chunk's
/// loss gradient scaled to the batch's mean: one SGD step moves every weight by
/// `-lr ·` the whole batch's gradient, as computed in one pass, to rounding.
#[test]
fn a_batch_trained_in_chunks_takes_the_whole_batch_gradient() {
    let data = common::random_dataset(200, [28, 28, 1], 10, 21);
    let idx: Vec<usize> = (0..200).collect();
    let lr = 0.5f32;
    let sgd = OptimizerConfig::Sgd {
        learning_rate: lr,
        momentum: 0.0,
        nesterov: false,
        decay: 0.0,
    };
    let mut whole = Sequential::new(preset("speedrun").unwrap(), 3).unwrap();
    let before: Vec<Vec<f32>> = whole
        .named_params()
        .iter()
        .map(|(_, p)| p.value.clone())
        .collect();
    let loss = whole.compute_gradients(&data, &idx, true);
    let want: Vec<Vec<f32>> = whole
        .named_params()
        .iter()
        .zip(&before)
        .map(|((_, p), w)| w.iter().zip(&p.grad).map(|(w, g)| w - lr * g).collect())
        .collect();
    let mut chunked = Sequential::new(preset("speedrun").unwrap(), 3).unwrap();
    chunked.compile(&sgd, Loss::default()).unwrap();
    let stats = chunked.train_on_batch(&data, &idx).unwrap();
    assert!(
        (stats.loss_sum / 200.0 - loss).abs() < 1e-5,
        "{} vs {loss}",
        stats.loss_sum / 200.0
    );
    for ((name, p), (want, before)) in chunked.named_params().iter().zip(want.iter().zip(&before)) {
        let moved = before
            .iter()
            .zip(want)
            .map(|(b, w)| (b - w).abs())
            .fold(0f32, f32::max);
        assert!(moved > 0.0, "{name} did not move");
        for (j, (&got, &w)) in p.value.iter().zip(want).enumerate() {
            assert!(
                (got - w).abs() <= 1e-4 * moved + 1e-7,
                "{name}[{j}]: {got}, want {w} (largest step {moved})"
            );
        }
    }
}

/// The optimizer leaves each gradient it applied in place, marked spent, and the next
/// backward pass writes over it instead of adding to it. Every layer with weights, on
/// each of its gradient paths (Dense on sparse and on dense inputs, Conv2D by
/// Winograd and direct with its pooling, BatchNormalization fused with relu, a frozen
/// layer, a batch trained in chunks), must then train to the same weights, bit for
/// bit, as when every gradient is zeroed and added to before each step: a layer that
/// added to a spent gradient, or that wrote one without saying so, would differ.
#[test]
fn spent_gradients_are_written_over_as_if_zeroed() {
    let mnist = common::mnist();
    let digits = mnist.train.take(256);
    let noise = common::random_dataset(256, [28, 28, 1], 10, 4);
    let batch = |step: usize, size: usize| -> Vec<usize> {
        (0..size).map(|i| (step * 37 + i * 5) % 256).collect()
    };
    let cases: [(&str, &str, Option<&str>, &Dataset, usize); 6] = [
        ("mlp:64,32", "rmsprop", None, &digits, 32),
        ("mlp:64,32", "adam", Some("dense_1"), &noise, 32),
        ("speedrun", "adam", None, &digits, 64),
        ("speedrun", "sgd", None, &digits, 200), // in chunks
        (
            "Conv2D(8,3,use_bias=false) BatchNormalization relu MaxPooling2D Conv2D(8,3) relu Flatten Dense(16,use_bias=false) BatchNormalization relu Dense(10,softmax)",
            "adam",
            None,
            &digits,
            32,
        ),
        (
            "Conv2D(8,5) relu MaxPooling2D Flatten Dense(10,softmax)",
            "rmsprop",
            None,
            &noise,
            16,
        ),
    ];
    for (model, optimizer, frozen, data, size) in cases {
        let build = || {
            let config = match preset(model) {
                Ok(c) => c,
                Err(_) => scrawl::stack::parse_stack(model).unwrap(),
            };
            let mut m = Sequential::new(config, 11).unwrap();
            if let Some(name) = frozen {
                m.freeze(name).unwrap();
            }
            m.compile(
                &OptimizerConfig::by_name(optimizer).unwrap(),
                Loss::default(),
            )
            .unwrap();
            m
        };
        let (mut spent, mut zeroed) = (build(), build());
        for step in 0..3 {
            let idx = batch(step, size);
            spent.train_on_batch(data, &idx).unwrap();
            zeroed.for_each_param_mut(|_, p| {
                p.grad.fill(0.0);
                p.grad_stale = false;
            });
            zeroed.train_on_batch(data, &idx).unwrap();
        }
        let stale = spent
            .named_params()
            .iter()
            .filter(|(_, p)| p.grad_stale)
            .count();
        assert!(stale > 0, "{model}: no gradient was left spent");
        assert_eq!(
            weights(&spent),
            weights(&zeroed),
            "{model} with {optimizer}"
        );
    }
}
