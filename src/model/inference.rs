//! Inference: `evaluate`, `predict` and `predict_with`, which read the model through
//! `&self` and keep their buffers in a [`Workspace`] (the caller's, or one the model
//! lends from the few it keeps), so one model serves many threads at once. Each
//! batch runs in passes of a few images whose activations stay in cache.

use serde::Serialize;

use super::{Output, Sequential};
use crate::activations::Activation;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels::argmax;
use crate::layers::LayerScratch;
use crate::loss::BatchStats;
use crate::tensor::Tensor;

/// Loss and accuracy over a data set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Evaluation {
    /// Mean loss.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Items classified correctly.
    pub correct: usize,
    /// Items evaluated.
    pub count: usize,
}

impl Sequential {
    /// Runs every layer's `infer` on `ws.input` and returns the class probabilities
    /// (a model that emits logits turns them into probabilities in `ws.probs`).
    pub(super) fn infer_pass<'w>(&self, ws: &'w mut Workspace) -> &'w Tensor {
        ws.scratch
            .resize_with(self.layers.len(), LayerScratch::default);
        let Workspace {
            input,
            acts: [a, b],
            probs,
            scratch,
            ..
        } = ws;
        // Two buffers, used in turn: each layer reads the one the last wrote (the
        // input first) and writes the other.
        let mut last: Option<usize> = None;
        for p in &self.passes {
            let (layer, s) = (&self.layers[p.layer], &mut scratch[p.layer]);
            let (x, written) = match last {
                None => (&*input, &mut *a),
                Some(0) => (&*a, &mut *b),
                Some(_) => (&*b, &mut *a),
            };
            layer.infer(x, written, s);
            p.after_forward(written);
            last = Some(last.map_or(0, |k| 1 - k));
        }
        let out = match last {
            Some(0) => a,
            _ => b,
        };
        match self.output {
            Output::Probabilities => out,
            Output::Logits => {
                probs.set_shape(out.shape());
                probs.data_mut().copy_from_slice(out.data());
                let k = out.row_len();
                for row in probs.data_mut().chunks_exact_mut(k) {
                    Activation::Softmax.forward_row(row);
                }
                probs
            }
        }
    }

    /// Keras's `evaluate`: mean loss and accuracy over `data`, in batches.
    ///
    /// ```
    /// # fn main() -> scrawl::Result<()> {
    /// let mnist = scrawl::data::load_mnist(std::path::Path::new("../shared/data/mnist"))?;
    /// // The book's pretrained network ("Deep Learning from Scratch", chapter 3).
    /// let net = scrawl::interop::dlfs::import_dlfs(std::path::Path::new(
    ///     "../shared/data/dlfs/sample_weight.pkl",
    /// ))?;
    /// let e = net.evaluate(&mnist.test, 100)?;
    /// assert_eq!((e.correct, e.count), (9352, 10_000));
    /// # Ok(()) }
    /// ```
    pub fn evaluate(&self, data: &Dataset, batch_size: usize) -> Result<Evaluation> {
        self.evaluate_reporting(data, batch_size, &mut |_, _| {})
    }

    /// [`Sequential::evaluate`], calling `progress(done, total)` after each batch
    /// with the images evaluated so far (for a progress line during long ones).
    pub fn evaluate_reporting(
        &self,
        data: &Dataset,
        batch_size: usize,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<Evaluation> {
        crate::kernels::on_pool(|| self.evaluate_on_pool(data, batch_size, progress))
    }

    fn evaluate_on_pool(
        &self,
        data: &Dataset,
        batch_size: usize,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<Evaluation> {
        self.check_data(data)?;
        if data.is_empty() {
            return Err(Error::config(
                "the data to evaluate holds no images: an accuracy of 0/0 measures nothing",
            ));
        }
        let mut total = BatchStats::default();
        let mut done = 0;
        self.for_each_batch(data, batch_size, |probs, labels| {
            let s = self.loss.compute(probs, labels, None, false);
            total.loss_sum += s.loss_sum;
            total.correct += s.correct;
            done += labels.len();
            progress(done, data.len());
        })?;
        let n = data.len().max(1) as f64;
        Ok(Evaluation {
            loss: total.loss_sum / n,
            accuracy: total.correct as f64 / n,
            correct: total.correct,
            count: data.len(),
        })
    }

    /// Keras's `predict`: the class probabilities of every image, `len × classes`
    /// row-major.
    pub fn predict(&self, data: &Dataset, batch_size: usize) -> Result<Vec<f32>> {
        crate::kernels::on_pool(|| self.predict_on_pool(data, batch_size))
    }

    fn predict_on_pool(&self, data: &Dataset, batch_size: usize) -> Result<Vec<f32>> {
        self.check_data(data)?;
        let mut out = Vec::with_capacity(data.len() * self.classes());
        self.for_each_batch(data, batch_size, |probs, _| {
            out.extend_from_slice(probs.data());
        })?;
        Ok(out)
    }

    /// The most probable class of every image.
    pub fn predict_classes(&self, data: &Dataset, batch_size: usize) -> Result<Vec<u8>> {
        let k = self.classes();
        let probs = self.predict(data, batch_size)?;
        Ok(probs.chunks_exact(k).map(|p| argmax(p) as u8).collect())
    }

    /// Probabilities for already-scaled inputs (`n × input_len` values in [0, 1]).
    pub fn predict_values(&self, x: &[f32]) -> Result<Vec<f32>> {
        // A workspace that ran a large batch in one pass holds that batch's activations:
        // it is dropped after the call rather than kept.
        let small = x.len() <= WorkspacePool::KEEP_ITEMS * self.input_len();
        self.spare
            .with(small, |ws| Ok(self.predict_with(x, ws)?.to_vec()))
    }

    /// Probabilities for already-scaled inputs (`n × input_len` values in [0, 1]),
    /// computed in `ws` and returned from it: the model is only read, so any number
    /// of threads may use it at once, each with its own workspace.
    ///
    /// ```
    /// # fn main() -> scrawl::Result<()> {
    /// use scrawl::model::{Sequential, Workspace};
    /// let model = Sequential::new(scrawl::presets::preset("mlp-512")?, 7)?;
    /// let mut ws = Workspace::default();
    /// let p = model.predict_with(&[0.0; 784], &mut ws)?;
    /// assert_eq!(p.len(), 10);
    /// assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    /// # Ok(()) }
    /// ```
    pub fn predict_with<'w>(&self, x: &[f32], ws: &'w mut Workspace) -> Result<&'w [f32]> {
        crate::kernels::on_pool(|| self.predict_with_on_pool(x, ws))
    }

    fn predict_with_on_pool<'w>(&self, x: &[f32], ws: &'w mut Workspace) -> Result<&'w [f32]> {
        let len = self.input_len();
        if x.is_empty() || !x.len().is_multiple_of(len) {
            return Err(Error::Shape(format!(
                "{} input values do not divide into items of {len}",
                x.len()
            )));
        }
        self.check_batch(x.len() / len, false)?;
        let mut shape = [0usize; 5];
        shape[0] = x.len() / len;
        let rank = self.config.input_shape.len().min(4);
        shape[1..=rank].copy_from_slice(&self.config.input_shape[..rank]);
        ws.input.set_shape(&shape[..=rank]);
        ws.input.data_mut().copy_from_slice(x);
        Ok(self.infer_pass(ws).data())
    }

    /// Runs inference over `data` in batches, calling `f(probabilities, labels)` for
    /// each.
    fn for_each_batch(
        &self,
        data: &Dataset,
        batch_size: usize,
        mut f: impl FnMut(&Tensor, &[u8]),
    ) -> Result<()> {
        if batch_size == 0 {
            return Err(Error::config("batch size must be at least 1"));
        }
        // As Keras does, a batch larger than the data is the whole data.
        let batch_size = batch_size.min(data.len()).max(1);
        self.check_batch(batch_size, false)?;
        // Each batch runs through the network in chunks whose activations stay in
        // cache (the outputs of a batch are the same, image by image, whatever the
        // chunks).
        let chunk = self.inference_chunk(batch_size);
        // Passes of `chunk` images keep the workspace's buffers within a few MiB.
        self.spare.with(true, |ws| {
            self.batches_in(ws, data, (batch_size, chunk), &mut f);
            Ok(())
        })
    }

    /// `for_each_batch`'s loop, in a lent workspace: batches of `batch_size`, each run
    /// in passes of `chunk` images.
    fn batches_in(
        &self,
        ws: &mut Workspace,
        data: &Dataset,
        (batch_size, chunk): (usize, usize),
        f: &mut impl FnMut(&Tensor, &[u8]),
    ) {
        let mut idx = Vec::with_capacity(chunk);
        let mut labels = Vec::with_capacity(chunk);
        let mut start = 0;
        while start < data.len() {
            let end = (start + batch_size).min(data.len());
            let mut from = start;
            while from < end {
                let to = (from + chunk).min(end);
                idx.clear();
                idx.extend(from..to);
                self.load_images(data, &idx, &mut ws.input, &mut labels);
                f(self.infer_pass(ws), &labels);
                from = to;
            }
            start = end;
        }
    }

    /// Images per inference pass within a batch of `batch_size`: as many as keep the
    /// widest activation within [`INFERENCE_CACHE_BYTES`], so that a layer reads what
    /// the one before it wrote from cache instead of memory (the first convolution of
    /// `speedrun` writes 55 KB an image: 55 MB for a batch of 1,000), and at least a
    /// few per thread.
    pub(super) fn inference_chunk(&self, batch_size: usize) -> usize {
        let widest = self
            .layers
            .iter()
            .map(|l| l.output_shape().iter().product::<usize>())
            .chain([self.input_len()])
            .max()
            .unwrap_or(1)
            .max(1);
        let floor = 8 * rayon::current_num_threads().max(1);
        (INFERENCE_CACHE_BYTES / (4 * widest))
            .clamp(floor, batch_size.max(floor))
            .min(batch_size.max(1))
    }
}

