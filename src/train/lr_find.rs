//! The learning-rate range test (Smith, "Cyclical Learning Rates", 2017; fastai's
//! `lr_find`): train for a few hundred steps while the learning rate grows
//! exponentially from `start_lr` to `end_lr`, record the loss of each step, and stop
//! once it diverges. The rate where the smoothed loss falls fastest is a good one to
//! train at.
//!
//!   lr_i = start · (end / start)^(i / (steps - 1))
//!   avg_i = β·avg_{i-1} + (1 - β)·loss_i,   smoothed_i = avg_i / (1 - β^(i+1))   (β = 0.9)
//!
//! (fastai smooths with β = 0.98; over 100 steps spread across 8 decades that
//! average trails the raw loss by about 50 steps, 4 decades, and moves the
//! suggestion with it; β = 0.9 trails by about 10 steps.)
//!
//! It stops when a loss is not finite or the smoothed loss exceeds 4 times its
//! minimum. The suggestion is the rate at the most negative slope of the smoothed
//! loss against log(lr), ignoring the first tenth of the steps (where the
//! exponential average has not settled) and the points after the minimum.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::Sequential;

/// Settings of [`lr_find`].
#[derive(Debug, Clone, PartialEq)]
pub struct LrFindOptions {
    /// The first step's learning rate.
    pub start_lr: f32,
    /// The last step's learning rate, if the loss has not diverged before it.
    pub end_lr: f32,
    /// Steps from `start_lr` to `end_lr`.
    pub steps: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Seed of the batches' order.
    pub seed: u64,
}

impl Default for LrFindOptions {
    /// fastai's defaults: 1e-7 to 10 over 100 steps; batches of 64.
    fn default() -> Self {
        LrFindOptions {
            start_lr: 1e-7,
            end_lr: 10.0,
            steps: 100,
            batch_size: 64,
            seed: 42,
        }
    }
}

impl LrFindOptions {
    /// Refuses rates that do not grow from a positive start, and step counts or
    /// batch sizes that measure nothing.
    pub fn validate(&self) -> Result<()> {
        let (start_lr, end_lr) = (self.start_lr, self.end_lr);
        if !(start_lr > 0.0 && end_lr > start_lr && end_lr.is_finite()) {
            return Err(Error::config(format!(
                "the learning rates must grow from a positive start: got {start_lr} to {end_lr}"
            )));
        }
        if !(2..=100_000).contains(&self.steps) || self.batch_size == 0 {
            return Err(Error::config(format!(
                "the range test needs 2 to 100000 steps and a batch of at least 1, got {} steps of {}",
                self.steps, self.batch_size
            )));
        }
        Ok(())
    }
}

/// What the range test measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LrFinding {
    /// The learning rate of each step taken.
    pub learning_rates: Vec<f32>,
    /// Each step's mean batch loss.
    pub losses: Vec<f64>,
    /// The losses, exponentially smoothed and bias-corrected.
    pub smoothed: Vec<f64>,
    /// The rate at the steepest descent of the smoothed loss (`None` when too few
    /// steps ran to tell).
    pub suggestion: Option<f32>,
}

/// Runs the range test on `model`, which must be compiled and is trained by it: pass
/// a copy you do not need afterwards (the CLI builds a fresh model for it).
pub fn lr_find(model: &mut Sequential, train: &Dataset, opts: &LrFindOptions) -> Result<LrFinding> {
    opts.validate()?;
    let LrFindOptions {
        start_lr,
        end_lr,
        steps,
        batch_size,
        seed,
    } = *opts;
    model.check_data(train)?;
    if train.is_empty() {
        return Err(Error::config("the range test needs training images"));
    }
    let batch = batch_size.min(train.len());
    model.check_batch(batch, true)?;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    order.shuffle(&mut rng);
    let ratio = (end_lr as f64 / start_lr as f64).ln();
    let beta = 0.9f64;
    let (mut avg, mut best) = (0.0f64, f64::INFINITY);
    let mut found = LrFinding {
        learning_rates: Vec::with_capacity(steps),
        losses: Vec::with_capacity(steps),
        smoothed: Vec::with_capacity(steps),
        suggestion: None,
    };
    let mut cursor = 0;
    for i in 0..steps {
        let lr = (start_lr as f64 * (ratio * i as f64 / (steps - 1) as f64).exp()) as f32;
        model
            .optimizer_mut()
            .ok_or_else(|| Error::config("compile the model before the range test"))?
            .set_learning_rate(lr);
        if cursor + batch > order.len() {
            order.shuffle(&mut rng);
            cursor = 0;
        }
        let stats = model.train_on_batch(train, &order[cursor..cursor + batch])?;
        cursor += batch;
        let loss = stats.loss_sum / batch as f64;
        if !loss.is_finite() {
            break;
        }
        avg = beta * avg + (1.0 - beta) * loss;
        let smoothed = avg / (1.0 - beta.powi(i as i32 + 1));
        found.learning_rates.push(lr);
        found.losses.push(loss);
        found.smoothed.push(smoothed);
        if smoothed > 4.0 * best {
            break;
        }
        best = best.min(smoothed);
    }
    found.suggestion = steepest(&found.learning_rates, &found.smoothed);
    Ok(found)
}

/// The rate at the most negative slope of `smoothed` against log(lr), between the
/// first tenth of the points and the minimum.
fn steepest(lrs: &[f32], smoothed: &[f64]) -> Option<f32> {
    let n = smoothed.len();
    let min_at = (0..n).min_by(|&a, &b| smoothed[a].total_cmp(&smoothed[b]))?;
    let first = (n / 10).max(1);
    let slope = |i: usize| {
        let dx = (lrs[i + 1] as f64).ln() - (lrs[i - 1] as f64).ln();
        (smoothed[i + 1] - smoothed[i - 1]) / dx
    };
    (first..min_at.min(n.saturating_sub(1)))
        .filter(|&i| i >= 1 && i + 1 < n)
        .min_by(|&a, &b| slope(a).total_cmp(&slope(b)))
        .map(|i| lrs[i])
}
