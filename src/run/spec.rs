//! What a run is, as data: the [`RunSpec`] a run folder stores in `config.json`, from
//! which the run is built the first time and rebuilt on every resume. The command line
//! maps its flags to one; a Rust program writes one directly.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::callbacks::{
    Callback, CsvLogger, EarlyStopping, LearningRateScheduler, Mode, ModelCheckpoint,
    ReduceLROnPlateau, Schedule,
};
use crate::data::augment::Augmentation;
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::model::ModelConfig;
use crate::optim::OptimizerConfig;

/// Everything that decides a run's result: architecture, starting weights, data,
/// optimizer, schedule, callbacks, seed and threads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The architecture.
    pub model: ModelConfig,
    /// Start from saved weights instead of random ones (fine-tuning).
    #[serde(default)]
    pub init: Option<InitSpec>,
    /// Where the images come from and how they are split.
    #[serde(default)]
    pub data: DataSpec,
    /// The optimizer and its settings.
    pub optimizer: OptimizerConfig,
    /// The loss.
    #[serde(default)]
    pub loss: Loss,
    /// Epochs to train (an extended run raises it).
    pub epochs: usize,
    /// Images per gradient step.
    pub batch_size: usize,
    /// Seed of the weights, the shuffling, dropout and augmentation.
    pub seed: u64,
    /// Worker threads: the same seed, data and thread count give bit-identical weights.
    pub threads: usize,
    /// Random distortions of the training images, drawn anew each epoch.
    #[serde(default)]
    pub augment: Option<Augmentation>,
    /// Callbacks and the metric they watch.
    #[serde(default)]
    pub callbacks: CallbackSpec,
    /// Also save the training state every this many steps inside an epoch.
    #[serde(default)]
    pub save_freq: Option<usize>,
    /// Validate after every this many epochs (Keras's `validation_freq`).
    #[serde(default = "one")]
    pub validation_freq: usize,
}

fn one() -> usize {
    1
}

impl RunSpec {
    /// A run of `model` with `optimizer` for `epochs` epochs at `batch_size`, with
    /// seed 42, the categorical cross-entropy, the MNIST files, no callbacks and the
    /// thread count in use now.
    pub fn new(
        model: ModelConfig,
        optimizer: OptimizerConfig,
        epochs: usize,
        batch_size: usize,
    ) -> RunSpec {
        RunSpec {
            model,
            init: None,
            data: DataSpec::default(),
            optimizer,
            loss: Loss::default(),
            epochs,
            batch_size,
            seed: 42,
            threads: rayon::current_num_threads(),
            augment: None,
            callbacks: CallbackSpec::default(),
            save_freq: None,
            validation_freq: 1,
        }
    }

    /// Checks the numbers that do not need data: epochs, batch size, the optimizer's
    /// settings, the loss, the augmentation and the callbacks' settings.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::config("a run needs at least 1 epoch"));
        }
        if self.batch_size == 0 {
            return Err(Error::config("the batch size must be at least 1"));
        }
        self.optimizer.build()?;
        if let Loss::CategoricalCrossentropy { label_smoothing: s } = self.loss
            && !(s.is_finite() && (0.0..1.0).contains(&s))
        {
            return Err(Error::config(format!(
                "the label smoothing must be in [0, 1), got {s}"
            )));
        }
        if let Some(a) = &self.augment {
            a.validate()?;
            a.check_epochs(self.epochs)?;
        }
        if self.validation_freq == 0 {
            return Err(Error::config(
                "the validation frequency must be at least 1 epoch",
            ));
        }
        if self.save_freq == Some(0) {
            return Err(Error::config(
                "the checkpoint frequency must be at least 1 step",
            ));
        }
        self.callbacks.validate()
    }
}

/// Starting weights for a run: a model file or a run folder (its model), and the
/// layers whose weights stay as they are (Keras's `layer.trainable = False`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitSpec {
    /// A `.safetensors` model file, or a run folder holding `model.safetensors`.
    pub from: PathBuf,
    /// Names of the layers not to train (as `scrawl summary` prints them).
    #[serde(default)]
    pub freeze: Vec<String>,
}

