//! `EarlyStopping`: stop when the monitored metric has not improved for `patience`
//! epochs, optionally going back to the best epoch's weights.

use serde_json::json;

use super::{Callback, CallbackState, Control, EpochEnd, Mode, Monitor, set_weights, weights_of};
use crate::error::{Error, Result};
use crate::model::Sequential;

/// Keras's `EarlyStopping(monitor, min_delta, patience, mode, restore_best_weights)`.
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    monitor: Monitor,
    patience: usize,
    restore_best_weights: bool,
    /// Epochs since the last improvement.
    wait: usize,
    best_epoch: usize,
    best_weights: Option<Vec<Vec<f32>>>,
    /// The epoch training stopped at (0 while it runs).
    pub stopped_epoch: usize,
}

impl EarlyStopping {
    /// Stops after `patience` epochs without an improvement of `monitor` by more than
    /// `min_delta`.
    pub fn new(monitor: &str, patience: usize, min_delta: f64, mode: Mode) -> Result<Self> {
        if patience == 0 {
            return Err(Error::config(
                "early-stopping patience must be at least 1 epoch",
            ));
        }
        Ok(EarlyStopping {
            monitor: Monitor::new(monitor, mode, min_delta)?,
            patience,
            restore_best_weights: false,
            wait: 0,
            best_epoch: 0,
            best_weights: None,
            stopped_epoch: 0,
        })
    }

    /// Goes back to the best epoch's weights when it stops (Keras's
    /// `restore_best_weights=True`).
    pub fn restore_best_weights(mut self, yes: bool) -> Self {
        self.restore_best_weights = yes;
        self
    }

    /// The epoch with the best value so far (0 before the first).
    pub fn best_epoch(&self) -> usize {
        self.best_epoch
    }
}

impl Callback for EarlyStopping {
    fn name(&self) -> &'static str {
        "early_stopping"
    }

    fn on_epoch_end(&mut self, model: &mut Sequential, end: &mut EpochEnd<'_>) -> Result<Control> {
        let Some(value) = self.monitor.value(end, "EarlyStopping")? else {
            return Ok(Control::Continue); // not validated this epoch
        };
        if self.monitor.improves(value) {
            self.monitor.best = Some(value);
            self.best_epoch = end.log.epoch;
            self.wait = 0;
            if self.restore_best_weights {
                self.best_weights = Some(weights_of(model));
            }
            return Ok(Control::Continue);
        }
        self.wait += 1;
        if self.wait < self.patience {
            return Ok(Control::Continue);
        }
        self.stopped_epoch = end.log.epoch;
        let mut line = format!(
            "Epoch {}: early stopping: {} has not improved for {} epochs (best {} at epoch {})",
            end.log.epoch,
            self.monitor.name,
            self.patience,
            self.monitor.best_text(),
            self.best_epoch
        );
        match (&self.best_weights, self.restore_best_weights) {
            (Some(w), true) => {
                set_weights(model, w)?;
                line.push_str(&format!(
                    "; restored the weights of epoch {}",
                    self.best_epoch
                ));
            }
            _ => line.push_str(&format!("; keeping the weights of epoch {}", end.log.epoch)),
        }
        end.say(line);
        Ok(Control::Stop)
    }

    fn state(&self) -> CallbackState {
        CallbackState {
            meta: json!({"best": self.monitor.best, "wait": self.wait, "best_epoch": self.best_epoch}),
            tensors: self.best_weights.clone().unwrap_or_default(),
        }
    }

    fn restore(&mut self, state: CallbackState) -> Result<()> {
        self.monitor.best = state.meta["best"].as_f64();
        self.wait = state.meta["wait"].as_u64().unwrap_or(0) as usize;
        self.best_epoch = state.meta["best_epoch"].as_u64().unwrap_or(0) as usize;
        self.best_weights = (!state.tensors.is_empty()).then_some(state.tensors);
        Ok(())
    }
}
