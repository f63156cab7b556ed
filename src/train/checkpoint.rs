//! Training checkpoints: everything needed to continue a run exactly where it
//! stopped, in one safetensors file. Beside the model's tensors it holds the
//! optimizer's state (`optimizer/N`), callbacks' saved weights (`callback/NAME/N`),
//! and in its metadata the architecture and a [`TrainingState`] as JSON: where in
//! which epoch the run is, the partial sums of that epoch, the history, the random
//! streams' positions and every callback's counters.
//!
//! A resumed run then ends with weights identical, bit for bit, to an uninterrupted
//! one with the same seed and thread count, because every random choice in training
//! is a pure function of the seed and a saved position: the shuffle of epoch `e` is
//! seeded by `(seed, e)`, dropout streams are repositioned, schedules read the step.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::callbacks::CallbackState;
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::history::History;
use crate::model::io::{read_f32, read_params};
use crate::model::{ModelConfig, Sequential};
use crate::optim::OptimizerConfig;

const FORMAT: &str = "scrawl-checkpoint";

/// The largest checkpoint read: the largest model's weights (256 MiB) with two
/// optimizer moments and a kept copy of the best weights, and room to spare.
pub const MAX_CHECKPOINT_BYTES: u64 = 1280 << 20;

/// Where a run stands, as saved in a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Epochs completed.
    pub epoch: usize,
    /// Steps completed in the next epoch (0 at an epoch boundary).
    pub step: usize,
    /// Sum of the losses of those steps.
    pub loss_sum: f64,
    /// Images classified right in those steps.
    pub correct: usize,
    /// Images seen in those steps.
    pub seen: usize,
    /// Training ended (all epochs, or a callback stopped it): resuming does nothing
    /// unless the run is given more epochs than [`TrainingState::epochs`].
    pub finished: bool,
    /// The epochs the run was to train when this state was saved (0 in checkpoints
    /// of scrawl before 0.2).
    #[serde(default)]
    pub epochs: usize,
    /// Every completed epoch's log.
    pub history: History,
    /// The shuffling seed of the run.
    pub seed: u64,
    /// The batch size of the run.
    pub batch_size: usize,
    /// Images in the training set (a different set cannot continue the run).
    pub train_len: usize,
    /// Worker threads of the run (results are bit-identical only for the same count).
    pub threads: usize,
    /// The optimizer with its current learning rate.
    pub optimizer: OptimizerConfig,
    /// The optimizer's step counter.
    pub iterations: u64,
    /// Each layer's random stream (dropout): key, stream and position.
    pub rng_states: Vec<Option<String>>,
    /// Each callback's state, by name, in order.
    pub callbacks: Vec<(String, CallbackState)>,
    /// The optimizer's per-parameter state (stored as tensors, not JSON).
    #[serde(skip)]
    pub optimizer_state: Vec<Vec<f32>>,
}

impl TrainingState {
    /// The epochs the run was to train when this state was saved.
    pub fn planned_epochs(&self) -> usize {
        if self.epochs == 0 {
            self.epoch
        } else {
            self.epochs
        }
    }
}

impl Sequential {
    /// The random streams of every layer (`None` for layers without one).
    pub fn rng_states(&self) -> Vec<Option<String>> {
        self.layers.iter().map(|l| l.rng_state()).collect()
    }

    /// Puts each layer's random stream where `states` says; a stream for a layer that
    /// has none, or none for one that has, means the checkpoint is not this model's.
    fn restore_rng_states(&mut self, states: &[Option<String>]) -> Result<()> {
        if states.len() != self.layers.len() {
            return Err(Error::Shape(format!(
                "the checkpoint has {} layers' random streams, the model {} layers",
                states.len(),
                self.layers.len()
            )));
        }
        for (layer, rng) in self.layers.iter_mut().zip(states) {
            match (layer.rng_state(), rng) {
                (Some(_), Some(r)) => layer.set_rng_state(r)?,
                (None, None) => {}
                (has, _) => {
                    return Err(Error::Shape(format!(
                        "layer {} {} a random stream but the checkpoint {} one",
                        layer.name(),
                        if has.is_some() { "has" } else { "has no" },
                        if has.is_some() {
                            "gives it no"
                        } else {
                            "gives it"
                        }
                    )));
                }
            }
        }
        Ok(())
    }

