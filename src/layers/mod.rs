//! Layers, each in its own file and each of the same shape:
//!
//! - `forward(x, y, training)` writes the layer's output `y` for the input batch `x`
//!   and caches whatever backward needs that is not `x` or `y` themselves;
//! - `backward(x, y, dy, dx)` receives the gradient `dy` w.r.t. `y` (and may overwrite
//!   it), **accumulates** the parameter gradients into each [`Param::grad`], and writes
//!   the gradient w.r.t. `x` into `dx` unless `dx` is `None` (the first layer's input
//!   gradient is never needed, so it is never computed);
//! - `infer(x, y, scratch)` is forward for inference, through `&self`: the layer is
//!   only read, so one model serves many threads, each with its own scratch.
//!
//! The model owns the activation buffers `x`, `y`, `dy`, `dx`; a layer owns its
//! parameters and caches. Buffers keep their capacity, so a training step allocates
//! nothing once the first batch has run.

mod activation;
mod batch_norm;
mod conv2d;
mod dense;
mod dropout;
mod flatten;
pub mod geometry;
mod pooling;
mod rescaling;
mod zero_padding;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use activation::ActivationLayer;
pub use batch_norm::BatchNormalization;
pub use conv2d::Conv2D;
pub use dense::Dense;
pub use dropout::Dropout;
pub use flatten::Flatten;
pub use geometry::{Margins, Padding, Size2};
pub use pooling::{GlobalAveragePooling2D, PoolKind, Pooling2D};
pub use rescaling::Rescaling;
pub use zero_padding::ZeroPadding2D;

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::kernels::Store;
use crate::tensor::Tensor;

/// The most weights one layer may have (2^25, 128 MiB of `f32`, 38 times the largest
/// preset). A model config or a model file is anyone's input: one asking for more is
/// refused before anything is allocated, instead of aborting the process on a failed
/// allocation.
pub const MAX_LAYER_PARAMS: usize = 1 << 25;
/// The most weights a whole model may have (2^26): with their gradients, at most
/// 768 MiB while the model is built.
pub const MAX_MODEL_PARAMS: usize = 1 << 26;
/// The most values one item may have at a model's input or between two layers (2^24).
pub const MAX_ITEM_VALUES: usize = 1 << 24;
/// The largest window or stride a Conv2D or pooling layer may have.
pub const MAX_WINDOW: usize = 4096;

/// A layer's array of weights: its values and the gradient accumulated for them.
/// Non-trainable state saved with the model (batch normalization's moving
/// statistics) is a `Param` too, with `trainable == false` and no gradient.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Keras's name for it within the layer (`kernel`, `bias`, ...).
    pub name: &'static str,
    /// Its shape, in Keras's layout (a Dense kernel is `[inputs, units]`).
    pub shape: Vec<usize>,
    /// Current values, row-major.
    pub value: Vec<f32>,
    /// Gradient written by `backward` since the optimizer last consumed it
    /// (empty when not trainable, and in a model loaded from a file until it is
    /// compiled). While [`Param::grad_stale`] is set it holds a consumed one, which
    /// counts as zero.
    pub grad: Vec<f32>,
    /// Whether `grad` holds a spent gradient (applied by the optimizer, or
    /// discarded): it counts as zero, and the next backward pass writes over it
    /// ([`Param::grad_store`]). This spares every step a pass over memory zeroing
    /// the gradients, as large as the update's own passes.
    pub grad_stale: bool,
    /// Whether the optimizer updates it.
    pub trainable: bool,
    /// Whether AdamW's decoupled weight decay shrinks it (kernels, as Keras's
    /// examples exclude biases and normalization parameters), decided when the layer
    /// builds it.
    pub decays: bool,
    /// Saved state no gradient ever reaches (batch normalization's moving
    /// statistics), as opposed to a weight that is merely frozen.
    pub state: bool,
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
            grad_stale: false,
            trainable: true,
            decays: false,
            state: false,
        }
    }

    /// A layer's kernel (`kernel`), which weight decay applies to.
    pub fn kernel(shape: Vec<usize>, value: Vec<f32>) -> Self {
        Param {
            decays: true,
            ..Param::new("kernel", shape, value)
        }
    }

    /// Non-trainable state of `shape` holding `value`.
    pub fn state(name: &'static str, shape: Vec<usize>, value: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), value.len());
        Param {
            name,
            shape,
            value,
            grad: Vec::new(),
            grad_stale: false,
            trainable: false,
            decays: false,
            state: true,
        }
    }

    /// How a backward pass stores this parameter's gradient: over `grad` when that
    /// holds a spent one ([`Param::grad_stale`]), else added to it (the chunks of a
    /// batch, or gradients summed by hand). Clears the flag: a caller told to
    /// overwrite must write every value of `grad`.
    pub fn grad_store(&mut self) -> Store {
        if std::mem::take(&mut self.grad_stale) {
            Store::Overwrite
        } else {
            Store::Accumulate
        }
    }

    /// `grad`, ready for a backward pass to add its gradient to (zeroed first when it
    /// holds a spent one).
    pub fn grad_to_add(&mut self) -> &mut [f32] {
        if std::mem::take(&mut self.grad_stale) {
            self.grad.fill(0.0);
        }
        &mut self.grad
    }

    /// Marks the gradient spent (the optimizer has applied it, or the step was
    /// abandoned): it counts as zero from now on.
    pub fn spend_grad(&mut self) {
        self.grad_stale = true;
    }
}

