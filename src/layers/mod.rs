//! Layers, each in its own file and each of the same shape:
//!
//! - `forward(x, y, training)` writes the layer's output `y` for the input batch `x`
//!   and caches whatever backward needs that is not `x` or `y` themselves;
//! - `backward(x, y, dy, dx)` receives the gradient `dy` w.r.t. `y` (and may overwrite
//!   it), **accumulates** the parameter gradients into each [`Param::grad`], and writes
//!   the gradient w.r.t. `x` into `dx` unless `dx` is `None` (the first layer's input
//!   gradient is never needed, so it is never computed).
//!
//! The model owns the activation buffers `x`, `y`, `dy`, `dx`; a layer owns its
//! parameters and caches. Buffers keep their capacity, so a training step allocates
//! nothing once the first batch has run.

mod activation;
mod dense;
mod dropout;
mod flatten;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use activation::ActivationLayer;
pub use dense::Dense;
pub use dropout::Dropout;
pub use flatten::Flatten;

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// A trainable array: its values and the gradient accumulated for them.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Keras's name for it within the layer (`kernel`, `bias`, ...).
    pub name: &'static str,
    /// Its shape, in Keras's layout (a Dense kernel is `[inputs, units]`).
    pub shape: Vec<usize>,
    /// Current values, row-major.
    pub value: Vec<f32>,
    /// Gradient accumulated by `backward` since the optimizer last consumed it.
    pub grad: Vec<f32>,
}

impl Param {
    /// A parameter of `shape` holding `value`, with a zero gradient.
    pub fn new(name: &'static str, shape: Vec<usize>, value: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), value.len());
        let grad = vec![0.0; value.len()];
        Param {
            name,
            shape,
            value,
            grad,
        }
    }
}

/// The interface every layer implements (see the module docs for the contract).
pub trait Layer: Send {
    /// The layer's name within its model (`dense`, `dense_1`, ...).
    fn name(&self) -> &str;

    /// The configuration that rebuilds this layer.
    fn config(&self) -> LayerConfig;

    /// Shape of one output item (without the batch axis).
    fn output_shape(&self) -> &[usize];

    /// Computes `y` from `x`; `training` enables dropout and batch statistics.
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool);

    /// Back-propagates `dy` (see the module docs).
    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>);

    /// The layer's parameters, in a fixed order.
    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }

    /// Visits the parameters mutably, in the same order as [`Layer::params`].
    fn for_each_param_mut(&mut self, _f: &mut dyn FnMut(&mut Param)) {}

    /// Called when the model's loss is categorical cross-entropy: a layer whose output
    /// activation is softmax then takes `dy` as the gradient w.r.t. its logits, which
    /// the loss computes exactly as `(p - t) / n`. Returns whether it did so.
    fn fuse_softmax_with_loss(&mut self) -> bool {
        false
    }

    /// Number of trainable values.
    fn param_count(&self) -> usize {
        self.params().iter().map(|p| p.value.len()).sum()
    }
}

fn default_true() -> bool {
    true
}

/// A layer's configuration: what a model file or a model config JSON stores, and what
/// [`LayerConfig::build`] turns into a layer. The JSON form is tagged by `type`, e.g.
/// `{"type": "Dense", "units": 512, "activation": "relu"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum LayerConfig {
    /// A fully connected layer: `y = act(x · kernel + bias)`.
    Dense {
        /// Number of outputs.
        units: usize,
        /// Activation applied to the outputs.
        #[serde(default)]
        activation: Activation,
        /// Whether there is a bias.
        #[serde(default = "default_true")]
        use_bias: bool,
    },
    /// An activation on its own.
    Activation {
        /// The function.
        activation: Activation,
    },
    /// Inverted dropout: in training, zeroes each value with probability `rate` and
    /// scales the rest by `1 / (1 - rate)`; the identity in inference.
    Dropout {
        /// Fraction of values dropped, in `[0, 1)`.
        rate: f32,
    },
    /// Flattens each item to one axis.
    Flatten,
}

impl LayerConfig {
    /// Keras's class name for the layer (`Dense`, `Dropout`, ...).
    pub fn class_name(&self) -> &'static str {
        match self {
            LayerConfig::Dense { .. } => "Dense",
            LayerConfig::Activation { .. } => "Activation",
            LayerConfig::Dropout { .. } => "Dropout",
            LayerConfig::Flatten => "Flatten",
        }
    }

    /// Keras's base name for automatic layer names (`dense`, `dropout`, ...).
    pub fn base_name(&self) -> &'static str {
        match self {
            LayerConfig::Dense { .. } => "dense",
            LayerConfig::Activation { .. } => "activation",
            LayerConfig::Dropout { .. } => "dropout",
            LayerConfig::Flatten => "flatten",
        }
    }

    /// Builds the layer for inputs of `input_shape` (without the batch axis). Weights
    /// are drawn from `rng`; `seed` seeds the layer's own randomness (dropout masks).
    pub fn build(
        &self,
        name: String,
        input_shape: &[usize],
        rng: &mut ChaCha8Rng,
        seed: u64,
    ) -> Result<Box<dyn Layer>> {
        Ok(match *self {
            LayerConfig::Dense {
                units,
                activation,
                use_bias,
            } => {
                if input_shape.len() != 1 {
                    return Err(Error::config(format!(
                        "layer {name} (Dense) needs a flat input, got shape {}; add a Flatten layer before it",
                        shape_str(input_shape)
                    )));
                }
                if units == 0 {
                    return Err(Error::config(format!(
                        "layer {name} (Dense): units must be at least 1"
                    )));
                }
                Box::new(Dense::new(
                    name,
                    input_shape[0],
                    units,
                    activation,
                    use_bias,
                    rng,
                ))
            }
            LayerConfig::Activation { activation } => {
                Box::new(ActivationLayer::new(name, input_shape, activation))
            }
            LayerConfig::Dropout { rate } => {
                if !(0.0..1.0).contains(&rate) {
                    return Err(Error::config(format!(
                        "layer {name} (Dropout): rate must be in [0, 1), got {rate}"
                    )));
                }
                Box::new(Dropout::new(name, input_shape, rate, seed))
            }
            LayerConfig::Flatten => Box::new(Flatten::new(name, input_shape)),
        })
    }
}

/// Formats a per-item shape as Keras prints it, with the batch axis: `(None, 28, 28, 1)`.
pub fn shape_str(shape: &[usize]) -> String {
    let mut s = String::from("(None");
    for d in shape {
        s.push_str(&format!(", {d}"));
    }
    s.push(')');
    s
}
