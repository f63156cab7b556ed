//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scrawl::data::Dataset;
use scrawl::layers::Layer;
use scrawl::tensor::Tensor;

/// The real MNIST shipped beside the project (`../shared` of the repository; this
/// file also serves onnx-check/, one folder down).
pub fn mnist_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let up = manifest.join("../shared/data/mnist");
    if up.is_dir() {
        return up;
    }
    manifest.join("../../shared/data/mnist")
}

/// The real MNIST (train, test), decompressed once per test binary: each call gets
/// its own copy (a copy takes milliseconds, decompressing about a second).
pub fn mnist() -> scrawl::data::Mnist {
    static MNIST: std::sync::OnceLock<scrawl::data::Mnist> = std::sync::OnceLock::new();
    MNIST
        .get_or_init(|| {
            scrawl::data::load_mnist(&mnist_dir()).expect("../shared/data/mnist must hold MNIST")
        })
        .clone()
}

/// Random values in [-1, 1).
pub fn random_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// A tiny random data set of `n` images of `shape` with labels in 0..classes.
pub fn random_dataset(n: usize, shape: [usize; 3], classes: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let len: usize = shape.iter().product();
    let images = (0..n * len).map(|_| rng.random::<u8>()).collect();
    let labels = (0..n).map(|_| rng.random_range(0..classes as u8)).collect();
    Dataset::new(images, labels, shape, classes).unwrap()
}

/// Largest relative error between analytic and numeric gradients, with a floor on the
/// denominator so tiny gradients compare absolutely.
pub fn rel_err(a: f64, b: f64) -> f64 {
    (a - b).abs() / (a.abs() + b.abs()).max(1e-2)
}

/// Checks a layer's backward against central finite differences of the scalar
/// `L = Σ y ⊙ r` (r random), for the input and every parameter. Computes in f32, so
/// the step is large-ish and the tolerance a few parts in a thousand.
pub fn check_layer_gradients(
    layer: &mut dyn Layer,
    input_shape: &[usize],
    training: bool,
    seed: u64,
) {
    let n: usize = input_shape.iter().product();
    // Inputs at least 0.05 from zero, so a step of h never crosses relu's kink.
    let xs = random_vec(n, seed)
        .iter()
        .map(|v| v.signum() * (0.05 + 0.95 * v.abs()))
        .collect();
    check_layer_gradients_at(layer, &Tensor::from_vec(xs, input_shape), training, seed);
}

/// As [`check_layer_gradients`], at a given input.
pub fn check_layer_gradients_at(layer: &mut dyn Layer, x: &Tensor, training: bool, seed: u64) {
    let n = x.data().len();
    let mut y = Tensor::default();
    layer.forward(x, &mut y, training);
    let r = random_vec(y.data().len(), seed + 1);
    let loss = |layer: &mut dyn Layer, x: &Tensor| -> f64 {
        let mut y = Tensor::default();
        layer.forward(x, &mut y, training);
        y.data()
            .iter()
            .zip(&r)
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum()
    };
    // Analytic.
    let mut dy = Tensor::from_vec(r.clone(), y.shape());
    let mut dx = Tensor::default();
    layer.for_each_param_mut(&mut |p| p.grad.fill(0.0));
    layer.backward(x, &y, &mut dy, Some(&mut dx));
    let h = 1e-2f32;
    let mut worst = 0.0f64;
    // Input gradient, at up to 40 positions.
    let step = (n / 40).max(1);
    for i in (0..n).step_by(step) {
        let mut xp = x.clone();
        xp.data_mut()[i] += h;
        let lp = loss(layer, &xp);
        xp.data_mut()[i] -= 2.0 * h;
        let lm = loss(layer, &xp);
        let num = (lp - lm) / (2.0 * h as f64);
        let e = rel_err(dx.data()[i] as f64, num);
        assert!(
            e < 5e-3,
            "{}: d/dx[{i}] analytic {} numeric {num}",
            layer.name(),
            dx.data()[i]
        );
        worst = worst.max(e);
    }
    // Parameter gradients.
    let grads: Vec<Vec<f32>> = layer.params().iter().map(|p| p.grad.clone()).collect();
    for (pi, g) in grads.iter().enumerate() {
        let len = g.len();
        let step = (len / 30).max(1);
        for j in (0..len).step_by(step) {
            let bump = |layer: &mut dyn Layer, d: f32| {
                let mut k = 0;
                layer.for_each_param_mut(&mut |p| {
                    if k == pi {
                        p.value[j] += d;
                    }
                    k += 1;
                });
            };
            bump(layer, h);
            let lp = loss(layer, x);
            bump(layer, -2.0 * h);
            let lm = loss(layer, x);
            bump(layer, h);
            let num = (lp - lm) / (2.0 * h as f64);
            let e = rel_err(g[j] as f64, num);
            assert!(
                e < 5e-3,
                "{}: d/dparam{pi}[{j}] analytic {} numeric {num}",
                layer.name(),
                g[j]
            );
        }
    }
    let _ = worst;
}

/// `config` built with `seed` and trained briefly with Adam (one silent epoch, batch 50)
/// on the first `n` training images, so its predictions mean something.
pub fn trained(
    config: scrawl::model::ModelConfig,
    seed: u64,
    train: &Dataset,
    n: usize,
) -> scrawl::model::Sequential {
    let mut model = scrawl::model::Sequential::new(config, seed).unwrap();
    model
        .compile(&scrawl::optim::OptimizerConfig::adam(), Default::default())
        .unwrap();
    model
        .fit(
            &train.take(n),
            scrawl::train::FitOptions {
                epochs: 1,
                batch_size: 50,
                verbose: scrawl::train::Verbosity::Silent,
                ..Default::default()
            },
        )
        .unwrap();
    model
}

/// The address `scrawl serve` prints on its first line ("Serving F on
/// http://ADDR/ ..."), read from its stdout one byte at a time so that nothing after
/// that line is consumed.
pub fn served_address(stdout: &mut impl std::io::Read) -> std::net::SocketAddr {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).unwrap();
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("no address in '{line}'"))
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

/// Checks every `every`-th gradient a model holds (after `compute_gradients` on the
/// same batch) against central differences of its batch loss, step 2e-3 (small, so
/// that relu kinks rarely fall between x-h and x+h), within a relative error of 1e-2.
pub fn check_model_gradients(
    m: &mut scrawl::model::Sequential,
    data: &Dataset,
    idx: &[usize],
    training: bool,
    every: usize,
) {
    let grads: Vec<(String, Vec<f32>)> = m
        .named_params()
        .into_iter()
        .map(|(n, p)| (n, p.grad.clone()))
        .collect();
    let h = 2e-3f32;
    for (name, grad) in grads {
        for (j, &g) in grad.iter().enumerate().step_by(every) {
            let bump = |m: &mut scrawl::model::Sequential, d: f32| {
                m.for_each_param_mut(|n, p| {
                    if n == name {
                        p.value[j] += d;
                    }
                })
            };
            bump(m, h);
            let lp = m.batch_loss(data, idx, training);
            bump(m, -2.0 * h);
            let lm = m.batch_loss(data, idx, training);
            bump(m, h);
            let num = (lp - lm) / (2.0 * h as f64);
            assert!(
                rel_err(g as f64, num) < 1e-2,
                "{name}[{j}]: analytic {g} numeric {num}"
            );
        }
    }
}