/// One layer's buffers for inference, held by the caller (a model's
/// [`Workspace`](crate::model::Workspace) holds one per layer) and kept between
/// calls, so that inference allocates nothing once a batch size has run. Each layer
/// keeps a type of its own here; most need none.
#[derive(Default)]
pub struct LayerScratch(Option<Box<dyn std::any::Any + Send>>);

impl LayerScratch {
    /// The buffers of type `T`, made on first use (or when a layer of another kind
    /// used this scratch before).
    pub fn get<T: Default + Send + 'static>(&mut self) -> &mut T {
        if !self.0.as_ref().is_some_and(|b| b.is::<T>()) {
            self.0 = None;
        }
        let any = self.0.get_or_insert_with(|| Box::new(T::default()));
        any.downcast_mut::<T>()
            .expect("the scratch holds a T: it was checked or just made")
    }
}

impl std::fmt::Debug for LayerScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "LayerScratch(..)"
        } else {
            "LayerScratch"
        })
    }
}

/// The interface every layer implements (see the module docs for the contract).
/// `Sync`, because inference reads a model from many threads at once.
pub trait Layer: Send + Sync {
    /// The layer's name within its model (`dense`, `dense_1`, ...).
    fn name(&self) -> &str;

    /// The configuration that rebuilds this layer.
    fn config(&self) -> LayerConfig;

    /// Shape of one output item (without the batch axis).
    fn output_shape(&self) -> &[usize];

    /// Computes `y` from `x`; `training` enables dropout and batch statistics. Caches
    /// what `backward` needs.
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool);

    /// Computes `y` from `x` for inference (what `forward` computes with `training`
    /// off), reading the layer and writing only `y` and `scratch`: one model serves
    /// any number of threads, each with its own scratch.
    fn infer(&self, x: &Tensor, y: &mut Tensor, scratch: &mut LayerScratch);

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

    /// Offered the layer after this one when the model is built. A layer that can
    /// compute `next` within its own pass (a convolution pooling its output as it
    /// writes it, a batch normalization applying the relu after it) takes it and
    /// returns true: the model then gives this layer
    /// `next`'s output and output gradient, and never calls `next`, which stays in
    /// the model unchanged (its config, name and summary line).
    fn fuse_next(&mut self, _next: &dyn Layer) -> bool {
        false
    }

    /// Whether the layer only gives its input another shape, every value in the same
    /// place (`Flatten`): the model then lets the layer before it write straight into
    /// this one's output and does not call it.
    fn is_reshape(&self) -> bool {
        false
    }

    /// Floating-point operations of the forward pass per item, counting the
    /// matrix products only (2 per multiply-add); backward costs twice that (once
    /// for the parameter gradients, once for the input gradient).
    fn forward_flops(&self) -> usize {
        0
    }

    /// The layer's random stream (dropout masks) as text, for checkpoints: a resumed
    /// run must draw the same masks an uninterrupted one would.
    fn rng_state(&self) -> Option<String> {
        None
    }

    /// Restores a stream saved by [`Layer::rng_state`].
    fn set_rng_state(&mut self, _state: &str) -> crate::error::Result<()> {
        Ok(())
    }

    /// Number of values in all parameters, trainable or not.
    fn param_count(&self) -> usize {
        self.params().iter().map(|p| p.value.len()).sum()
    }

    /// Number of trainable values.
    fn trainable_param_count(&self) -> usize {
        self.params()
            .iter()
            .filter(|p| p.trainable)
            .map(|p| p.value.len())
            .sum()
    }
}