    /// Puts the optimizer (state, step counter, learning rate) and the layers' random
    /// streams where `state` says. The weights are restored by [`load_checkpoint`].
    pub fn restore_training(&mut self, state: &TrainingState) -> Result<()> {
        self.restore_rng_states(&state.rng_states)?;
        self.check_optimizer_state(state)?;
        self.compile(&state.optimizer, self.loss)?;
        let opt = self
            .optimizer_mut()
            .expect("compile just set the optimizer");
        opt.restore(state.iterations, state.optimizer_state.clone())?;
        opt.set_learning_rate(state.optimizer.learning_rate());
        Ok(())
    }
}

impl Sequential {
    /// Refuses optimizer state that does not belong to this model's parameters: after
    /// the first step an optimizer holds exactly `k` buffers per trainable parameter,
    /// each as long as it. A mismatch would otherwise be filled with zeros silently,
    /// and the resumed run would quietly stop being the run it continues.
    fn check_optimizer_state(&self, state: &TrainingState) -> Result<()> {
        let sizes: Vec<(String, usize)> = self
            .named_params()
            .into_iter()
            .filter(|(_, p)| p.trainable)
            .map(|(n, p)| (n, p.value.len()))
            .collect();
        let saved = &state.optimizer_state;
        if state.iterations == 0 && saved.is_empty() {
            return Ok(());
        }
        let k = state.optimizer.state_buffers_per_param();
        if saved.len() != k * sizes.len() {
            return Err(Error::Shape(format!(
                "the checkpoint holds {} optimizer state buffers, but {} keeps {k} for each of the model's {} trainable parameters ({} in all)",
                saved.len(),
                state.optimizer.name(),
                sizes.len(),
                k * sizes.len()
            )));
        }
        for (i, buf) in saved.iter().enumerate() {
            let (name, len) = &sizes[i % sizes.len()];
            if buf.len() != *len {
                return Err(Error::Shape(format!(
                    "optimizer state buffer {i} has {} values but belongs to {name}, which has {len}",
                    buf.len()
                )));
            }
            if let Some(why) = crate::model::io::non_finite(&format!("optimizer/{i}"), buf) {
                return Err(Error::Shape(why));
            }
        }
        Ok(())
    }
}

/// Checks that the counters of `state` fit together and the run they describe: a
/// tampered or corrupt checkpoint (epoch 10^18, a step past the epoch's end, more
/// images seen than a step holds) is refused instead of resumed with wrapped-around
/// metrics.
fn check_counters(state: &TrainingState) -> std::result::Result<(), String> {
    if state.batch_size == 0 || state.train_len == 0 {
        return Err(format!(
            "batch size {} and training set size {} must both be at least 1",
            state.batch_size, state.train_len
        ));
    }
    if state.threads == 0 || state.threads > MAX_THREADS_RECORDED {
        return Err(format!("{} threads is not a thread count", state.threads));
    }
    let steps = state.train_len.div_ceil(state.batch_size);
    if state.history.epochs.len() != state.epoch {
        return Err(format!(
            "it says {} epochs are done but its history has {}",
            state.epoch,
            state.history.epochs.len()
        ));
    }
    if let Some((i, e)) = state
        .history
        .epochs
        .iter()
        .enumerate()
        .find(|(i, e)| e.epoch != i + 1)
    {
        return Err(format!(
            "history row {} is numbered epoch {}",
            i + 1,
            e.epoch
        ));
    }
    // An interruption after an epoch's last step saves step == steps.
    if state.step > steps {
        return Err(format!(
            "it is at step {} of an epoch of {steps} steps",
            state.step
        ));
    }
    // Every step before the last of an epoch is a full batch.
    if state.seen != (state.step * state.batch_size).min(state.train_len) {
        return Err(format!(
            "{} images seen in {} steps of {}",
            state.seen, state.step, state.batch_size
        ));
    }
    if state.correct > state.seen {
        return Err(format!(
            "{} right answers out of {} images seen",
            state.correct, state.seen
        ));
    }
    if !(state.loss_sum.is_finite() && state.loss_sum >= 0.0) {
        return Err(format!("a partial loss sum of {}", state.loss_sum));
    }
    let done = (state.epoch as u128) * (steps as u128) + state.step as u128;
    if (state.iterations as u128) < done {
        return Err(format!(
            "the optimizer took {} steps, fewer than the {done} the run has done",
            state.iterations
        ));
    }
    if state.iterations > MAX_ITERATIONS {
        return Err(format!(
            "{} optimizer steps is not a count",
            state.iterations
        ));
    }
    Ok(())
}

