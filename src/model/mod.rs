//! `Sequential`: a stack of layers, with Keras's `compile`, one training step,
//! `evaluate` and `predict` (`fit`, its epochs and callbacks, are in [`crate::train`]).
//!
//! The model owns one activation buffer per layer boundary (`acts[0]` is the input
//! batch, `acts[i + 1]` the output of layer `i`) and one gradient buffer for each.
//! They grow to the largest batch seen and are then reused, so a training step
//! allocates nothing.
//!
//! Inference (`evaluate`, `predict`, [`Sequential::predict_with`]: `inference.rs`)
//! reads the model through `&self` and keeps its buffers in a [`Workspace`] of the
//! caller's, so one model serves many threads at once. What a model is made of
//! ([`ModelConfig`], [`Output`]) is in `config.rs`; which layers the passes call, in
//! `passes.rs`.

mod config;
pub mod ensemble;
mod inference;
pub mod io;
pub mod keras_config;
mod passes;
pub mod summary;

pub use config::{ModelConfig, Output};
use inference::WorkspacePool;
pub use inference::{Evaluation, Workspace};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::activations::Activation;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::layers::{Layer, LayerConfig, Param};
use crate::loss::{BatchStats, Loss};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::tensor::Tensor;

/// The most bytes of activations a batch may take: half of the memory this process
/// may use (the smaller of the machine's memory and its address-space limit, as set
/// by `ulimit -v`), at most 8 GiB. Read once per process: a server asks on every
/// request.
pub fn memory_budget() -> u64 {
    static BUDGET: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(read_memory_budget)
}

fn read_memory_budget() -> u64 {
    const CAP: u64 = 8 << 30;
    let mut limit = CAP * 2;
    if let Ok(text) = std::fs::read_to_string("/proc/meminfo")
        && let Some(kib) = text
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    {
        limit = limit.min(kib.saturating_mul(1024));
    }
    #[cfg(unix)]
    {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct it is given and nothing else.
        if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut r) } == 0
            && r.rlim_cur != libc::RLIM_INFINITY
        {
            // rlim_t is u64 on Linux, but not on every Unix.
            #[allow(clippy::unnecessary_cast)]
            let cur = r.rlim_cur as u64;
            limit = limit.min(cur);
        }
    }
    (limit / 2).min(CAP)
}

/// A linear stack of layers.
pub struct Sequential {
    config: ModelConfig,
    pub(crate) layers: Vec<Box<dyn Layer>>,
    /// The layers the passes call and the buffers they write ([`passes`]): a layer
    /// that another runs ([`Layer::fuse_next`]) and a reshape after a called layer
    /// are skipped, and their `acts` and `grads` stay unused.
    passes: Vec<passes::Pass>,
    acts: Vec<Tensor>,
    grads: Vec<Tensor>,
    labels: Vec<u8>,
    pub(crate) loss: Loss,
    /// What the last layer emits: probabilities, or logits that the model turns into
    /// probabilities itself.
    output: Output,
    /// The class probabilities of the last batch when the model emits logits
    /// (`softmax(acts[L])`); `acts[L]` keeps the logits for backward.
    probs: Tensor,
    /// The loss's gradient is w.r.t. the logits: the last layer's softmax is fused with
    /// the loss (see `Layer::fuse_softmax_with_loss`), or the model emits logits.
    logits_grad: bool,
    pub(crate) optimizer: Option<Box<dyn Optimizer>>,
    /// The first layer with a trainable weight (decided at `compile` and `freeze`):
    /// backward stops there, and computes no input gradient for it, since nothing
    /// before it learns (a Rescaling first, or frozen layers).
    first_trained: usize,
    /// Whether a layer normalizes by the batch's statistics (BatchNormalization), so
    /// that a training batch cannot be cut into chunks.
    batch_statistics: bool,
    /// Workspaces of earlier `predict` and `predict_values` calls, lent to the next
    /// ones: a fresh workspace costs its allocations and first-touch page faults on
    /// every call (a tenth of `cnn`'s inference time at batch 1000, more at batch 1).
    spare: WorkspacePool,
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequential")
            .field("name", &self.config.name)
            .field(
                "layers",
                &self.layers.iter().map(|l| l.name()).collect::<Vec<_>>(),
            )
            .field("params", &self.param_count())
            .finish()
    }
}

