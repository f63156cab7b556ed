//! SGD as Keras: `v = μ·v − η·g`, then `w += v`, or with Nesterov `w += μ·v − η·g`.
//! With μ = 0 this is exactly `w −= η·g` (v is then −η·g).

use super::{
    Optimizer, OptimizerConfig, TimeDecay, flush_subnormal, restore_slots, rows_of, slot_buffer,
    zip_update2,
};
use crate::error::Result;
use crate::layers::Param;

/// Stochastic gradient descent.
pub struct Sgd {
    rate: TimeDecay,
    momentum: f32,
    nesterov: bool,
    lr_t: f32,
    velocity: Vec<Vec<f32>>,
}

impl Sgd {
    /// SGD with the given settings (see [`OptimizerConfig::Sgd`]).
    pub fn new(learning_rate: f32, momentum: f32, nesterov: bool, decay: f32) -> Self {
        Sgd {
            rate: TimeDecay::new(learning_rate, decay),
            momentum,
            nesterov,
            lr_t: learning_rate,
            velocity: Vec::new(),
        }
    }
}

impl Optimizer for Sgd {
    fn config(&self) -> OptimizerConfig {
        OptimizerConfig::Sgd {
            learning_rate: self.rate.learning_rate,
            momentum: self.momentum,
            nesterov: self.nesterov,
            decay: self.rate.decay,
        }
    }

    fn iterations(&self) -> u64 {
        self.rate.iterations
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.rate.learning_rate = lr;
    }

    fn begin_step(&mut self) {
        self.lr_t = self.rate.next_f32();
    }

    fn apply_and_spend(&mut self, slot: usize, p: &mut Param) {
        p.grad_to_add(); // a spent gradient (no backward since) counts as zero
        let (lr, mu, nesterov) = (self.lr_t, self.momentum, self.nesterov);
        let v = slot_buffer(&mut self.velocity, slot, p.value.len());
        let rows = rows_of(p);
        zip_update2(rows, (&mut p.value, &p.grad), v, |w, g, v| {
            for ((w, g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
                let velocity = mu * *v - lr * *g;
                *w += if nesterov {
                    mu * velocity - lr * *g
                } else {
                    velocity
                };
                *v = flush_subnormal(velocity);
            }
        });
        p.spend_grad();
    }

    fn state(&self) -> Vec<Vec<f32>> {
        self.velocity.clone()
    }

    fn restore(&mut self, iterations: u64, state: Vec<Vec<f32>>) -> Result<()> {
        self.rate.iterations = iterations;
        restore_slots(&mut self.velocity, state, "SGD")
    }
}
