//! SGD as Keras: `v = μ·v − η·g`, then `w += v`, or with Nesterov `w += μ·v − η·g`.
//! With μ = 0 this is exactly `w −= η·g` (v is then −η·g).

use super::{Optimizer, OptimizerConfig, restore_slots, rows_of, slot_buffer, zip_update2};
use crate::error::Result;
use crate::layers::Param;

/// Stochastic gradient descent.
pub struct Sgd {
    learning_rate: f32,
    momentum: f32,
    nesterov: bool,
    decay: f32,
    iterations: u64,
    lr_t: f32,
    velocity: Vec<Vec<f32>>,
}

impl Sgd {
    /// SGD with the given settings (see [`OptimizerConfig::Sgd`]).
    pub fn new(learning_rate: f32, momentum: f32, nesterov: bool, decay: f32) -> Self {
        Sgd {
            learning_rate,
            momentum,
            nesterov,
            decay,
            iterations: 0,
            lr_t: learning_rate,
            velocity: Vec::new(),
        }
    }
}

impl Optimizer for Sgd {
    fn config(&self) -> OptimizerConfig {
        OptimizerConfig::Sgd {
            learning_rate: self.learning_rate,
            momentum: self.momentum,
            nesterov: self.nesterov,
            decay: self.decay,
        }
    }

    fn iterations(&self) -> u64 {
        self.iterations
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.learning_rate = lr;
    }

    fn begin_step(&mut self) {
        self.lr_t = self.learning_rate / (1.0 + self.decay * self.iterations as f32);
        self.iterations += 1;
    }

    fn apply_and_spend(&mut self, slot: usize, p: &mut Param) {
        p.grad_to_add(); // a spent gradient (no backward since) counts as zero
        let (lr, mu, nesterov) = (self.lr_t, self.momentum, self.nesterov);
        let v = slot_buffer(&mut self.velocity, slot, p.value.len());
        let rows = rows_of(p);
        zip_update2(rows, (&mut p.value, &p.grad), v, |w, g, v| {
            for ((w, g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
                *v = mu * *v - lr * *g;
                *w += if nesterov { mu * *v - lr * *g } else { *v };
            }
        });
        p.spend_grad();
    }

    fn state(&self) -> Vec<Vec<f32>> {
        self.velocity.clone()
    }

    fn restore(&mut self, iterations: u64, state: Vec<Vec<f32>>) -> Result<()> {
        self.iterations = iterations;
        restore_slots(&mut self.velocity, state, "SGD")
    }
}
