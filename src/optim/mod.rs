//! Optimizers with Keras's names, parameters and defaults.
//!
//! Each step, the model calls [`Optimizer::begin_step`] once, then
//! [`Optimizer::apply_and_spend`] for every parameter in a fixed order (`slot` is the
//! index in that order): it applies the gradient and marks it spent
//! ([`Param::spend_grad`]) instead of zeroing it, as the next backward writes over it,
//! so no pass over memory clears it. [`Optimizer::update`] zeroes it as well, for
//! gradients written by hand.
//!
//! `decay` is Keras 2's time-based decay: step `t` (from 0) uses
//! `learning_rate / (1 + decay · t)`.
//!
//! The state an optimizer keeps (momentum, moments, mean squares) is stored with its
//! subnormal numbers flushed to 0, after this step's update has used it as
//! computed. A weight whose gradient stays zero for a while (the first layer's row
//! for a pixel blank in every image of the last batches) sees its state shrink by a
//! constant factor each step, into the subnormals, where it sticks for good (0.9
//! times the smallest of them rounds back to them); and every vector instruction
//! that meets a subnormal costs a microcode assist of over a hundred cycles on Intel
//! cores. In `mlp-512-512` at batch 32, 5% of RMSprop's mean squares of the first
//! layer were subnormal by step 1,500 of the first epoch's 1,875 (11% of Adam's
//! first moments by step 3,500; `bench/subnormal-count.patch` counts them), which
//! made the update twice as slow as its memory traffic allows. TensorFlow, under Keras, avoids them by setting the CPU's
//! flush-to-zero mode; Rust code may not change the floating-point environment.
//!
//! What flushing changes: RMSprop's `s` and Adam's `v` enter the update as `s + ε`
//! and `√v + ε`, where a subnormal (or its square root, under 1.1e-19) is far less
//! than half a unit in the last place of any `ε` above 1e-11, so the weights are the
//! same bits as without flushing. Adam's `m` and SGD's velocity move a weight by the
//! state itself: a flushed value is one that would have moved it by less than
//! `1.2e-38 · α / ε` (Adam, `α` the step's bias-corrected rate) or `1.2e-38` (SGD),
//! which changes nothing unless the weight is itself within about 2²⁴ times that of
//! zero. `tests/suite/optimizers.rs` checks both against the updates without
//! flushing, and `mlp-512-512`'s weights after two epochs of RMSprop and of SGD
//! with momentum, and three of Adam, are the same bits as before flushing.

mod adam;
mod rmsprop;
mod sgd;

use serde::{Deserialize, Serialize};

pub use adam::Adam;
pub use rmsprop::RmsProp;
pub use sgd::Sgd;

use crate::error::{Error, Result};
use crate::kernels::owned::{OwnedRows, for_each_owner};
use crate::layers::Param;

/// Applies gradients to parameters.
pub trait Optimizer: Send + Sync {
    /// The configuration that rebuilds this optimizer (with its current learning rate).
    fn config(&self) -> OptimizerConfig;

    /// Steps taken so far.
    fn iterations(&self) -> u64;

    /// Sets the base learning rate (schedules and callbacks use this).
    fn set_learning_rate(&mut self, lr: f32);

    /// Starts a step: advances the step counter and works out this step's rates.
    fn begin_step(&mut self);

    /// Applies `p.grad` to `p.value` (a spent gradient counts as zero) and marks it
    /// spent ([`Param::spend_grad`]), leaving its values in place: the model's own
    /// step, whose next backward pass writes over it.
    fn apply_and_spend(&mut self, slot: usize, p: &mut Param);

    /// Applies `p.grad` to `p.value` and zeroes `p.grad`, for loops that write or add
    /// gradients by hand.
    fn update(&mut self, slot: usize, p: &mut Param) {
        self.apply_and_spend(slot, p);
        p.grad.fill(0.0);
        p.grad_stale = false;
    }

