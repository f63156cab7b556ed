//! What a model is made of: [`ModelConfig`] (its layers, what a model file and a
//! config JSON hold) and [`Output`] (what its last layer emits).

use serde::{Deserialize, Serialize};

use super::keras_config;
use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::layers::LayerConfig;

/// A model's architecture: what a model file stores and a model config JSON holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A name for the model (a preset's name, or the user's).
    pub name: String,
    /// Shape of one input item without the batch axis: `[784]` or `[28, 28, 1]`.
    pub input_shape: Vec<usize>,
    /// The layers, input to output.
    pub layers: Vec<LayerConfig>,
}

impl ModelConfig {
    /// An empty model taking items of `input_shape` (`[784]` flat, `[28, 28, 1]` images);
    /// add layers with [`ModelConfig::add`], like Keras's `Sequential.add`.
    ///
    /// ```
    /// use scrawl::{activations::Activation, layers::LayerConfig, model::{ModelConfig, Sequential}};
    /// let mut config = ModelConfig::new("mlp", &[784]);
    /// config.add(LayerConfig::dense(512, Activation::Relu));
    /// config.add(LayerConfig::dense(10, Activation::Softmax));
    /// let model = Sequential::new(config, 42).unwrap();
    /// assert_eq!(model.param_count(), 784 * 512 + 512 + 512 * 10 + 10);
    /// ```
    pub fn new(name: &str, input_shape: &[usize]) -> Self {
        ModelConfig {
            name: name.to_string(),
            input_shape: input_shape.to_vec(),
            layers: Vec::new(),
        }
    }

    /// Appends a layer (Keras's `model.add`); returns `self` so calls can chain.
    pub fn add(&mut self, layer: LayerConfig) -> &mut Self {
        self.layers.push(layer);
        self
    }

    /// Reads a model config from a JSON file.
    pub fn from_json_file(path: &std::path::Path) -> Result<Self> {
        let text = crate::files::read_text_limited(path, 16 << 20, "a model config")?;
        Self::from_json(&text, path)
    }

    /// Parses a model config from JSON text, in scrawl's form or in Keras's own
    /// (`model.to_json()`, `model.get_config()`: see [`keras_config`]); `path` is only
    /// used in messages.
    pub fn from_json(text: &str, path: &std::path::Path) -> Result<Self> {
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(text)
            && keras_config::is_keras(&json)
        {
            return keras_config::from_keras(&json).map_err(|e| Error::format(path, e.to_string()));
        }
        serde_json::from_str(text).map_err(|e| {
            Error::format(
                path,
                format!(
                    "not a valid model config (line {}, column {}): {e}",
                    e.line(),
                    e.column()
                ),
            )
        })
    }
}

/// What a model's last layer emits, decided once when the model is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Class probabilities: the last layer ends in softmax.
    Probabilities,
    /// Logits: the last layer has no activation (PyTorch's habit, Keras's
    /// `from_logits=True`). Training takes the softmax inside the loss, and
    /// `evaluate`, `predict`, `serve` and the ONNX export report `softmax(logits)`.
    Logits,
}

impl Output {
    /// What the layers of `config` emit, or why they cannot be a classifier: a last
    /// activation such as relu, sigmoid or tanh gives no probabilities, and training on
    /// it as if it did scores 10% while printing a loss of 0.
    pub fn of(config: &ModelConfig) -> Result<Output> {
        let mut after_last: Vec<&LayerConfig> = Vec::new();
        for layer in config.layers.iter().rev() {
            let activation = match layer {
                LayerConfig::Dense { activation, .. }
                | LayerConfig::Conv2D { activation, .. }
                | LayerConfig::Activation { activation } => *activation,
                _ => {
                    after_last.push(layer);
                    continue;
                }
            };
            return match activation {
                Activation::Linear => Ok(Output::Logits),
                Activation::Softmax
                    if after_last.iter().all(|l| matches!(l, LayerConfig::Flatten)) =>
                {
                    Ok(Output::Probabilities)
                }
                Activation::Softmax => Err(Error::config(format!(
                    "model '{}': softmax must come last, but {} follows it; put the softmax after it",
                    config.name,
                    after_last.last().map_or("a layer", |l| l.class_name())
                ))),
                other => Err(Error::config(format!(
                    "model '{}' ends in {}, which does not give class probabilities: end with a softmax \
                     (Dense(10, softmax)) or with no activation (Dense(10): logits, the softmax is then \
                     taken inside the loss, as PyTorch's CrossEntropyLoss and Keras's from_logits=True)",
                    config.name,
                    other.name()
                ))),
            };
        }
        Ok(Output::Logits)
    }
}
