//! The tutorials' networks by name, and the `mlp:256,128` shorthand.

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::layers::LayerConfig;
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
];

fn dense(units: usize, activation: Activation) -> LayerConfig {
    LayerConfig::Dense {
        units,
        activation,
        use_bias: true,
    }
}

/// An MLP on flattened 28×28 images: the hidden layers given, then 10 softmax outputs.
pub fn mlp(name: &str, hidden: &[usize], activation: Activation) -> ModelConfig {
    let mut layers: Vec<LayerConfig> = hidden.iter().map(|&u| dense(u, activation)).collect();
    layers.push(dense(10, Activation::Softmax));
    ModelConfig {
        name: name.to_string(),
        input_shape: vec![784],
        layers,
    }
}

/// The model called `name`: a preset, or `mlp:H1,H2,...` for relu hidden layers of
/// those sizes.
pub fn preset(name: &str) -> Result<ModelConfig> {
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
        _ => {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
            return Err(Error::config(format!(
                "unknown model '{name}': choose one of {}, write mlp:H1,H2,... or give a model config .json file",
                names.join(", ")
            )));
        }
    })
}
