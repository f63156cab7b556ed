//! Keras's callbacks: hooks that watch training and act on it: keep the best model
//! ([`ModelCheckpoint`]), stop when it stalls ([`EarlyStopping`]), lower the learning
//! rate ([`ReduceLROnPlateau`], [`LearningRateScheduler`]), log ([`CsvLogger`], and
//! `TensorBoard` with the `tensorboard` feature).
//!
//! A callback's decisions depend only on the metric values it is shown, so each is
//! tested on scripted sequences. Each can save and restore its state, so a resumed run
//! decides exactly as an uninterrupted one would.

mod checkpoint;
mod csv_logger;
mod early_stopping;
mod reduce_lr;
mod schedule;
#[cfg(feature = "tensorboard")]
mod tensorboard;

use serde::{Deserialize, Serialize};

pub(crate) use checkpoint::format_number;
pub use checkpoint::{ModelCheckpoint, files_a_template_may_replace, format_template};
pub use csv_logger::CsvLogger;
pub use early_stopping::EarlyStopping;
pub use reduce_lr::ReduceLROnPlateau;
pub use schedule::{LearningRateScheduler, Schedule};
#[cfg(feature = "tensorboard")]
pub use tensorboard::TensorBoard;

use crate::error::{Error, Result};
use crate::history::{EpochLog, History};
use crate::model::Sequential;

/// What `fit` does after the callbacks have looked at an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on training.
    Continue,
    /// Stop after this epoch.
    Stop,
}

/// What a callback sees at the end of an epoch, and where it says what it did.
pub struct EpochEnd<'a> {
    /// The epoch's metrics.
    pub log: &'a EpochLog,
    /// Every epoch so far, this one included.
    pub history: &'a History,
    /// Lines for the user ("val_loss improved from ..."), printed after the epoch line.
    pub messages: &'a mut Vec<String>,
    /// There is validation data, but this epoch was not validated (Keras's
    /// `validation_freq`): a callback monitoring a val_* metric skips it.
    pub validation_skipped: bool,
}

impl EpochEnd<'_> {
    /// Adds a line for the user.
    pub fn say(&mut self, line: impl Into<String>) {
        self.messages.push(line.into());
    }
}

/// A callback's state in a checkpoint: small facts as JSON, weights as tensors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallbackState {
    /// Counters, best values and the like.
    pub meta: serde_json::Value,
    /// Saved weights (the best epoch's, for `restore_best_weights`); not serialized
    /// as JSON but stored as tensors beside the model's.
    #[serde(skip)]
    pub tensors: Vec<Vec<f32>>,
}

/// Hooks into the training loop. Every method has a do-nothing default but
/// [`Callback::on_epoch_end`].
pub trait Callback: Send {
    /// A short name, used as the key of its state in checkpoints.
    fn name(&self) -> &'static str;

    /// Called once before the first epoch (or the first resumed step).
    fn on_train_begin(&mut self, _model: &mut Sequential) -> Result<()> {
        Ok(())
    }

    /// Called before each step with the number of steps taken so far in the whole run
    /// (the optimizer's iteration count), and the steps per epoch.
    fn on_batch_begin(&mut self, _model: &mut Sequential, _step: u64, _steps_per_epoch: usize) {}

    /// Called after each step with the steps taken so far in the whole run (this one
    /// included) and the batch's mean loss.
    fn on_batch_end(&mut self, _step: u64, _loss: f64) -> Result<()> {
        Ok(())
    }

    /// Called after each epoch (after validation); may stop training.
    fn on_epoch_end(&mut self, model: &mut Sequential, end: &mut EpochEnd<'_>) -> Result<Control>;

    /// Called once when training ends, normally or by a stop.
    fn on_train_end(&mut self, _model: &mut Sequential, _history: &History) -> Result<()> {
        Ok(())
    }

    /// The state to save in a checkpoint.
    fn state(&self) -> CallbackState {
        CallbackState::default()
    }

    /// Restores a state saved by [`Callback::state`].
    fn restore(&mut self, _state: CallbackState) -> Result<()> {
        Ok(())
    }
}

/// Whether a monitored value should go down or up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Lower is better (losses).
    Min,
    /// Higher is better (accuracies).
    Max,
    /// `max` for a name containing `acc`, else `min` (Keras's rule).
    Auto,
}

