//! `ReduceLROnPlateau`: multiply the learning rate by `factor` when the monitored
//! metric has not improved for `patience` epochs.

use serde_json::json;

use super::{Callback, CallbackState, Control, EpochEnd, Mode, Monitor};
use crate::error::{Error, Result};
use crate::model::Sequential;

/// Keras's `ReduceLROnPlateau(monitor, factor, patience, mode, min_delta, cooldown,
/// min_lr)`.
#[derive(Debug, Clone)]
pub struct ReduceLROnPlateau {
    monitor: Monitor,
    factor: f32,
    patience: usize,
    cooldown: usize,
    min_lr: f32,
    wait: usize,
    cooldown_left: usize,
}

impl ReduceLROnPlateau {
    /// Keras's defaults but `patience`: factor 0.1, min_delta 1e-4, no cooldown, min_lr 0.
    pub fn new(monitor: &str, patience: usize) -> Result<Self> {
        if patience == 0 {
            return Err(Error::config(
                "reduce-lr-on-plateau patience must be at least 1 epoch",
            ));
        }
        Ok(ReduceLROnPlateau {
            monitor: Monitor::new(monitor, Mode::Auto, 1e-4)?,
            factor: 0.1,
            patience,
            cooldown: 0,
            min_lr: 0.0,
            wait: 0,
            cooldown_left: 0,
        })
    }

    /// The factor the rate is multiplied by (in (0, 1)).
    pub fn factor(mut self, factor: f32) -> Result<Self> {
        if !(factor > 0.0 && factor < 1.0) {
            return Err(Error::config(format!(
                "the reduce-lr factor must be between 0 and 1, got {factor}"
            )));
        }
        self.factor = factor;
        Ok(self)
    }

    /// Epochs to wait after a reduction before counting again.
    pub fn cooldown(mut self, epochs: usize) -> Self {
        self.cooldown = epochs;
        self
    }

    /// The rate never goes below this.
    pub fn min_lr(mut self, min_lr: f32) -> Self {
        self.min_lr = min_lr;
        self
    }

    /// The smallest change that counts as an improvement.
    pub fn min_delta(mut self, min_delta: f64) -> Result<Self> {
        self.monitor = Monitor::new(&self.monitor.name, self.monitor.mode, min_delta)?;
        Ok(self)
    }
}

impl Callback for ReduceLROnPlateau {
    fn name(&self) -> &'static str {
        "reduce_lr_on_plateau"
    }

    fn on_epoch_end(&mut self, model: &mut Sequential, end: &mut EpochEnd<'_>) -> Result<Control> {
        let Some(value) = self.monitor.value(end, "ReduceLROnPlateau")? else {
            return Ok(Control::Continue); // not validated this epoch
        };
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.wait = 0;
        }
        if self.monitor.improves(value) {
            self.monitor.best = Some(value);
            self.wait = 0;
        } else if self.cooldown_left == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                let Some(opt) = model.optimizer_mut() else {
                    return Ok(Control::Continue);
                };
                let old = opt.config().learning_rate();
                if old > self.min_lr {
                    let new = (old * self.factor).max(self.min_lr);
                    opt.set_learning_rate(new);
                    let sci = |v: f32| {
                        super::checkpoint::format_number(v as f64, ".4e").unwrap_or_default()
                    };
                    end.say(format!(
                        "Epoch {}: ReduceLROnPlateau reducing learning rate from {} to {} ({} has not improved for {} epochs)",
                        end.log.epoch,
                        sci(old),
                        sci(new),
                        self.monitor.name,
                        self.patience
                    ));
                    self.cooldown_left = self.cooldown;
                    self.wait = 0;
                }
            }
        }
        Ok(Control::Continue)
    }

    fn state(&self) -> CallbackState {
        CallbackState {
            meta: json!({"best": self.monitor.best, "wait": self.wait, "cooldown_left": self.cooldown_left}),
            tensors: Vec::new(),
        }
    }

    fn restore(&mut self, state: CallbackState) -> Result<()> {
        self.monitor.best = state.meta["best"].as_f64();
        self.wait = state.meta["wait"].as_u64().unwrap_or(0) as usize;
        self.cooldown_left = state.meta["cooldown_left"].as_u64().unwrap_or(0) as usize;
        Ok(())
    }
}