/// Where a run's images come from. Only recorded for the command line to find the
/// same data on `--resume`; a Rust program passes the datasets to
/// [`crate::run::Run::fit`] itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    /// The data set's name (`mnist`, `fashion-mnist`, ...); `None` is MNIST.
    #[serde(default)]
    pub dataset: Option<String>,
    /// The folder of IDX files, when named.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Training images from a CSV file or PNG folder instead of IDX.
    #[serde(default)]
    pub train_file: Option<PathBuf>,
    /// Test images from a CSV file or PNG folder instead of IDX.
    #[serde(default)]
    pub test_file: Option<PathBuf>,
    /// Only the first N training images.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Hold out this fraction of the training images for validation (drawn with the
    /// run's seed) instead of validating on the test set.
    #[serde(default)]
    pub validation_split: Option<f64>,
    /// With `validation_split`: keep each class's share the same in both parts.
    #[serde(default)]
    pub stratify: bool,
}

/// The callbacks of a run, as settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallbackSpec {
    /// The metric the callbacks watch (default `val_loss`, or `loss` without
    /// validation data).
    #[serde(default)]
    pub monitor: Option<String>,
    /// `min`, `max` or `auto` (max for accuracies).
    #[serde(default)]
    pub mode: Option<String>,
    /// Keep models: `best` (RUN/best.safetensors), `all` (RUN/checkpoints/epoch-NN),
    /// or a Keras-style path template ending in `.safetensors`.
    #[serde(default)]
    pub checkpoint: Option<String>,
    /// Stop when the metric stops improving.
    #[serde(default)]
    pub early_stopping: Option<EarlyStoppingSpec>,
    /// Lower the learning rate when the metric stops improving.
    #[serde(default)]
    pub reduce_lr_on_plateau: Option<ReduceLrSpec>,
    /// A learning-rate schedule: `step:EVERY:FACTOR`, `exponential:RATE`, `cosine` or
    /// `one-cycle:MAX_LR`.
    #[serde(default)]
    pub lr_schedule: Option<String>,
    /// Write TensorBoard event files (needs the `tensorboard` feature).
    #[serde(default)]
    pub tensorboard: Option<TensorBoardSpec>,
}

/// Settings of the `TensorBoard` callback.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TensorBoardSpec {
    /// Where the event files go (default: the run's `tensorboard` folder).
    #[serde(default)]
    pub log_dir: Option<PathBuf>,
    /// Also the batch loss every this many steps (default: per epoch only).
    #[serde(default)]
    pub update_freq: Option<u64>,
}

impl TensorBoardSpec {
    /// The folder of the event files of a run in `run_dir`.
    pub fn log_dir(&self, run_dir: &std::path::Path) -> PathBuf {
        self.log_dir
            .clone()
            .unwrap_or_else(|| run_dir.join("tensorboard"))
    }
}

/// Settings of [`EarlyStopping`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingSpec {
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// The smallest change that counts as an improvement.
    #[serde(default)]
    pub min_delta: f64,
    /// Go back to the best epoch's weights when stopping.
    #[serde(default)]
    pub restore_best_weights: bool,
}

/// Settings of [`ReduceLROnPlateau`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReduceLrSpec {
    /// Epochs without improvement before lowering the rate.
    pub patience: usize,
    /// The factor the rate is multiplied by.
    pub factor: f32,
    /// The rate never goes below this.
    #[serde(default)]
    pub min_lr: f32,
}

impl CallbackSpec {
    /// The metric watched, given whether there is validation data.
    pub fn monitor(&self, has_validation: bool) -> String {
        self.monitor
            .clone()
            .unwrap_or_else(|| if has_validation { "val_loss" } else { "loss" }.to_string())
    }

    /// The callbacks' mode (`--mode`; auto by default).
    pub fn mode(&self) -> Result<Mode> {
        Mode::parse(self.mode.as_deref().unwrap_or("auto"))
    }

    /// The learning-rate schedule, parsed.
    pub fn schedule(&self) -> Result<Option<Schedule>> {
        self.lr_schedule.as_deref().map(Schedule::parse).transpose()
    }