    /// The per-parameter state (moments, velocities), for checkpoints.
    fn state(&self) -> Vec<Vec<f32>>;

    /// Restores the state saved by [`Optimizer::state`] and the step counter.
    fn restore(&mut self, iterations: u64, state: Vec<Vec<f32>>) -> Result<()>;
}

/// An optimizer and its settings, as stored in model and run files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Stochastic gradient descent with optional (Nesterov) momentum.
    Sgd {
        /// Step size (Keras default 0.01).
        learning_rate: f32,
        /// Momentum factor in [0, 1) (default 0).
        momentum: f32,
        /// Use Nesterov momentum.
        nesterov: bool,
        /// Time-based learning-rate decay.
        decay: f32,
    },
    /// Adam (Kingma & Ba), Keras's formulation with epsilon-hat.
    Adam {
        /// Step size (default 0.001).
        learning_rate: f32,
        /// First-moment decay (default 0.9).
        beta_1: f32,
        /// Second-moment decay (default 0.999).
        beta_2: f32,
        /// Added to the root of the second moment (default 1e-7).
        epsilon: f32,
        /// Time-based learning-rate decay.
        decay: f32,
    },
    /// AdamW (Loshchilov & Hutter): Adam with decoupled weight decay. Each step first
    /// shrinks every kernel by `learning_rate · weight_decay` of itself (biases and
    /// BatchNormalization's γ and β are not decayed), then takes Adam's step.
    Adamw {
        /// Step size (default 0.001).
        learning_rate: f32,
        /// Decoupled weight decay (Keras's default 0.004).
        weight_decay: f32,
        /// First-moment decay (default 0.9).
        beta_1: f32,
        /// Second-moment decay (default 0.999).
        beta_2: f32,
        /// Added to the root of the second moment (default 1e-7).
        epsilon: f32,
        /// Time-based learning-rate decay.
        decay: f32,
    },
    /// RMSprop, Keras's default optimizer.
    Rmsprop {
        /// Step size (default 0.001).
        learning_rate: f32,
        /// Decay of the running mean of squared gradients (default 0.9).
        rho: f32,
        /// Added under the square root (default 1e-7).
        epsilon: f32,
        /// Time-based learning-rate decay.
        decay: f32,
    },
}

impl OptimizerConfig {
    /// Keras's `SGD()` defaults.
    pub fn sgd() -> Self {
        OptimizerConfig::Sgd {
            learning_rate: 0.01,
            momentum: 0.0,
            nesterov: false,
            decay: 0.0,
        }
    }

    /// Keras's `Adam()` defaults.
    pub fn adam() -> Self {
        OptimizerConfig::Adam {
            learning_rate: 0.001,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            decay: 0.0,
        }
    }

    /// Keras's `AdamW()` defaults.
    pub fn adamw() -> Self {
        OptimizerConfig::Adamw {
            learning_rate: 0.001,
            weight_decay: 0.004,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            decay: 0.0,
        }
    }

    /// Keras's `RMSprop()` defaults.
    pub fn rmsprop() -> Self {
        OptimizerConfig::Rmsprop {
            learning_rate: 0.001,
            rho: 0.9,
            epsilon: 1e-7,
            decay: 0.0,
        }
    }