impl Sequential {
    /// Builds the model, initializing its weights from `seed`.
    pub fn new(config: ModelConfig, seed: u64) -> Result<Self> {
        if config.layers.is_empty() {
            return Err(Error::config(format!(
                "model '{}' has no layers",
                config.name
            )));
        }
        if config.input_shape.is_empty() || config.input_shape.contains(&0) {
            return Err(Error::config(format!(
                "model '{}': input_shape must be non-empty with no zero axis, got {:?}",
                config.name, config.input_shape
            )));
        }
        if config.input_shape.len() > 3 {
            return Err(Error::config(format!(
                "model '{}': input_shape {:?} has {} axes; scrawl's inputs are flat ([784]) or images ([28, 28, 1]), at most 3 axes",
                config.name,
                config.input_shape,
                config.input_shape.len()
            )));
        }
        crate::layers::check_item_shape(
            &format!("model '{}': input_shape", config.name),
            &config.input_shape,
        )?;
        let output = Output::of(&config)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut layers: Vec<Box<dyn Layer>> = Vec::with_capacity(config.layers.len());
        let mut shape = config.input_shape.clone();
        let mut names = crate::layers::AutoNames::default();
        let mut params = 0usize;
        for (i, lc) in config.layers.iter().enumerate() {
            let name = names.next(&lc.base_name());
            let layer_seed = seed ^ 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i as u64 + 1);
            let layer = lc.build(name, &shape, &mut rng, layer_seed)?;
            shape = layer.output_shape().to_vec();
            crate::layers::check_item_shape(
                &format!(
                    "model '{}': the output of layer {}",
                    config.name,
                    layer.name()
                ),
                &shape,
            )?;
            params += layer.params().iter().map(|p| p.value.len()).sum::<usize>();
            if params > crate::layers::MAX_MODEL_PARAMS {
                return Err(Error::config(format!(
                    "model '{}' would have more than {} weights by layer {}; refusing",
                    config.name,
                    crate::layers::MAX_MODEL_PARAMS,
                    layer.name()
                )));
            }
            layers.push(layer);
        }
        if shape.len() != 1 {
            return Err(Error::config(format!(
                "model '{}' must end in a flat layer of class scores, but its output shape is {}",
                config.name,
                crate::layers::shape_str(&shape)
            )));
        }
        let n = layers.len() + 1;
        let batch_statistics = config
            .layers
            .iter()
            .any(|l| matches!(l, LayerConfig::BatchNormalization { .. }));
        let passes = passes::plan(&mut layers);
        let mut model = Sequential {
            config,
            layers,
            passes,
            acts: vec![Tensor::default(); n],
            grads: vec![Tensor::default(); n],
            labels: Vec::new(),
            loss: Loss::default(),
            output,
            probs: Tensor::default(),
            logits_grad: false,
            optimizer: None,
            first_trained: 0,
            batch_statistics,
            spare: WorkspacePool::default(),
        };
        model.set_loss(Loss::default());
        Ok(model)
    }

    /// The architecture.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The layers, input to output.
    pub fn layers(&self) -> &[Box<dyn Layer>] {
        &self.layers
    }

    /// Values per input item.
    pub fn input_len(&self) -> usize {
        self.config.input_shape.iter().product()
    }

    /// Number of classes the model scores.
    pub fn classes(&self) -> usize {
        self.layers
            .last()
            .map_or(0, |l| l.output_shape().iter().product())
    }

    /// Values in all parameters, trainable or not (Keras's "Total params").
    pub fn param_count(&self) -> usize {
        self.layers.iter().map(|l| l.param_count()).sum()
    }

    /// Floating-point operations of one training step per image (forward, parameter
    /// gradients, and input gradients for every layer but the first), counting the
    /// matrix products only: the usual way to turn images per second into GFLOP/s.
    pub fn training_flops_per_item(&self) -> usize {
        let fwd: Vec<usize> = self.layers.iter().map(|l| l.forward_flops()).collect();
        3 * fwd.iter().sum::<usize>() - fwd.first().copied().unwrap_or(0)
    }

    /// Floating-point operations of inference per image (see
    /// [`Sequential::training_flops_per_item`]).
    pub fn inference_flops_per_item(&self) -> usize {
        self.layers.iter().map(|l| l.forward_flops()).sum()
    }

    /// Trainable values in all layers.
    pub fn trainable_param_count(&self) -> usize {
        self.layers.iter().map(|l| l.trainable_param_count()).sum()
    }

    /// Keras's `layer.trainable = False`: the optimizer leaves the weights of the layer
    /// named `name` as they are. Call before [`Sequential::compile`]. Batch
    /// normalization cannot be frozen: its moving statistics would still follow the
    /// new data (Keras switches a frozen one to inference mode; scrawl does not).
    pub fn freeze(&mut self, name: &str) -> Result<()> {
        let names: Vec<String> = self.layers.iter().map(|l| l.name().to_string()).collect();
        let Some(layer) = self.layers.iter_mut().find(|l| l.name() == name) else {
            return Err(Error::config(format!(
                "no layer named '{name}' to freeze; the layers are {}",
                names.join(", ")
            )));
        };
        if matches!(layer.config(), LayerConfig::BatchNormalization { .. }) {
            return Err(Error::config(format!(
                "{name} is a BatchNormalization layer, which cannot be frozen (its moving statistics would still change)"
            )));
        }
        if layer.params().is_empty() {
            return Err(Error::config(format!("{name} has no weights to freeze")));
        }
        layer.for_each_param_mut(&mut |p| p.trainable = false);
        self.find_first_trained();
        Ok(())
    }

    /// Sets [`Sequential::first_trained`].
    fn find_first_trained(&mut self) {
        self.first_trained = self
            .layers
            .iter()
            .position(|l| l.params().iter().any(|p| p.trainable))
            .unwrap_or(self.layers.len());
    }

    /// The pairs of layers that run as one pass, by name ([`Layer::fuse_next`]): a
    /// convolution and the max pooling after it, a batch normalization and the relu
    /// after it. Their output, gradients and weights
    /// are the same, to the bit, as those of the two layers run apart.
    pub fn fused_layers(&self) -> Vec<(&str, &str)> {
        let pairs = self.passes.iter().filter_map(|p| Some((p.layer, p.fused?)));
        pairs
            .map(|(a, b)| (self.layers[a].name(), self.layers[b].name()))
            .collect()
    }

    /// The share of their starting values (mean 0, variance 1) that the moving
    /// statistics of the model's BatchNormalization layers still hold after `steps`
    /// training steps from those values: `momentum^steps`, the largest over the
    /// layers; `None` without BatchNormalization. Validation, `evaluate` and `predict`
    /// normalize by the moving statistics, so while the share is large they score
    /// the model below what its training accuracy says, as Keras does: at its
    /// default momentum of 0.99 the share falls under 1% only after 459 steps.
    pub fn moving_statistics_start_share(&self, steps: u64) -> Option<f64> {
        self.config
            .layers
            .iter()
            .filter_map(|l| match l {
                LayerConfig::BatchNormalization { momentum, .. } => Some(*momentum as f64),
                _ => None,
            })
            .map(|m| m.powf(steps as f64))
            .reduce(f64::max)
    }

    /// Every parameter with its full name (`dense/kernel`, `dense/bias`, ...), in order.
    pub fn named_params(&self) -> Vec<(String, &Param)> {
        self.layers
            .iter()
            .flat_map(|l| {
                l.params()
                    .into_iter()
                    .map(move |p| (format!("{}/{}", l.name(), p.name), p))
            })
            .collect()
    }

    /// Visits every parameter mutably with its full name, in order.
    pub fn for_each_param_mut(&mut self, mut f: impl FnMut(&str, &mut Param)) {
        for layer in &mut self.layers {
            let lname = layer.name().to_string();
            layer.for_each_param_mut(&mut |p| f(&format!("{lname}/{}", p.name), p));
        }
    }

    /// Frees every gradient buffer: a model loaded for inference carries none. The
    /// next [`Sequential::compile`] (or gradient computation) allocates them again.
    pub fn release_gradients(&mut self) {
        for layer in &mut self.layers {
            layer.for_each_param_mut(&mut |p| p.grad = Vec::new());
        }
    }

    /// Gives every weight (frozen ones too: backward still writes their gradient) a
    /// zeroed gradient buffer where it has none.
    fn ensure_gradients(&mut self) {
        for layer in &mut self.layers {
            layer.for_each_param_mut(&mut |p| {
                if !p.state && p.grad.len() != p.value.len() {
                    p.grad = vec![0.0; p.value.len()];
                    p.grad_stale = false;
                }
            });
        }
    }

    /// Whether the parameters hold gradient buffers (not after loading a model
    /// file, until it is compiled).
    pub fn has_gradients(&self) -> bool {
        self.layers
            .iter()
            .flat_map(|l| l.params())
            .filter(|p| !p.state)
            .all(|p| p.grad.len() == p.value.len())
    }

    /// Keras's `compile`: sets the optimizer and the loss.
    pub fn compile(&mut self, optimizer: &OptimizerConfig, loss: Loss) -> Result<()> {
        self.ensure_gradients();
        self.optimizer = Some(optimizer.build()?);
        self.set_loss(loss);
        self.find_first_trained();
        Ok(())
    }

    fn set_loss(&mut self, loss: Loss) {
        self.loss = loss;
        self.logits_grad = match self.output {
            Output::Logits => true,
            Output::Probabilities => self
                .layers
                .last_mut()
                .is_some_and(|l| l.fuse_softmax_with_loss()),
        };
    }

    /// What the last layer emits (probabilities or logits).
    pub fn output_kind(&self) -> Output {
        self.output
    }

    /// The optimizer set by [`Sequential::compile`].
    pub fn optimizer(&self) -> Option<&dyn Optimizer> {
        self.optimizer.as_deref()
    }

    /// The optimizer, mutable (to change its learning rate, or restore its state).
    pub fn optimizer_mut(&mut self) -> Option<&mut (dyn Optimizer + 'static)> {
        self.optimizer.as_deref_mut()
    }

    /// Values one item keeps between layers: the input and every layer's output.
    pub fn activation_values_per_item(&self) -> usize {
        self.input_len()
            + self
                .layers
                .iter()
                .map(|l| l.output_shape().iter().product::<usize>())
                .sum::<usize>()
    }

    /// Bytes of activations a batch of `n` items needs: every layer boundary's values,
    /// and in training their gradients and what layers keep for backward (masks,
    /// winners, normalized inputs), about three times as much.
    pub fn batch_bytes(&self, n: usize, training: bool) -> u128 {
        let copies = if training { 3 } else { 1 };
        self.activation_values_per_item() as u128 * 4 * copies * n as u128
    }

    /// Refuses a batch of `n` items whose activations would not fit in memory, with
    /// what it needs and the largest batch that fits, before anything is allocated: a
    /// model within every per-layer limit can still need tens of gigabytes per batch.
    pub fn check_batch(&self, n: usize, training: bool) -> Result<()> {
        let need = self.batch_bytes(n, training);
        let budget = memory_budget() as u128;
        if need <= budget {
            return Ok(());
        }
        let per_item = self.batch_bytes(1, training).max(1);
        let fits = budget / per_item;
        let mib = |b: u128| (b >> 20).max(1);
        let advice = if fits == 0 {
            "even one image does not fit: make the model smaller".to_string()
        } else {
            format!("use a batch size of {fits} or less (--batch-size {fits})")
        };
        Err(Error::config(format!(
            "model '{}': a batch of {n} {} needs about {} MiB of activations ({} MiB per image), more than the {} MiB scrawl allows itself here (half of the memory available); {advice}",
            self.config.name,
            if training {
                "in training"
            } else {
                "at inference"
            },
            mib(need),
            (per_item >> 20).max(1).min(mib(need)),
            mib(budget),
        )))
    }

    /// Checks that `data` fits the model's input and output.
    pub fn check_data(&self, data: &Dataset) -> Result<()> {
        if data.sample_len() != self.input_len() {
            return Err(Error::Shape(format!(
                "model '{}' takes inputs of shape {:?} ({} values) but the images are {:?} ({} values)",
                self.config.name,
                self.config.input_shape,
                self.input_len(),
                data.image_shape,
                data.sample_len()
            )));
        }
        if data.classes > self.classes() {
            return Err(Error::Shape(format!(
                "model '{}' scores {} classes but the data has {}",
                self.config.name,
                self.classes(),
                data.classes
            )));
        }
        Ok(())
    }

    /// Copies the images at `indices` into the input buffer, scaled to [0, 1], and
    /// their labels into `labels`.
    fn load_batch(&mut self, data: &Dataset, indices: &[usize]) {
        let mut x = std::mem::take(&mut self.acts[0]);
        let mut labels = std::mem::take(&mut self.labels);
        self.load_images(data, indices, &mut x, &mut labels);
        self.acts[0] = x;
        self.labels = labels;
    }

    /// Writes the images at `indices` into `x`, scaled to [0, 1], and their labels
    /// into `labels`.
    fn load_images(&self, data: &Dataset, indices: &[usize], x: &mut Tensor, labels: &mut Vec<u8>) {
        let mut shape = [0usize; 5];
        shape[0] = indices.len();
        let rank = self.config.input_shape.len().min(4);
        shape[1..=rank].copy_from_slice(&self.config.input_shape[..rank]);
        x.set_shape(&shape[..=rank]);
        let len = data.sample_len();
        for (dst, &i) in x.data_mut().chunks_exact_mut(len).zip(indices) {
            for (d, &p) in dst.iter_mut().zip(data.image(i)) {
                *d = pixel(p);
            }
        }
        labels.clear();
        labels.extend(indices.iter().map(|&i| data.labels[i]));
    }

    /// Runs every layer on the input buffer; a model that emits logits then also
    /// turns them into probabilities (into `probs`, keeping the logits for backward).
    fn forward_pass(&mut self, training: bool) {
        for p in &self.passes {
            let (head, tail) = self.acts.split_at_mut(p.layer + 1);
            let out = &mut tail[p.out - p.layer - 1];
            self.layers[p.layer].forward(&head[p.layer], out, training);
            p.after_forward(out);
        }
        if self.output == Output::Logits {
            let logits = &self.acts[self.layers.len()];
            self.probs.set_shape(logits.shape());
            self.probs.data_mut().copy_from_slice(logits.data());
            let k = logits.row_len();
            for row in self.probs.data_mut().chunks_exact_mut(k) {
                Activation::Softmax.forward_row(row);
            }
        }
    }

    /// Runs every layer's backward, last to first, from the loss gradient in `grads[L]`.
    fn backward_pass(&mut self) {
        let passes = self.passes.iter().rev();
        for p in passes.filter(|p| p.layer >= self.first_trained) {
            let i = p.layer;
            let (lo, hi) = self.grads.split_at_mut(i + 1);
            let dx = if i > self.first_trained {
                Some(&mut lo[i])
            } else {
                None
            };
            let dy = &mut hi[p.out - i - 1];
            p.before_backward(dy);
            p.before_backward(&mut self.acts[p.out]);
            self.layers[i].backward(&self.acts[i], &self.acts[p.out], dy, dx);
        }
    }

    fn apply_gradients(&mut self) {
        let Some(opt) = self.optimizer.as_mut() else {
            return;
        };
        opt.begin_step();
        let mut slot = 0;
        for layer in &mut self.layers {
            layer.for_each_param_mut(&mut |p| {
                if p.trainable {
                    opt.apply_and_spend(slot, p);
                    slot += 1;
                } else {
                    // A frozen layer's gradient is computed but never applied; spend
                    // it as the optimizer would, so it does not pile up.
                    p.spend_grad();
                }
            });
        }
    }

    /// Loads a batch, runs forward, and computes the loss; with `gradient`, also writes
    /// the loss gradient into `grads[L]` (ready for `backward_pass`).
    fn forward_loss(
        &mut self,
        data: &Dataset,
        indices: &[usize],
        training: bool,
        gradient: bool,
    ) -> BatchStats {
        self.load_batch(data, indices);
        self.forward_pass(training);
        let last = self.layers.len();
        let probs = match self.output {
            Output::Probabilities => &self.acts[last],
            Output::Logits => &self.probs,
        };
        let grad = if gradient {
            Some(&mut self.grads[last])
        } else {
            None
        };
        self.loss
            .compute(probs, &self.labels, grad, self.logits_grad)
    }

    /// One training step on the images at `indices`: forward, loss, backward, update.
    /// When the loss is not finite, returns the stats *without* updating the weights.
    pub fn train_on_batch(&mut self, data: &Dataset, indices: &[usize]) -> Result<BatchStats> {
        if self.optimizer.is_none() {
            return Err(Error::config(
                "compile the model (choose an optimizer) before training it",
            ));
        }
        let chunk = self.training_chunk(indices.len());
        if chunk >= indices.len() {
            let stats = self.forward_loss(data, indices, true, true);
            if stats.loss_sum.is_finite() {
                self.backward_pass();
                self.apply_gradients();
            }
            return Ok(stats);
        }
        // The batch in chunks that keep the activations in cache: each chunk's
        // forward and backward, its loss gradient scaled from the chunk's mean to the
        // batch's, adds its share to the parameters' gradients; then one update.
        let mut stats = BatchStats::default();
        for part in indices.chunks(chunk) {
            let s = self.forward_loss(data, part, true, true);
            stats.loss_sum += s.loss_sum;
            stats.correct += s.correct;
            if !s.loss_sum.is_finite() {
                // As an unchunked step: no update, and no gradient left behind.
                for layer in &mut self.layers {
                    layer.for_each_param_mut(&mut |p| p.spend_grad());
                }
                return Ok(stats);
            }
            let share = part.len() as f32 / indices.len() as f32;
            let last = self.layers.len();
            self.grads[last]
                .data_mut()
                .iter_mut()
                .for_each(|g| *g *= share);
            self.backward_pass();
        }
        self.apply_gradients();
        Ok(stats)
    }

    /// Images per forward and backward pass within a training batch of `batch`: as
    /// for inference ([`INFERENCE_CACHE_BYTES`]), so the first convolution's output
    /// and gradients are read back from cache; the whole batch at once when a layer
    /// needs the batch's statistics (BatchNormalization) or the batch is small.
    fn training_chunk(&self, batch: usize) -> usize {
        if self.batch_statistics {
            return batch;
        }
        even_chunk(batch, self.inference_chunk(batch))
    }

    /// Computes the loss gradient of one batch into the parameters' `grad` (without
    /// updating them); returns the mean loss. For gradient checks and custom loops.
    pub fn compute_gradients(&mut self, data: &Dataset, indices: &[usize], training: bool) -> f64 {
        self.ensure_gradients();
        let stats = self.forward_loss(data, indices, training, true);
        self.backward_pass();
        stats.loss_sum / indices.len() as f64
    }

    /// Mean loss of one batch in inference or training mode, without gradients.
    pub fn batch_loss(&mut self, data: &Dataset, indices: &[usize], training: bool) -> f64 {
        self.forward_loss(data, indices, training, false).loss_sum / indices.len() as f64
    }
}