fn default_true() -> bool {
    true
}

fn default_one() -> Size2 {
    Size2::square(1)
}

fn default_two() -> Size2 {
    Size2::square(2)
}

fn default_margins() -> Margins {
    Margins([[1, 1], [1, 1]])
}

fn default_momentum() -> f32 {
    0.99
}

fn default_epsilon() -> f32 {
    1e-3
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
    /// A 2-D convolution over `[h, w, channels]` images: `y = act(conv(x, kernel) + bias)`.
    Conv2D {
        /// Number of output channels.
        filters: usize,
        /// Window size, `3` or `[3, 3]`.
        kernel_size: Size2,
        /// Step between windows (default 1).
        #[serde(default = "default_one")]
        strides: Size2,
        /// `valid` (default) or `same`.
        #[serde(default)]
        padding: Padding,
        /// Activation applied to the outputs.
        #[serde(default)]
        activation: Activation,
        /// Whether there is a bias.
        #[serde(default = "default_true")]
        use_bias: bool,
    },
    /// The largest value of each window, per channel.
    MaxPooling2D {
        /// Window size (default 2).
        #[serde(default = "default_two")]
        pool_size: Size2,
        /// Step between windows (default: the window size).
        #[serde(default)]
        strides: Option<Size2>,
        /// `valid` (default) or `same`.
        #[serde(default)]
        padding: Padding,
    },
    /// The mean of each window, per channel.
    AveragePooling2D {
        /// Window size (default 2).
        #[serde(default = "default_two")]
        pool_size: Size2,
        /// Step between windows (default: the window size).
        #[serde(default)]
        strides: Option<Size2>,
        /// `valid` (default) or `same`.
        #[serde(default)]
        padding: Padding,
    },
    /// The mean of each channel over the whole image.
    GlobalAveragePooling2D,
    /// Rows and columns of zeros around each image.
    ZeroPadding2D {
        /// The margins: `1`, `[rows, cols]` or `[[top, bottom], [left, right]]`.
        #[serde(default = "default_margins")]
        padding: Margins,
    },
    /// Normalizes each channel by batch statistics in training and by their moving
    /// averages in inference, then scales and shifts it.
    BatchNormalization {
        /// Weight of the old moving statistics in each update (default 0.99).
        #[serde(default = "default_momentum")]
        momentum: f32,
        /// Added to the variance (default 0.001).
        #[serde(default = "default_epsilon")]
        epsilon: f32,
    },
    /// `y = x · scale + offset`: standardizes or scales the input inside the model.
    Rescaling {
        /// The factor.
        scale: f32,
        /// Added after scaling (default 0).
        #[serde(default)]
        offset: f32,
    },
}

/// Keras-style constructors, for building a model in Rust:
/// `config.add(LayerConfig::dense(512, Activation::Relu))`.
impl LayerConfig {
    /// `Dense(units, activation=...)` with a bias.
    pub fn dense(units: usize, activation: Activation) -> Self {
        LayerConfig::Dense {
            units,
            activation,
            use_bias: true,
        }
    }

    /// `Conv2D(filters, (k, k), padding=..., activation=...)`, stride 1, with a bias.
    pub fn conv2d(filters: usize, kernel: usize, padding: Padding, activation: Activation) -> Self {
        LayerConfig::Conv2D {
            filters,
            kernel_size: Size2::square(kernel),
            strides: Size2::square(1),
            padding,
            activation,
            use_bias: true,
        }
    }

    /// `MaxPooling2D((p, p))`: stride = pool size, valid padding.
    pub fn max_pooling2d(pool: usize) -> Self {
        LayerConfig::MaxPooling2D {
            pool_size: Size2::square(pool),
            strides: None,
            padding: Padding::Valid,
        }
    }

    /// `Dropout(rate)`.
    pub fn dropout(rate: f32) -> Self {
        LayerConfig::Dropout { rate }
    }

    /// `Rescaling(scale, offset)`: with `scale = 1/σ` and `offset = -μ/σ`, the
    /// standardization `(x - μ) / σ`.
    pub fn standardize(mean: f32, std: f32) -> Self {
        LayerConfig::Rescaling {
            scale: 1.0 / std,
            offset: -mean / std,
        }
    }

