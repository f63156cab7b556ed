//! Learning-rate schedules, set before every step as a pure function of the step
//! number, so a resumed run follows the same curve.

use std::f64::consts::PI;

use serde_json::json;

use super::{Callback, CallbackState, Control, EpochEnd};
use crate::error::{Error, Result};
use crate::model::Sequential;

/// A learning rate as a function of training progress. `base` is the optimizer's
/// learning rate when training starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Multiply by `factor` every `every` epochs (Keras's staircase step decay).
    Step {
        /// Epochs between drops.
        every: usize,
        /// Factor applied at each drop.
        factor: f64,
    },
    /// `base · rate^(epochs done)`, smoothly within an epoch (Keras's `ExponentialDecay`
    /// with `decay_steps` = one epoch).
    Exponential {
        /// Factor per epoch.
        rate: f64,
    },
    /// Cosine from `base` down to 0 over the whole run (Keras's `CosineDecay`).
    Cosine,
    /// Smith's one-cycle: up from `max_lr / 25` to `max_lr` over the first 30% of the
    /// steps, then cosine down to `max_lr / 25e4` (PyTorch's `OneCycleLR` defaults).
    OneCycle {
        /// The peak rate.
        max_lr: f64,
    },
}

impl Schedule {
    /// Parses `step:EVERY:FACTOR`, `exponential:RATE`, `cosine`, `one-cycle:MAX_LR`.
    pub fn parse(s: &str) -> Result<Schedule> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |i: usize, what: &str| -> Result<f64> {
            parts
                .get(i)
                .and_then(|p| p.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| {
                    Error::config(format!(
                        "--lr-schedule {s}: {what} must be a positive number"
                    ))
                })
        };
        let schedule = match parts[0] {
            "step" if parts.len() == 3 => {
                let every = num(1, "the epochs between drops")?;
                if every.fract() != 0.0 {
                    return Err(Error::config(format!(
                        "--lr-schedule {s}: the epochs between drops must be a whole number"
                    )));
                }
                Schedule::Step {
                    every: every as usize,
                    factor: num(2, "the factor")?,
                }
            }
            "exponential" if parts.len() == 2 => Schedule::Exponential {
                rate: num(1, "the rate")?,
            },
            "cosine" if parts.len() == 1 => Schedule::Cosine,
            "one-cycle" | "onecycle" if parts.len() == 2 => Schedule::OneCycle {
                max_lr: num(1, "the peak rate")?,
            },
            _ => {
                return Err(Error::config(format!(
                    "--lr-schedule '{s}' is not a schedule: use step:EVERY:FACTOR, exponential:RATE, cosine or one-cycle:MAX_LR"
                )));
            }
        };
        Ok(schedule)
    }

    /// The rate at `step` (from 0) of `total` steps, `per_epoch` steps an epoch.
    pub fn rate(&self, base: f64, step: u64, per_epoch: usize, total: u64) -> f64 {
        let per_epoch = per_epoch.max(1) as f64;
        let progress = (step as f64 / total.max(1) as f64).min(1.0);
        match *self {
            Schedule::Step { every, factor } => {
                let epoch = (step as f64 / per_epoch).floor() as usize;
                base * factor.powi((epoch / every.max(1)) as i32)
            }
            Schedule::Exponential { rate } => base * rate.powf(step as f64 / per_epoch),
            Schedule::Cosine => base * 0.5 * (1.0 + (PI * progress).cos()),
            Schedule::OneCycle { max_lr } => {
                let start = max_lr / 25.0;
                let end = start / 1e4;
                let warm = 0.3;
                let cos =
                    |from: f64, to: f64, t: f64| to + (from - to) * 0.5 * (1.0 + (PI * t).cos());
                if progress < warm {
                    cos(start, max_lr, progress / warm)
                } else {
                    cos(max_lr, end, (progress - warm) / (1.0 - warm))
                }
            }
        }
    }
}

/// Sets the optimizer's learning rate before every step from a [`Schedule`]
/// (Keras's `LearningRateScheduler`, at step granularity).
#[derive(Debug, Clone)]
pub struct LearningRateScheduler {
    schedule: Schedule,
    base: Option<f64>,
    total_steps: u64,
}

impl LearningRateScheduler {
    /// A scheduler over a run of `total_steps` steps (epochs × steps per epoch).
    pub fn new(schedule: Schedule, total_steps: u64) -> Self {
        LearningRateScheduler {
            schedule,
            base: None,
            total_steps,
        }
    }
}

impl Callback for LearningRateScheduler {
    fn name(&self) -> &'static str {
        "lr_schedule"
    }

    fn on_train_begin(&mut self, model: &mut Sequential) -> Result<()> {
        if self.base.is_none() {
            self.base = model.optimizer().map(|o| o.config().learning_rate() as f64);
        }
        Ok(())
    }

    fn on_batch_begin(&mut self, model: &mut Sequential, step: u64, steps_per_epoch: usize) {
        let Some(base) = self.base else { return };
        let lr = self
            .schedule
            .rate(base, step, steps_per_epoch, self.total_steps);
        if let Some(opt) = model.optimizer_mut() {
            opt.set_learning_rate(lr as f32);
        }
    }

    fn on_epoch_end(
        &mut self,
        _model: &mut Sequential,
        _end: &mut EpochEnd<'_>,
    ) -> Result<Control> {
        Ok(Control::Continue)
    }

    fn state(&self) -> CallbackState {
        CallbackState {
            meta: json!({"base": self.base}),
            tensors: Vec::new(),
        }
    }

    fn restore(&mut self, state: CallbackState) -> Result<()> {
        self.base = state.meta["base"].as_f64();
        Ok(())
    }
}