/// The chunk size that cuts `batch` into as few chunks of at most `most` as there can
/// be, evenly, and in whole vectors of 8 where that stays within `most`: 256 by 75 in
/// 4 × 64, not 75 + 75 + 75 + 31, whose last chunk paid a pass's fixed costs for a few
/// images and left the Dense layers' products off the vector widths.
fn even_chunk(batch: usize, most: usize) -> usize {
    if most >= batch {
        return batch;
    }
    let even = batch.div_ceil(batch.div_ceil(most));
    let whole = even.next_multiple_of(8);
    if whole <= most { whole } else { even }
}

/// A pixel scaled to [0, 1]: `p / 255` in f32, which is exactly what NumPy computes
/// in float64 and rounds to float32 (f32 division is correctly rounded; the test below
/// checks all 256 bytes), and which the compiler turns into vector instructions where
/// a table lookup would not be.
#[inline(always)]
pub(crate) fn pixel(p: u8) -> f32 {
    p as f32 / 255.0
}

#[cfg(test)]
mod pixel_tests {
    #[test]
    fn every_byte_scales_as_numpy_does() {
        for p in 0..=255u8 {
            assert_eq!(super::pixel(p), (p as f64 / 255.0) as f32, "byte {p}");
        }
    }
}

#[cfg(test)]
mod moving_statistics_tests {
    use super::*;