    /// Keras's class name for the layer (`Dense`, `Dropout`, ...).
    pub fn class_name(&self) -> &'static str {
        match self {
            LayerConfig::Dense { .. } => "Dense",
            LayerConfig::Activation { .. } => "Activation",
            LayerConfig::Dropout { .. } => "Dropout",
            LayerConfig::Flatten => "Flatten",
            LayerConfig::Conv2D { .. } => "Conv2D",
            LayerConfig::MaxPooling2D { .. } => "MaxPooling2D",
            LayerConfig::AveragePooling2D { .. } => "AveragePooling2D",
            LayerConfig::GlobalAveragePooling2D => "GlobalAveragePooling2D",
            LayerConfig::ZeroPadding2D { .. } => "ZeroPadding2D",
            LayerConfig::BatchNormalization { .. } => "BatchNormalization",
            LayerConfig::Rescaling { .. } => "Rescaling",
        }
    }

    /// Keras's base name for automatic layer names: the class in snake case
    /// (`dense`, `max_pooling2d`), as [`snake_case`] writes it.
    pub fn base_name(&self) -> String {
        snake_case(self.class_name())
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
                check_params(&name, "Dense", &[input_shape[0], units])?;
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
            LayerConfig::Conv2D {
                filters,
                kernel_size,
                strides,
                padding,
                activation,
                use_bias,
            } => {
                let input = image_input(&name, "Conv2D", input_shape)?;
                if filters == 0 {
                    return Err(Error::config(format!(
                        "layer {name} (Conv2D): filters must be at least 1"
                    )));
                }
                check_window(&name, "Conv2D", "kernel_size", kernel_size, strides)?;
                let [kh, kw] = kernel_size.0;
                check_params(&name, "Conv2D", &[kh, kw, input[2], filters])?;
                Box::new(
                    Conv2D::new(
                        name.clone(),
                        input,
                        filters,
                        kernel_size,
                        strides,
                        padding,
                        activation,
                        use_bias,
                        rng,
                    )
                    .ok_or_else(|| too_small(&name, "Conv2D", kernel_size, input_shape))?,
                )
            }
            LayerConfig::MaxPooling2D {
                pool_size,
                strides,
                padding,
            }
            | LayerConfig::AveragePooling2D {
                pool_size,
                strides,
                padding,
            } => {
                let class = self.class_name();
                let kind = match self {
                    LayerConfig::MaxPooling2D { .. } => PoolKind::Max,
                    _ => PoolKind::Average,
                };
                let input = image_input(&name, class, input_shape)?;
                let strides = strides.unwrap_or(pool_size);
                check_window(&name, class, "pool_size", pool_size, strides)?;
                Box::new(
                    Pooling2D::new(name.clone(), kind, input, pool_size, strides, padding)
                        .ok_or_else(|| too_small(&name, class, pool_size, input_shape))?,
                )
            }
            LayerConfig::GlobalAveragePooling2D => {
                let input = image_input(&name, "GlobalAveragePooling2D", input_shape)?;
                Box::new(GlobalAveragePooling2D::new(name, input))
            }
            LayerConfig::ZeroPadding2D { padding } => {
                let input = image_input(&name, "ZeroPadding2D", input_shape)?;
                Box::new(ZeroPadding2D::new(name, input, padding))
            }
            LayerConfig::BatchNormalization { momentum, epsilon } => {
                if !((0.0..=1.0).contains(&momentum) && epsilon > 0.0 && epsilon.is_finite()) {
                    return Err(Error::config(format!(
                        "layer {name} (BatchNormalization): momentum must be in [0, 1] and epsilon positive, got {momentum} and {epsilon}"
                    )));
                }
                Box::new(BatchNormalization::new(
                    name,
                    input_shape,
                    momentum,
                    epsilon,
                ))
            }
            LayerConfig::Rescaling { scale, offset } => {
                if !(scale.is_finite() && offset.is_finite()) {
                    return Err(Error::config(format!(
                        "layer {name} (Rescaling): scale and offset must be finite, got {scale} and {offset}"
                    )));
                }
                Box::new(Rescaling::new(name, input_shape, scale, offset))
            }
        })
    }
}