    /// Defaults for the optimizer called `name` (`sgd`, `adam`, `rmsprop`).
    pub fn by_name(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "sgd" => Ok(Self::sgd()),
            "adam" => Ok(Self::adam()),
            "adamw" => Ok(Self::adamw()),
            "rmsprop" => Ok(Self::rmsprop()),
            other => Err(Error::config(format!(
                "unknown optimizer '{other}': choose sgd, adam, adamw or rmsprop"
            ))),
        }
    }

    /// The optimizer's name.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd { .. } => "sgd",
            OptimizerConfig::Adam { .. } => "adam",
            OptimizerConfig::Adamw { .. } => "adamw",
            OptimizerConfig::Rmsprop { .. } => "rmsprop",
        }
    }

    /// How many state buffers the optimizer keeps per trainable parameter once it has
    /// taken a step (SGD's velocity, RMSprop's mean square, Adam's two moments).
    pub fn state_buffers_per_param(&self) -> usize {
        match self {
            OptimizerConfig::Sgd { .. } | OptimizerConfig::Rmsprop { .. } => 1,
            OptimizerConfig::Adam { .. } | OptimizerConfig::Adamw { .. } => 2,
        }
    }

    /// The base learning rate.
    pub fn learning_rate(&self) -> f32 {
        match *self {
            OptimizerConfig::Sgd { learning_rate, .. }
            | OptimizerConfig::Adam { learning_rate, .. }
            | OptimizerConfig::Adamw { learning_rate, .. }
            | OptimizerConfig::Rmsprop { learning_rate, .. } => learning_rate,
        }
    }

    /// Checks the settings and builds the optimizer.
    pub fn build(&self) -> Result<Box<dyn Optimizer>> {
        let finite_pos = |name: &str, v: f32| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::config(format!(
                    "{name} must be a positive number, got {v}"
                )))
            }
        };
        let unit = |name: &str, v: f32| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::config(format!("{name} must be in [0, 1), got {v}")))
            }
        };
        let decay_ok = |v: f32| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::config(format!("decay must be 0 or more, got {v}")))
            }
        };
        finite_pos("learning rate", self.learning_rate())?;
        Ok(match *self {
            OptimizerConfig::Sgd {
                learning_rate,
                momentum,
                nesterov,
                decay,
            } => {
                unit("momentum", momentum)?;
                decay_ok(decay)?;
                Box::new(Sgd::new(learning_rate, momentum, nesterov, decay))
            }
            OptimizerConfig::Adam {
                learning_rate,
                beta_1,
                beta_2,
                epsilon,
                decay,
            } => {
                unit("beta_1", beta_1)?;
                unit("beta_2", beta_2)?;
                finite_pos("epsilon", epsilon)?;
                decay_ok(decay)?;
                Box::new(Adam::new(learning_rate, beta_1, beta_2, epsilon, decay))
            }
            OptimizerConfig::Adamw {
                learning_rate,
                weight_decay,
                beta_1,
                beta_2,
                epsilon,
                decay,
            } => {
                unit("beta_1", beta_1)?;
                unit("beta_2", beta_2)?;
                finite_pos("epsilon", epsilon)?;
                decay_ok(decay)?;
                if !(weight_decay.is_finite() && (0.0..1.0).contains(&weight_decay)) {
                    return Err(Error::config(format!(
                        "weight decay must be in [0, 1), got {weight_decay}"
                    )));
                }
                Box::new(
                    Adam::new(learning_rate, beta_1, beta_2, epsilon, decay)
                        .with_weight_decay(weight_decay),
                )
            }
            OptimizerConfig::Rmsprop {
                learning_rate,
                rho,
                epsilon,
                decay,
            } => {
                unit("rho", rho)?;
                finite_pos("epsilon", epsilon)?;
                decay_ok(decay)?;
                Box::new(RmsProp::new(learning_rate, rho, epsilon, decay))
            }
        })
    }
}

/// The learning rate under Keras 2's time-based `decay`, and the count of steps taken,
/// which every optimizer keeps the same way: step `t` (from 0) uses
/// `learning_rate / (1 + decay · t)`.
#[derive(Debug, Clone, Copy)]
struct TimeDecay {
    learning_rate: f32,
    decay: f32,
    iterations: u64,
}

impl TimeDecay {
    fn new(learning_rate: f32, decay: f32) -> Self {
        TimeDecay {
            learning_rate,
            decay,
            iterations: 0,
        }
    }

    /// This step's rate in f32 (SGD, RMSprop), counting the step.
    fn next_f32(&mut self) -> f32 {
        let lr = self.learning_rate / (1.0 + self.decay * self.iterations as f32);
        self.iterations += 1;
        lr
    }

