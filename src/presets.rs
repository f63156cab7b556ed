//! The tutorials' networks by name, and the `mlp:256,128` shorthand.

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::layers::{LayerConfig, Padding};
use crate::model::ModelConfig;

/// Every preset with a one-line description.
pub const PRESETS: &[(&str, &str)] = &[
    ("mlp-512", "784-512-10, relu (tutorials 002 and 004)"),
    ("mlp-512-512", "784-512-512-10, relu (tutorial 002)"),
    (
        "mlp-512-1024-256",
        "784-512-1024-256-10, relu (tutorial 000)",
    ),
    (
        "mlp-1024-512-256-128-32",
        "784-1024-512-256-128-32-10, relu (tutorial 001)",
    ),
    (
        "dlfs",
        "784-50-100-10, sigmoid (\"Deep Learning from Scratch\", tutorial 003)",
    ),
    (
        "cnn",
        "conv 5x5 32 ×2, pool, conv 3x3 64 ×2, pool, dense 256 (tutorial 001's CNN)",
    ),
    ("cnn-deep", "cnn plus conv 2x2 128 ×2 and a third pool"),
    (
        "convnet",
        "conv 3x3 32, pool, conv 3x3 64, pool, dropout 0.5 (Keras's MNIST convnet)",
    ),
    (
        "cnn-best",
        "conv 3x3 32 ×2, pool, conv 3x3 64 ×2, pool, dense 128, each with BatchNormalization; train with --augment (docs/PERFORMANCE.md)",
    ),
    (
        "speedrun",
        "standardized pixels, conv 5x5 24, pool, conv 3x3 32, pool, dense 256: 99% in one epoch (bench/time-to-accuracy.txt)",
    ),
];

/// MNIST's pixel mean and standard deviation (of the training images scaled to
/// [0, 1]), which the `speedrun` preset standardizes by.
pub const MNIST_MEAN_STD: (f32, f32) = (0.1307, 0.3081);

/// The public "99% on MNIST in one epoch" network: Conv2D(24, 5×5) → pool → relu →
/// Conv2D(32, 3×3) → pool → relu → Dense(256, relu) → Dense(10), on standardized
/// pixels. The relus sit in the convolutions, before the pooling: max pooling and
/// relu commute, so the function and its gradients are the same, and the relu then
/// costs nothing (the convolution applies it as it writes).
pub fn speedrun(name: &str) -> ModelConfig {
    let (mean, std) = MNIST_MEAN_STD;
    ModelConfig {
        name: name.to_string(),
        input_shape: vec![28, 28, 1],
        layers: vec![
            LayerConfig::standardize(mean, std),
            conv(24, 5, Padding::Valid),
            LayerConfig::max_pooling2d(2),
            conv(32, 3, Padding::Valid),
            LayerConfig::max_pooling2d(2),
            LayerConfig::Flatten,
            LayerConfig::dense(256, Activation::Relu),
            LayerConfig::dense(10, Activation::Softmax),
        ],
    }
}

/// `cnn-best` as a stack: small enough to train many epochs of augmented data in
/// minutes, with BatchNormalization after every convolution and the hidden dense
/// layer (so they need no bias) and dropout before the classifier.
pub const CNN_BEST: &str = "Conv2D(32,3,use_bias=false) BatchNormalization relu \
     Conv2D(32,3,use_bias=false) BatchNormalization relu MaxPooling2D \
     Conv2D(64,3,use_bias=false) BatchNormalization relu \
     Conv2D(64,3,use_bias=false) BatchNormalization relu MaxPooling2D \
     Flatten Dense(128,use_bias=false) BatchNormalization relu Dropout(0.4) Dense(10,softmax)";

/// An MLP on flattened 28×28 images: the hidden layers given, then 10 softmax outputs.
pub fn mlp(name: &str, hidden: &[usize], activation: Activation) -> ModelConfig {
    let mut layers: Vec<LayerConfig> = hidden
        .iter()
        .map(|&u| LayerConfig::dense(u, activation))
        .collect();
    layers.push(LayerConfig::dense(10, Activation::Softmax));
    ModelConfig {
        name: name.to_string(),
        input_shape: vec![784],
        layers,
    }
}

fn conv(filters: usize, size: usize, padding: Padding) -> LayerConfig {
    LayerConfig::conv2d(filters, size, padding, Activation::Relu)
}

/// The tutorial's CNN; `deep` adds a third block of two 2×2 convolutions.
pub fn cnn(name: &str, deep: bool) -> ModelConfig {
    let same = Padding::Same;
    let mut layers = vec![
        conv(32, 5, same),
        conv(32, 5, same),
        LayerConfig::max_pooling2d(2),
        conv(64, 3, same),
        conv(64, 3, same),
        LayerConfig::max_pooling2d(2),
    ];
    if deep {
        layers.extend([
            conv(128, 2, same),
            conv(128, 2, same),
            LayerConfig::max_pooling2d(2),
        ]);
    }
    layers.extend([
        LayerConfig::Flatten,
        LayerConfig::dense(256, Activation::Relu),
        LayerConfig::dense(10, Activation::Softmax),
    ]);
    ModelConfig {
        name: name.to_string(),
        input_shape: vec![28, 28, 1],
        layers,
    }
}

/// Keras's "simple MNIST convnet" example.
pub fn convnet(name: &str) -> ModelConfig {
    ModelConfig {
        name: name.to_string(),
        input_shape: vec![28, 28, 1],
        layers: vec![
            conv(32, 3, Padding::Valid),
            LayerConfig::max_pooling2d(2),
            conv(64, 3, Padding::Valid),
            LayerConfig::max_pooling2d(2),
            LayerConfig::Flatten,
            LayerConfig::dropout(0.5),
            LayerConfig::dense(10, Activation::Softmax),
        ],
    }
}

/// The model called `name`: a preset, `mlp:H1,H2,...` for relu hidden layers of those
/// sizes, or a one-line stack of layers (see [`crate::stack`]).
pub fn preset(name: &str) -> Result<ModelConfig> {
    if crate::stack::looks_like_stack(name) {
        return crate::stack::parse_stack(name);
    }
    if let Some(spec) = name.strip_prefix("mlp:") {
        let hidden = spec
            .split(',')
            .map(|s| match s.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(Error::config(format!(
                    "in --model {name}: '{s}' is not a layer size (write e.g. mlp:256,128)"
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        return Ok(mlp(name, &hidden, Activation::Relu));
    }
    Ok(match name {
        "mlp-512" => mlp(name, &[512], Activation::Relu),
        "mlp-512-512" => mlp(name, &[512, 512], Activation::Relu),
        "mlp-512-1024-256" => mlp(name, &[512, 1024, 256], Activation::Relu),
        "mlp-1024-512-256-128-32" => mlp(name, &[1024, 512, 256, 128, 32], Activation::Relu),
        "dlfs" => mlp(name, &[50, 100], Activation::Sigmoid),
        "cnn" => cnn(name, false),
        "cnn-deep" => cnn(name, true),
        "convnet" => convnet(name),
        "speedrun" => speedrun(name),
        "cnn-best" => {
            let mut config = crate::stack::parse_stack(CNN_BEST)?;
            config.name = name.to_string();
            config
        }
        _ => {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
            return Err(Error::config(format!(
                "unknown model '{name}': choose one of {}, write mlp:H1,H2,..., a stack of layers such as \"Conv2D(32,3,activation=relu) MaxPooling2D Flatten Dense(10,activation=softmax)\", or give a model config .json file",
                names.join(", ")
            )));
        }
    })
}