    /// Checks every setting without data.
    pub fn validate(&self) -> Result<()> {
        if let Some(m) = &self.monitor {
            crate::callbacks::check_monitor(m)?;
        }
        self.mode()?;
        self.schedule()?;
        if let Some(e) = &self.early_stopping
            && (e.min_delta.is_nan() || e.min_delta < 0.0)
        {
            return Err(Error::config(format!(
                "the early-stopping min_delta must be at least 0, got {}",
                e.min_delta
            )));
        }
        if let Some(r) = &self.reduce_lr_on_plateau {
            if r.min_lr.is_nan() || r.min_lr < 0.0 {
                return Err(Error::config(format!(
                    "the plateau's min_lr must be at least 0, got {}",
                    r.min_lr
                )));
            }
            if self.lr_schedule.is_some() {
                return Err(Error::config(
                    "a learning-rate schedule and ReduceLROnPlateau both set the rate: choose one",
                ));
            }
        }
        if self.tensorboard.is_some() && !cfg!(feature = "tensorboard") {
            return Err(Error::config(
                "this scrawl was built without the tensorboard feature, so it cannot write TensorBoard files",
            ));
        }
        if let Some(c) = &self.checkpoint
            && !matches!(c.as_str(), "best" | "all")
            && !c.ends_with(".safetensors")
        {
            return Err(Error::config(format!(
                "the checkpoint must be best, all, or a path template ending in .safetensors, not '{c}'"
            )));
        }
        if let Some(t) = self
            .checkpoint
            .as_ref()
            .filter(|c| c.ends_with(".safetensors"))
        {
            // The template parses (the monitor is checked when the run has its data).
            ModelCheckpoint::new(t, "loss", Mode::Auto, true)
                .map_err(|e| Error::config(format!("checkpoint: {e}")))?;
        }
        Ok(())
    }

    /// Builds the callbacks, in a fixed order (checkpoints, early stopping, plateau,
    /// schedule, CSV log), for a run in `dir` of `total_steps` steps.
    pub(crate) fn build(
        &self,
        dir: &std::path::Path,
        has_validation: bool,
        total_steps: u64,
        info: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Result<Vec<Box<dyn Callback>>> {
        self.validate()?;
        let monitor = self.monitor(has_validation);
        if monitor.starts_with("val_") && !has_validation {
            return Err(Error::config(format!(
                "the monitored metric {monitor} needs validation data: add a validation split or a labelled test set"
            )));
        }
        let mode = self.mode()?;
        let mut callbacks: Vec<Box<dyn Callback>> = Vec::new();
        if let Some(c) = &self.checkpoint {
            let (template, best_only) = match c.as_str() {
                "best" => (dir.join(super::BEST), true),
                "all" => (
                    dir.join("checkpoints")
                        .join("epoch-{epoch:02d}.safetensors"),
                    false,
                ),
                t => (PathBuf::from(t), true),
            };
            let cb = ModelCheckpoint::new(&template.to_string_lossy(), &monitor, mode, best_only)
                .map_err(|e| Error::config(format!("checkpoint: {e}")))?;
            callbacks.push(Box::new(cb.with_info(info.clone())));
        }
        if let Some(e) = &self.early_stopping {
            callbacks.push(Box::new(
                EarlyStopping::new(&monitor, e.patience, e.min_delta, mode)?
                    .restore_best_weights(e.restore_best_weights),
            ));
        }
        if let Some(r) = &self.reduce_lr_on_plateau {
            callbacks.push(Box::new(
                ReduceLROnPlateau::new(&monitor, r.patience)?
                    .factor(r.factor)?
                    .min_lr(r.min_lr),
            ));
        }
        if let Some(s) = self.schedule()? {
            callbacks.push(Box::new(LearningRateScheduler::new(s, total_steps)));
        }
        callbacks.push(Box::new(CsvLogger::new(dir.join(super::HISTORY_CSV))));
        if let Some(t) = &self.tensorboard {
            callbacks.push(tensorboard(t, dir)?);
        }
        Ok(callbacks)
    }
}

#[cfg(feature = "tensorboard")]
fn tensorboard(t: &TensorBoardSpec, dir: &std::path::Path) -> Result<Box<dyn Callback>> {
    Ok(Box::new(crate::callbacks::TensorBoard::new(
        t.log_dir(dir),
        t.update_freq,
    )))
}

#[cfg(not(feature = "tensorboard"))]
fn tensorboard(_: &TensorBoardSpec, _: &std::path::Path) -> Result<Box<dyn Callback>> {
    Err(Error::config(
        "this scrawl was built without the tensorboard feature, so it cannot write TensorBoard files",
    ))
}
