//! A layer that runs the one after it (`Layer::fuse_next`: a convolution and its max
//! pooling, a BatchNormalization and its relu) gives the same outputs, gradients and
//! trained weights, to the bit, as the two layers run apart; here "apart" is the same
//! network with an identity `Activation(linear)` between them, which the first
//! cannot take in.

use scrawl::activations::Activation;
use scrawl::layers::{LayerConfig, Padding};
use scrawl::loss::Loss;
use scrawl::model::{ModelConfig, Sequential};
use scrawl::optim::OptimizerConfig;
use scrawl::presets::preset;

use crate::common;

/// `cfg` with an identity after every layer that a max pooling or a relu follows.
fn apart(cfg: &ModelConfig) -> ModelConfig {
    let relu = LayerConfig::Activation {
        activation: Activation::Relu,
    };
    let mut layers = Vec::new();
    for (i, layer) in cfg.layers.iter().enumerate() {
        layers.push(layer.clone());
        let next = cfg.layers.get(i + 1);
        if matches!(next, Some(LayerConfig::MaxPooling2D { .. })) || next == Some(&relu) {
            layers.push(LayerConfig::Activation {
                activation: Activation::Linear,
            });
        }
    }
    ModelConfig {
        layers,
        ..cfg.clone()
    }
}

fn conv(filters: usize, k: usize, activation: Activation) -> LayerConfig {
    LayerConfig::conv2d(filters, k, Padding::Valid, activation)
}

fn dense(units: usize, activation: Activation) -> LayerConfig {
    LayerConfig::dense(units, activation)
}

/// Trains `cfg` and its `apart` twin from the same seed for `steps` Adam steps of
/// `batch` MNIST images (mostly background, so the kernel gradient's sparse path
/// runs) and asserts equal weights and predictions; returns the fused pairs.
fn trains_as_apart(cfg: ModelConfig, steps: usize, batch: usize) -> Vec<(String, String)> {
    let mnist = common::mnist();
    let data = &mnist.train;
    let mut fused = Sequential::new(cfg.clone(), 11).unwrap();
    let mut twin = Sequential::new(apart(&cfg), 11).unwrap();
    assert!(twin.fused_layers().is_empty(), "{:?}", twin.fused_layers());
    for m in [&mut fused, &mut twin] {
        m.compile(&OptimizerConfig::adam(), Loss::default())
            .unwrap();
        for step in 0..steps {
            let idx: Vec<usize> = (step * batch..(step + 1) * batch).collect();
            m.train_on_batch(data, &idx).unwrap();
        }
    }
    let weights = |m: &Sequential| -> Vec<(String, Vec<u32>)> {
        m.named_params()
            .into_iter()
            .map(|(n, p)| (n, p.value.iter().map(|v| v.to_bits()).collect()))
            .collect()
    };
    assert_eq!(weights(&fused), weights(&twin), "{}", cfg.name);
    let test = mnist.test.select(&(0..300).collect::<Vec<_>>());
    let bits = |v: Vec<f32>| -> Vec<u32> { v.iter().map(|v| v.to_bits()).collect() };
    assert_eq!(
        bits(fused.predict(&test, 100).unwrap()),
        bits(twin.predict(&test, 100).unwrap()),
        "{}: predictions",
        cfg.name
    );
    let pairs = fused.fused_layers();
    pairs
        .into_iter()
        .map(|(a, b)| (a.into(), b.into()))
        .collect()
}

/// The `speedrun` preset: its first convolution (relu, one channel) takes its
/// pooling; a batch larger than a training chunk runs in chunks.
#[test]
fn speedrun_trains_the_same_fused() {
    let pairs = trains_as_apart(preset("speedrun").unwrap(), 3, 200);
    assert_eq!(pairs, [("conv2d".to_string(), "max_pooling2d".to_string())]);
}