    /// This step's rate in f64 (Adam, whose bias correction is in f64), counting the
    /// step.
    fn next_f64(&mut self) -> f64 {
        let lr = self.learning_rate as f64 / (1.0 + self.decay as f64 * self.iterations as f64);
        self.iterations += 1;
        lr
    }
}

/// Grows `state` to hold a zeroed buffer per slot up to `slot`, sized `len`.
fn slot_buffer(state: &mut Vec<Vec<f32>>, slot: usize, len: usize) -> &mut Vec<f32> {
    while state.len() <= slot {
        state.push(Vec::new());
    }
    let buf = &mut state[slot];
    if buf.len() != len {
        buf.clear();
        buf.resize(len, 0.0);
    }
    buf
}

fn restore_slots(state: &mut Vec<Vec<f32>>, saved: Vec<Vec<f32>>, what: &str) -> Result<()> {
    if !state.is_empty() && state.len() != saved.len() {
        return Err(Error::Shape(format!(
            "{what}: checkpoint holds {} state buffers, the optimizer has {}",
            saved.len(),
            state.len()
        )));
    }
    *state = saved;
    Ok(())
}

/// `x`, or 0 when it is a subnormal number (smaller in magnitude than
/// `f32::MIN_POSITIVE`): how the optimizers store their state (see the module docs).
/// A compare and a mask in a vector loop.
#[inline(always)]
fn flush_subnormal(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE { 0.0 } else { x }
}

/// Values at least for an update to be split across threads.
const PARALLEL_MIN: usize = 1 << 15;

/// The rows a parameter is cut into between the threads: all its dimensions but the
/// last, as the layers cut a kernel ([`crate::kernels::owned`]); a vector is one row.
fn rows_of(p: &Param) -> usize {
    match p.shape.split_last() {
        Some((_, lead)) if !lead.is_empty() => lead.iter().product(),
        _ => 1,
    }
}

/// Runs `f(w, g, s)` over a parameter of `rows` rows, its gradient and one state buffer
/// of the same length: when large, each thread on its own rows
/// ([`Owner::rows`](crate::kernels::owned::Owner::rows)), the
/// rows whose forward product and gradient the layers computed on that thread, so
/// the update finds them in that core's cache. Each value is updated alone, so the
/// result is the same whatever the cut.
fn zip_update2(
    rows: usize,
    (w, g): (&mut [f32], &[f32]),
    s: &mut [f32],
    f: impl Fn(&mut [f32], &[f32], &mut [f32]) + Sync,
) {
    let row_len = w.len() / rows.max(1);
    if w.len() < PARALLEL_MIN || rows * row_len != w.len() || rayon::current_num_threads() < 2 {
        f(w, g, s);
        return;
    }
    let (w, s) = (
        OwnedRows::new(w, rows, row_len),
        OwnedRows::new(s, rows, row_len),
    );
    for_each_owner(|o| {
        let r = o.rows(rows);
        f(w.take(o), &g[r.start * row_len..r.end * row_len], s.take(o));
    });
}

/// As [`zip_update2`] with two state buffers.
fn zip_update3(
    rows: usize,
    (w, g): (&mut [f32], &[f32]),
    (s1, s2): (&mut [f32], &mut [f32]),
    f: impl Fn(&mut [f32], &[f32], &mut [f32], &mut [f32]) + Sync,
) {
    let row_len = w.len() / rows.max(1);
    if w.len() < PARALLEL_MIN || rows * row_len != w.len() || rayon::current_num_threads() < 2 {
        f(w, g, s1, s2);
        return;
    }
    let w = OwnedRows::new(w, rows, row_len);
    let (s1, s2) = (
        OwnedRows::new(s1, rows, row_len),
        OwnedRows::new(s2, rows, row_len),
    );
    for_each_owner(|o| {
        let r = o.rows(rows);
        let g = &g[r.start * row_len..r.end * row_len];
        f(w.take(o), g, s1.take(o), s2.take(o));
    });
}