/// The `[h, w, channels]` of an image input, or an error naming the layer.
fn image_input(name: &str, class: &str, shape: &[usize]) -> Result<[usize; 3]> {
    match *shape {
        [h, w, c] => Ok([h, w, c]),
        _ => Err(Error::config(format!(
            "layer {name} ({class}) needs image inputs of shape (height, width, channels), got {}; give the model input_shape [28, 28, 1]",
            shape_str(shape)
        ))),
    }
}

fn check_window(name: &str, class: &str, what: &str, size: Size2, strides: Size2) -> Result<()> {
    let all = || size.0.iter().chain(&strides.0);
    if all().any(|&v| v == 0 || v > MAX_WINDOW) {
        return Err(Error::config(format!(
            "layer {name} ({class}): {what} and strides must be between 1 and {MAX_WINDOW}, got {size} and {strides}"
        )));
    }
    Ok(())
}

/// Refuses a layer whose weight array of shape `dims` would exceed [`MAX_LAYER_PARAMS`].
fn check_params(name: &str, class: &str, dims: &[usize]) -> Result<()> {
    match dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
        Some(n) if n <= MAX_LAYER_PARAMS => Ok(()),
        _ => Err(Error::config(format!(
            "layer {name} ({class}) would have {} weights, more than the limit of {MAX_LAYER_PARAMS}",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(" x ")
        ))),
    }
}

/// Refuses a per-item shape of more than [`MAX_ITEM_VALUES`] values; `what` names it.
pub fn check_item_shape(what: &str, shape: &[usize]) -> Result<()> {
    match shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
        Some(n) if n <= MAX_ITEM_VALUES => Ok(()),
        _ => Err(Error::config(format!(
            "{what} {} has more than {MAX_ITEM_VALUES} values per item; refusing",
            shape_str(shape)
        ))),
    }
}

fn too_small(name: &str, class: &str, window: Size2, shape: &[usize]) -> Error {
    Error::config(format!(
        "layer {name} ({class}): a {window} window does not fit its input {} with padding 'valid'; use padding 'same' or fewer pooling layers",
        shape_str(shape)
    ))
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

/// `Dense` -> `dense`, `Conv2D` -> `conv2d`, `BatchNormalization` ->
/// `batch_normalization`: a Keras class name as Keras names its layers and the
/// objects it saves.
pub fn snake_case(class: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in class.chars() {
        // A capital starts a word unless it follows a capital or a digit (`Conv2D`).
        if c.is_ascii_uppercase()
            && prev.is_some_and(|p| !(p.is_ascii_uppercase() || p.is_ascii_digit()))
        {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
        prev = Some(c);
    }
    out
}

/// Keras's automatic names: the first layer of a kind is called by its base name
/// (`dense`), the next ones numbered (`dense_1`, `dense_2`, ...).
#[derive(Debug, Default)]
pub struct AutoNames(std::collections::HashMap<String, usize>);

impl AutoNames {
    /// The next name for a layer of base name `base`.
    pub fn next(&mut self, base: &str) -> String {
        let k = self.0.entry(base.to_string()).or_default();
        let name = if *k == 0 {
            base.to_string()
        } else {
            format!("{base}_{k}")
        };
        *k += 1;
        name
    }
}

#[cfg(test)]
mod tests {
    use super::{AutoNames, LayerConfig, Padding, snake_case};
    use crate::activations::Activation;

    #[test]
    fn class_names_in_snake_case_as_keras_names_them() {
        assert_eq!(snake_case("Dense"), "dense");
        assert_eq!(snake_case("Conv2D"), "conv2d");
        assert_eq!(snake_case("BatchNormalization"), "batch_normalization");
        assert_eq!(
            snake_case("GlobalAveragePooling2D"),
            "global_average_pooling2d"
        );
        assert_eq!(snake_case("ZeroPadding2D"), "zero_padding2d");
        let pool = LayerConfig::max_pooling2d(2);
        assert_eq!(pool.base_name(), "max_pooling2d");
        let conv = LayerConfig::conv2d(8, 3, Padding::Valid, Activation::Relu);
        assert_eq!(conv.base_name(), "conv2d");
    }

    #[test]
    fn automatic_names_number_each_kind_apart() {
        let mut names = AutoNames::default();
        let got: Vec<String> = ["dense", "conv2d", "dense", "dense", "conv2d"]
            .iter()
            .map(|b| names.next(b))
            .collect();
        assert_eq!(got, ["dense", "conv2d", "dense_1", "dense_2", "conv2d_1"]);
    }
}
