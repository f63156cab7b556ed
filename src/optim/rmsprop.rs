//! RMSprop as Keras/TensorFlow: `s = ρ·s + (1−ρ)·g²`, `w −= η·g / √(s + ε)`
//! (epsilon under the root).

use super::{
    Optimizer, OptimizerConfig, TimeDecay, flush_subnormal, restore_slots, rows_of, slot_buffer,
    zip_update2,
};
use crate::error::Result;
use crate::layers::Param;

/// The RMSprop optimizer (Keras's default).
pub struct RmsProp {
    rate: TimeDecay,
    rho: f32,
    epsilon: f32,
    lr_t: f32,
    mean_square: Vec<Vec<f32>>,
}

impl RmsProp {
    /// RMSprop with the given settings (see [`OptimizerConfig::Rmsprop`]).
    pub fn new(learning_rate: f32, rho: f32, epsilon: f32, decay: f32) -> Self {
        RmsProp {
            rate: TimeDecay::new(learning_rate, decay),
            rho,
            epsilon,
            lr_t: learning_rate,
            mean_square: Vec::new(),
        }
    }
}

impl Optimizer for RmsProp {
    fn config(&self) -> OptimizerConfig {
        OptimizerConfig::Rmsprop {
            learning_rate: self.rate.learning_rate,
            rho: self.rho,
            epsilon: self.epsilon,
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
        let (lr, rho, eps) = (self.lr_t, self.rho, self.epsilon);
        let s = slot_buffer(&mut self.mean_square, slot, p.value.len());
        let rows = rows_of(p);
        zip_update2(rows, (&mut p.value, &p.grad), s, |w, g, s| {
            for ((w, g), s) in w.iter_mut().zip(g).zip(s.iter_mut()) {
                let mean_square = rho * *s + (1.0 - rho) * *g * *g;
                *w -= lr * *g / (mean_square + eps).sqrt();
                *s = flush_subnormal(mean_square);
            }
        });
        p.spend_grad();
    }

    fn state(&self) -> Vec<Vec<f32>> {
        self.mean_square.clone()
    }

    fn restore(&mut self, iterations: u64, state: Vec<Vec<f32>>) -> Result<()> {
        self.rate.iterations = iterations;
        restore_slots(&mut self.mean_square, state, "RMSprop")
    }
}