impl Mode {
    /// Parses `min`, `max` or `auto`.
    pub fn parse(s: &str) -> Result<Mode> {
        match s {
            "min" => Ok(Mode::Min),
            "max" => Ok(Mode::Max),
            "auto" => Ok(Mode::Auto),
            other => Err(Error::config(format!(
                "mode must be min, max or auto, not '{other}'"
            ))),
        }
    }

    /// `Min` or `Max` for the metric `monitor`.
    pub fn resolve(self, monitor: &str) -> Mode {
        match self {
            Mode::Auto if monitor.contains("acc") => Mode::Max,
            Mode::Auto => Mode::Min,
            m => m,
        }
    }
}

/// The metric names a callback can monitor.
pub const METRICS: [&str; 4] = ["loss", "accuracy", "val_loss", "val_accuracy"];

/// Checks a monitored metric's name.
pub fn check_monitor(monitor: &str) -> Result<()> {
    if METRICS.contains(&monitor) || monitor == "acc" || monitor == "val_acc" {
        Ok(())
    } else {
        Err(Error::config(format!(
            "cannot monitor '{monitor}': the metrics are {}",
            METRICS.join(", ")
        )))
    }
}

/// Tracks the best value of a metric, with Keras's improvement rule: in `min` mode a
/// value improves when `value < best - min_delta` (and mirrored for `max`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    /// The metric's name.
    pub name: String,
    /// `Min` or `Max` (never `Auto` once built).
    pub mode: Mode,
    /// Smallest change that counts as an improvement (non-negative).
    pub min_delta: f64,
    /// The best value so far (`None` before the first epoch).
    pub best: Option<f64>,
}

impl Monitor {
    /// A monitor of `name` in `mode`.
    pub fn new(name: &str, mode: Mode, min_delta: f64) -> Result<Monitor> {
        check_monitor(name)?;
        if !(min_delta >= 0.0 && min_delta.is_finite()) {
            return Err(Error::config(format!(
                "min_delta must be a non-negative number, got {min_delta}"
            )));
        }
        Ok(Monitor {
            name: name.to_string(),
            mode: mode.resolve(name),
            min_delta,
            best: None,
        })
    }

    /// The metric's value at the end of an epoch: `None` when the epoch was not
    /// validated (`validation_freq`), an error when there is no validation data at all.
    pub fn value(&self, end: &EpochEnd<'_>, who: &str) -> Result<Option<f64>> {
        match end.log.metric(&self.name) {
            Some(v) => Ok(Some(v)),
            None if end.validation_skipped => Ok(None),
            None => Err(Error::config(format!(
                "{who} monitors {} but there is no validation data: give validation data (--validation-split, or a test set) or monitor loss/accuracy",
                self.name
            ))),
        }
    }

    /// Whether `value` improves on the best so far (always true for the first value;
    /// never for NaN).
    pub fn improves(&self, value: f64) -> bool {
        if value.is_nan() {
            return false;
        }
        match (self.best, self.mode) {
            (None, _) => true,
            (Some(b), Mode::Max) => value - self.min_delta > b,
            (Some(b), _) => value + self.min_delta < b,
        }
    }

    /// The best so far as Keras prints it (`inf` before the first value).
    pub fn best_text(&self) -> String {
        match (self.best, self.mode) {
            (Some(b), _) => format!("{b:.4}"),
            (None, Mode::Max) => "-inf".into(),
            (None, _) => "inf".into(),
        }
    }
}

/// The model's weights, in parameter order (for `restore_best_weights`).
pub fn weights_of(model: &Sequential) -> Vec<Vec<f32>> {
    model
        .named_params()
        .into_iter()
        .map(|(_, p)| p.value.clone())
        .collect()
}

/// Sets the model's weights from [`weights_of`]'s output.
pub fn set_weights(model: &mut Sequential, weights: &[Vec<f32>]) -> Result<()> {
    let mut i = 0;
    let mut bad = None;
    model.for_each_param_mut(|name, p| {
        match weights.get(i) {
            Some(w) if w.len() == p.value.len() => p.value.copy_from_slice(w),
            _ => bad = Some(name.to_string()),
        }
        i += 1;
    });
    match bad {
        Some(name) => Err(Error::Shape(format!(
            "saved weights do not fit the model at {name}"
        ))),
        None if i != weights.len() => Err(Error::Shape(format!(
            "{} saved weight tensors for a model with {i}",
            weights.len()
        ))),
        None => Ok(()),
    }
}