/// The most bytes one activation of an inference pass may take (see
/// `Sequential::inference_chunk`): a few MiB, within the L3 cache of the machines
/// scrawl runs on and near their L2.
const INFERENCE_CACHE_BYTES: usize = 4 << 20;

/// Buffers for inference with a shared model ([`Sequential::predict_with`]): the
/// input batch, the activations between layers (two buffers, used in turn) and each
/// layer's scratch. One per thread, reused between calls: once a batch size has run,
/// inference allocates nothing but its result.
#[derive(Debug, Default)]
pub struct Workspace {
    input: Tensor,
    acts: [Tensor; 2],
    probs: Tensor,
    scratch: Vec<LayerScratch>,
}

/// The workspaces a model keeps between its own `predict` calls: each call borrows
/// one (or makes one when every kept one is in use by another thread) and gives it
/// back. At most [`WorkspacePool::KEEP`] are kept, each sized for a chunk or a small
/// batch, so memory stays bounded however many threads once called at the same time.
#[derive(Debug, Default)]
pub(super) struct WorkspacePool(std::sync::Mutex<Vec<Workspace>>);

impl WorkspacePool {
    /// Workspaces kept at most: a server's or a user's few prediction threads.
    const KEEP: usize = 4;
    /// `predict_values` keeps the workspace of a call of at most this many items (a
    /// few MiB of activations even for `cnn`).
    const KEEP_ITEMS: usize = 32;

    /// Runs `f` with a workspace lent from the pool, given back afterwards if `keep`.
    fn with<T>(&self, keep: bool, f: impl FnOnce(&mut Workspace) -> T) -> T {
        // A panic while a workspace was out leaves at worst a half-written workspace,
        // which every pass rewrites before reading: the lock is safe to take again.
        let lent = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut ws = lent.unwrap_or_default();
        let out = f(&mut ws);
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if keep && kept.len() < Self::KEEP {
            kept.push(ws);
        }
        out
    }
}