/// `cnn-best`: each of its five BatchNormalization layers runs the relu after it,
/// and trains as the layers run apart. Without its dropout, whose masks are seeded
/// by the layer's position, which the twin's extra layers move.
#[test]
fn cnn_best_trains_the_same_fused() {
    let mut cfg = preset("cnn-best").unwrap();
    cfg.layers
        .retain(|l| !matches!(l, LayerConfig::Dropout { .. }));
    let pairs = trains_as_apart(cfg, 2, 32);
    let expected: Vec<(String, String)> = (0..5)
        .map(|i| {
            let n = |s: &str| {
                if i == 0 {
                    s.to_string()
                } else {
                    format!("{s}_{i}")
                }
            };
            (n("batch_normalization"), n("activation"))
        })
        .collect();
    assert_eq!(pairs, expected);
}

/// A fused convolution that is not the first trained layer computes `dx` from the
/// routed gradient; and a linear one (no relu gate).
#[test]
fn fused_convolution_after_a_trained_layer_and_linear() {
    let cfg = ModelConfig {
        name: "dx".into(),
        input_shape: vec![28, 28, 1],
        layers: vec![
            conv(1, 1, Activation::Linear),
            conv(8, 3, Activation::Linear),
            LayerConfig::max_pooling2d(2),
            LayerConfig::Flatten,
            dense(10, Activation::Softmax),
        ],
    };
    let pairs = trains_as_apart(cfg.clone(), 2, 48);
    assert_eq!(
        pairs,
        [("conv2d_1".to_string(), "max_pooling2d".to_string())]
    );

    // A small one's gradients against finite differences (few windows and no relu,
    // so that no step moves a maximum to another cell or crosses a kink; relu's gate
    // is the unfused layers', which tests/suite/convolution.rs checks).
    let cfg = ModelConfig {
        input_shape: vec![6, 6, 1],
        ..cfg
    };
    let data = common::random_dataset(2, [6, 6, 1], 10, 9);
    let idx: Vec<usize> = (0..2).collect();
    let mut m = Sequential::new(cfg, 3).unwrap();
    assert_eq!(m.fused_layers().len(), 1);
    m.compile(&OptimizerConfig::sgd(), Loss::default()).unwrap();
    m.compute_gradients(&data, &idx, true);
    common::check_model_gradients(&mut m, &data, &idx, true, 1);
}

/// Only what the fused pass computes exactly is taken in: not a convolution with
/// another activation, not windows that leave a row over, not average pooling.
#[test]
fn only_tiling_max_pooling_after_relu_or_linear_fuses() {
    let model = |input: usize, layers: Vec<LayerConfig>| {
        let cfg = ModelConfig {
            name: "t".into(),
            input_shape: vec![input, input, 1],
            layers,
        };
        Sequential::new(cfg, 1).unwrap()
    };
    let tail = |pool: LayerConfig| vec![pool, LayerConfig::Flatten, dense(10, Activation::Softmax)];
    let with = |input, act, pool| {
        let mut layers = vec![conv(8, 3, act)];
        layers.extend(tail(pool));
        model(input, layers).fused_layers().len()
    };
    let max = LayerConfig::max_pooling2d(2);
    assert_eq!(with(10, Activation::Relu, max.clone()), 1);
    assert_eq!(with(10, Activation::Tanh, max.clone()), 0);
    assert_eq!(
        with(11, Activation::Relu, max.clone()),
        0,
        "9 rows: one left over"
    );
    let average = LayerConfig::AveragePooling2D {
        pool_size: scrawl::layers::Size2([2, 2]),
        strides: None,
        padding: Padding::Valid,
    };
    assert_eq!(with(10, Activation::Relu, average), 0);

    // A BatchNormalization takes a relu after it, not another activation.
    let bn = LayerConfig::BatchNormalization {
        momentum: 0.99,
        epsilon: 1e-3,
    };
    let after_bn = |activation| {
        let layers = vec![
            conv(8, 3, Activation::Linear),
            bn.clone(),
            LayerConfig::Activation { activation },
            LayerConfig::Flatten,
            dense(10, Activation::Softmax),
        ];
        model(10, layers).fused_layers().len()
    };
    assert_eq!(after_bn(Activation::Relu), 1);
    assert_eq!(after_bn(Activation::Tanh), 0);
    assert_eq!(after_bn(Activation::Linear), 0);
}