    /// Flatten, a BatchNormalization for each of `momenta`, then Dense(10, softmax).
    fn model(momenta: &[f32]) -> Sequential {
        let mut layers = vec![LayerConfig::Flatten];
        layers.extend(
            momenta
                .iter()
                .map(|&momentum| LayerConfig::BatchNormalization {
                    momentum,
                    epsilon: 1e-3,
                }),
        );
        layers.push(LayerConfig::dense(10, Activation::Softmax));
        let config = ModelConfig {
            name: "bn".into(),
            input_shape: vec![28, 28, 1],
            layers,
        };
        Sequential::new(config, 1).unwrap()
    }

    /// `momentum^steps`, the largest over the layers: at Keras's 0.99 the share
    /// falls under 1% at the 459th step; none without BatchNormalization.
    #[test]
    fn the_share_is_the_slowest_layers_momentum_to_the_steps() {
        let m = model(&[0.9, 0.99]);
        assert!(m.moving_statistics_start_share(458).unwrap() > 0.01);
        assert!(m.moving_statistics_start_share(459).unwrap() < 0.01);
        let share = m.moving_statistics_start_share(10).unwrap();
        assert!((share - 0.99f64.powi(10)).abs() < 1e-6, "{share}");
        assert_eq!(m.moving_statistics_start_share(0), Some(1.0));
        assert_eq!(model(&[]).moving_statistics_start_share(5), None);
    }
}

#[cfg(test)]
mod chunk_tests {
    use super::even_chunk;

    /// A chunk never exceeds the cache's bound, the batch takes no more chunks than
    /// the bound makes necessary, and they differ by little.
    #[test]
    fn chunks_are_few_even_and_within_the_bound() {
        assert_eq!(even_chunk(256, 75), 64);
        assert_eq!(even_chunk(128, 48), 48);
        assert_eq!(even_chunk(100, 200), 100);
        for batch in 1..600 {
            for most in 1..300 {
                let chunk = even_chunk(batch, most);
                let chunks = batch.div_ceil(chunk);
                assert!(chunk <= most || chunk == batch, "{batch} by {most}");
                assert!(chunk <= batch);
                assert_eq!(chunks, batch.div_ceil(most), "{batch} by {most}");
                let last = batch - (chunks - 1) * chunk;
                assert!(
                    chunk - last < 8 * chunks,
                    "{batch} by {most}: {chunk}, last {last}"
                );
            }
        }
    }
}