/// The most threads a checkpoint may record.
const MAX_THREADS_RECORDED: usize = 4096;
/// The most optimizer steps a checkpoint may record (2^40: centuries of training).
const MAX_ITERATIONS: u64 = 1 << 40;

/// Writes `model` and `state` to `path` atomically.
pub fn save_checkpoint(path: &Path, model: &Sequential, state: &TrainingState) -> Result<()> {
    let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    for (name, p) in model.named_params() {
        named.push((name, p.shape.clone(), bytes(&p.value)));
    }
    for (i, s) in state.optimizer_state.iter().enumerate() {
        named.push((format!("optimizer/{i}"), vec![s.len()], bytes(s)));
    }
    for (cb, cs) in &state.callbacks {
        for (j, t) in cs.tensors.iter().enumerate() {
            named.push((format!("callback/{cb}/{j}"), vec![t.len()], bytes(t)));
        }
    }
    let mut views = Vec::with_capacity(named.len());
    for (name, shape, b) in &named {
        let view = TensorView::new(Dtype::F32, shape.clone(), b)
            .map_err(|e| Error::config(format!("tensor {name}: {e}")))?;
        views.push((name.clone(), view));
    }
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert(
        "config".to_string(),
        serde_json::to_string(model.config()).expect("config serializes"),
    );
    meta.insert(
        "state".to_string(),
        serde_json::to_string(state).expect("state serializes"),
    );
    meta.insert(
        "optimizer_slots".to_string(),
        state.optimizer_state.len().to_string(),
    );
    let data = safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::config(format!("serializing the checkpoint: {e}")))?;
    write_atomic(path, &data)
}

/// Reads a checkpoint written by [`save_checkpoint`]: the model with its weights,
/// and the state to pass to [`Sequential::restore_training`] and `fit`.
pub fn load_checkpoint(path: &Path) -> Result<(Sequential, TrainingState)> {
    let data = crate::files::read_limited(path, MAX_CHECKPOINT_BYTES, "a checkpoint")?;
    checkpoint_from_bytes(&data, path)
}

/// [`load_checkpoint`] of bytes held in memory; `path` is only used in messages.
pub fn checkpoint_from_bytes(data: &[u8], path: &Path) -> Result<(Sequential, TrainingState)> {
    let bad = |msg: String| Error::format(path, msg);
    let (_, header) = SafeTensors::read_metadata(data).map_err(|e| {
        bad(format!(
            "not a valid safetensors file: {}",
            crate::model::io::explain(data, &e)
        ))
    })?;
    let meta = header.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(bad(
            "not a scrawl training checkpoint (a model file cannot be resumed: it has no optimizer state)".into(),
        ));
    }
    let config: ModelConfig = serde_json::from_str(meta.get("config").map_or("", String::as_str))
        .map_err(|e| {
        bad(format!(
            "the architecture in the metadata is not valid: {e}"
        ))
    })?;
    let mut state: TrainingState =
        serde_json::from_str(meta.get("state").map_or("", String::as_str)).map_err(|e| {
            bad(format!(
                "the training state in the metadata is not valid: {e}"
            ))
        })?;
    check_counters(&state).map_err(|why| bad(format!("a corrupt training state: {why}")))?;
    let slots: usize = meta
        .get("optimizer_slots")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no optimizer_slots in the metadata".into()))?;
    let tensors = SafeTensors::deserialize(data).map_err(|e| {
        bad(format!(
            "corrupt safetensors data: {}",
            crate::model::io::explain(data, &e)
        ))
    })?;
    let mut model = Sequential::new(config, 0)
        .map_err(|e| bad(format!("the architecture is not valid: {e}")))?;
    read_params(&mut model, &tensors).map_err(bad)?;
    state.optimizer_state = (0..slots)
        .map(|i| read_f32(&tensors, &format!("optimizer/{i}")))
        .collect::<std::result::Result<_, _>>()
        .map_err(bad)?;
    model
        .check_optimizer_state(&state)
        .map_err(|e| bad(e.to_string()))?;
    model
        .restore_rng_states(&state.rng_states)
        .map_err(|e| bad(e.to_string()))?;
    for (cb, cs) in state.callbacks.iter_mut() {
        let mut j = 0;
        while let Ok(t) = read_f32(&tensors, &format!("callback/{cb}/{j}")) {
            cs.tensors.push(t);
            j += 1;
        }
    }
    Ok((model, state))
}
