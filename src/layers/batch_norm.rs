//! `BatchNormalization` over the last axis (the channels of NHWC images, or the
//! features of a flat input): `y = γ · (x - μ) / √(σ² + ε) + β`.
//!
//! In training, μ and σ² are the batch's (biased variance, as Keras uses) and the
//! moving statistics move toward them by `1 - momentum`; in inference the moving
//! statistics stand in. backward, with `x̂ = (x - μ)/√(σ² + ε)` and m values per
//! channel:
//!   dγ += Σ dy·x̂     dβ += Σ dy
//!   dx = γ/√(σ² + ε) · (dy - Σdy/m - x̂·Σ(dy·x̂)/m)     (batch statistics)
//!   dx = γ/√(σ² + ε) · dy                               (moving statistics)
//!
//! Sums run in f64 in a fixed order, so they are exact enough and reproducible.

use super::{Layer, LayerConfig, Param};
use crate::kernels::for_each_row;
use crate::tensor::Tensor;

/// Batch normalization with Keras's parameters (γ, β trainable; the moving mean and
/// variance saved with the model but not trained).
pub struct BatchNormalization {
    name: String,
    momentum: f32,
    epsilon: f32,
    out_shape: Vec<usize>,
    gamma: Param,
    beta: Param,
    moving_mean: Param,
    moving_variance: Param,
    /// μ and 1/√(σ² + ε) used by the last forward.
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    /// The last forward normalized by batch statistics.
    batch_stats: bool,
    sums: Vec<f64>,
}

impl BatchNormalization {
    /// The layer for items of `input_shape`, normalizing over its last axis.
    pub fn new(name: String, input_shape: &[usize], momentum: f32, epsilon: f32) -> Self {
        let c = *input_shape.last().unwrap_or(&1);
        BatchNormalization {
            name,
            momentum,
            epsilon,
            out_shape: input_shape.to_vec(),
            gamma: Param::new("gamma", vec![c], vec![1.0; c]),
            beta: Param::new("beta", vec![c], vec![0.0; c]),
            moving_mean: Param::state("moving_mean", vec![c], vec![0.0; c]),
            moving_variance: Param::state("moving_variance", vec![c], vec![1.0; c]),
            mean: vec![0.0; c],
            inv_std: vec![1.0; c],
            batch_stats: false,
            sums: vec![0.0; 2 * c],
        }
    }

    fn channels(&self) -> usize {
        self.gamma.value.len()
    }
}

impl Layer for BatchNormalization {
    fn name(&self) -> &str {
        &self.name
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::BatchNormalization {
            momentum: self.momentum,
            epsilon: self.epsilon,
        }
    }

    fn output_shape(&self) -> &[usize] {
        &self.out_shape
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        let c = self.channels();
        y.set_shape(x.shape());
        let xd = x.data();
        let m = xd.len() / c;
        self.batch_stats = training && m > 0;
        if self.batch_stats {
            let (s1, s2) = self.sums.split_at_mut(c);
            s1.fill(0.0);
            s2.fill(0.0);
            for row in xd.chunks_exact(c) {
                s1.iter_mut().zip(row).for_each(|(a, &v)| *a += v as f64);
            }
            let inv_m = 1.0 / m as f64;
            s1.iter_mut().for_each(|a| *a *= inv_m);
            for row in xd.chunks_exact(c) {
                for ((a, &v), &mu) in s2.iter_mut().zip(row).zip(s1.iter()) {
                    let d = v as f64 - mu;
                    *a += d * d;
                }
            }
            let mom = self.momentum as f64;
            for j in 0..c {
                let var = s2[j] * inv_m;
                self.mean[j] = s1[j] as f32;
                self.inv_std[j] = (1.0 / (var + self.epsilon as f64).sqrt()) as f32;
                let mm = &mut self.moving_mean.value[j];
                *mm = (mom * *mm as f64 + (1.0 - mom) * s1[j]) as f32;
                let mv = &mut self.moving_variance.value[j];
                *mv = (mom * *mv as f64 + (1.0 - mom) * var) as f32;
            }
        } else {
            for j in 0..c {
                self.mean[j] = self.moving_mean.value[j];
                self.inv_std[j] = (1.0
                    / (self.moving_variance.value[j] as f64 + self.epsilon as f64).sqrt())
                    as f32;
            }
        }
        let (mean, inv_std, gamma, beta) = (
            &self.mean,
            &self.inv_std,
            &self.gamma.value,
            &self.beta.value,
        );
        y.data_mut().copy_from_slice(xd);
        for_each_row(y.data_mut(), c, |_, row| {
            for j in 0..row.len() {
                row[j] = (row[j] - mean[j]) * inv_std[j] * gamma[j] + beta[j];
            }
        });
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let c = self.channels();
        let (xd, dyd) = (x.data(), dy.data());
        let m = xd.len() / c;
        let (s_dy, s_dyx) = self.sums.split_at_mut(c);
        s_dy.fill(0.0);
        s_dyx.fill(0.0);
        for (row, g) in xd.chunks_exact(c).zip(dyd.chunks_exact(c)) {
            for j in 0..c {
                let xhat = (row[j] - self.mean[j]) * self.inv_std[j];
                s_dy[j] += g[j] as f64;
                s_dyx[j] += (g[j] * xhat) as f64;
            }
        }
        for j in 0..c {
            self.gamma.grad[j] += s_dyx[j] as f32;
            self.beta.grad[j] += s_dy[j] as f32;
        }
        let Some(dx) = dx else { return };
        dx.set_shape(x.shape());
        let (mean, inv_std, gamma) = (&self.mean, &self.inv_std, &self.gamma.value);
        let inv_m = if self.batch_stats {
            1.0 / m as f64
        } else {
            0.0
        };
        let (s_dy, s_dyx) = (&*s_dy, &*s_dyx);
        dx.data_mut().copy_from_slice(dyd);
        for_each_row(dx.data_mut(), c, |i, d| {
            let row = &xd[i * c..(i + 1) * c];
            for j in 0..c {
                let xhat = (row[j] - mean[j]) * inv_std[j];
                let mean_dy = (s_dy[j] * inv_m) as f32;
                let mean_dyx = (s_dyx[j] * inv_m) as f32;
                d[j] = gamma[j] * inv_std[j] * (d[j] - mean_dy - xhat * mean_dyx);
            }
        });
    }

    fn params(&self) -> Vec<&Param> {
        vec![
            &self.gamma,
            &self.beta,
            &self.moving_mean,
            &self.moving_variance,
        ]
    }

    fn for_each_param_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.gamma);
        f(&mut self.beta);
        f(&mut self.moving_mean);
        f(&mut self.moving_variance);
    }
}
