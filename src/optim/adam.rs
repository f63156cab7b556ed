//! Adam as Keras writes it (epsilon-hat form), at step t = 1, 2, ...:
//!   m = β1·m + (1−β1)·g        v = β2·v + (1−β2)·g²
//!   w −= α·m / (√v + ε)        α = η·√(1−β2^t) / (1−β1^t)
//!
//! As AdamW, kernels are first shrunk by `w −= η·λ·w` (decoupled weight decay, with
//! `η` the step's learning rate before bias correction, as Keras 3 does).

use super::{
    Optimizer, OptimizerConfig, TimeDecay, flush_subnormal, restore_slots, rows_of, slot_buffer,
    zip_update3,
};
use crate::error::{Error, Result};
use crate::layers::Param;

/// The Adam optimizer.
pub struct Adam {
    rate: TimeDecay,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// AdamW's λ; `None` for plain Adam.
    weight_decay: Option<f32>,
    alpha: f32,
    /// This step's shrink factor of kernels, `1 − η·λ`.
    shrink: f32,
    /// First moments, one buffer per parameter slot.
    m: Vec<Vec<f32>>,
    /// Second moments, one buffer per parameter slot.
    v: Vec<Vec<f32>>,
}

impl Adam {
    /// Adam with the given settings (see [`OptimizerConfig::Adam`]).
    pub fn new(learning_rate: f32, beta_1: f32, beta_2: f32, epsilon: f32, decay: f32) -> Self {
        Adam {
            rate: TimeDecay::new(learning_rate, decay),
            beta_1,
            beta_2,
            epsilon,
            weight_decay: None,
            alpha: 0.0,
            shrink: 1.0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    /// Makes this AdamW with decoupled weight decay `weight_decay` (λ).
    pub fn with_weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = Some(weight_decay);
        self
    }
}

impl Optimizer for Adam {
    fn config(&self) -> OptimizerConfig {
        match self.weight_decay {
            None => OptimizerConfig::Adam {
                learning_rate: self.rate.learning_rate,
                beta_1: self.beta_1,
                beta_2: self.beta_2,
                epsilon: self.epsilon,
                decay: self.rate.decay,
            },
            Some(weight_decay) => OptimizerConfig::Adamw {
                learning_rate: self.rate.learning_rate,
                weight_decay,
                beta_1: self.beta_1,
                beta_2: self.beta_2,
                epsilon: self.epsilon,
                decay: self.rate.decay,
            },
        }
    }

    fn iterations(&self) -> u64 {
        self.rate.iterations
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.rate.learning_rate = lr;
    }

    fn begin_step(&mut self) {
        let lr = self.rate.next_f64();
        let t = self.rate.iterations as i32;
        let b1t = (self.beta_1 as f64).powi(t);
        let b2t = (self.beta_2 as f64).powi(t);
        self.alpha = (lr * (1.0 - b2t).sqrt() / (1.0 - b1t)) as f32;
        self.shrink = (1.0 - lr * self.weight_decay.unwrap_or(0.0) as f64) as f32;
    }

    fn apply_and_spend(&mut self, slot: usize, p: &mut Param) {
        p.grad_to_add(); // a spent gradient (no backward since) counts as zero
        let (b1, b2, eps, alpha) = (self.beta_1, self.beta_2, self.epsilon, self.alpha);
        // Only kernels are decayed: shrinking biases or γ/β only hurts.
        let shrink = if p.decays { self.shrink } else { 1.0 };
        let n = p.value.len();
        let m = slot_buffer(&mut self.m, slot, n);
        let v = slot_buffer(&mut self.v, slot, n);
        let rows = rows_of(p);
        zip_update3(rows, (&mut p.value, &p.grad), (m, v), |w, g, m, v| {
            for (((w, g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                let moment = *m + (*g - *m) * (1.0 - b1);
                let second = *v + (*g * *g - *v) * (1.0 - b2);
                *w = *w * shrink - alpha * moment / (second.sqrt() + eps);
                *m = flush_subnormal(moment);
                *v = flush_subnormal(second);
            }
        });
        p.spend_grad();
    }

    /// First moments of every slot, then second moments.
    fn state(&self) -> Vec<Vec<f32>> {
        self.m.iter().chain(&self.v).cloned().collect()
    }

    fn restore(&mut self, iterations: u64, mut state: Vec<Vec<f32>>) -> Result<()> {
        if !state.len().is_multiple_of(2) {
            return Err(Error::Shape(
                "Adam: checkpoint state must hold moment pairs".into(),
            ));
        }
        self.rate.iterations = iterations;
        let v = state.split_off(state.len() / 2);
        restore_slots(&mut self.m, state, "Adam")?;
        restore_slots(&mut self.v, v, "Adam")
    }
}
