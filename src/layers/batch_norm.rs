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
//! Sums run in f64, grouped in fixed blocks added in order, so they are exact
//! enough and reproducible on any thread count.
//!
//! Fused with the `relu` after it ([`Layer::fuse_next`], the Conv2D, BatchNormalization,
//! relu pattern): forward writes `max(0, y)`, and backward gates `dy` by `y > 0`,
//! recomputing `y` from `x` rather than reading the relu's output, so that the two
//! layers cost the passes of one.

use super::{Layer, LayerConfig, LayerScratch, Param};
use crate::activations::Activation;
use crate::kernels::{for_each_row, sum_rows};
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
    /// Whether the layer also runs the `relu` after it.
    relu: bool,
    /// The last forward's `y = x·scale + shift`, per channel (backward recomputes
    /// the relu's gate from them).
    scale: Vec<f32>,
    shift: Vec<f32>,
    /// backward's `dx = k·dy + a·x + b`, per channel.
    dx_terms: [Vec<f32>; 3],
    sums: Vec<f64>,
    partials: Vec<f64>,
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
            relu: false,
            scale: vec![0.0; c],
            shift: vec![0.0; c],
            dx_terms: [vec![0.0; c], vec![0.0; c], vec![0.0; c]],
            sums: vec![0.0; 2 * c],
            partials: Vec::new(),
        }
    }

    fn channels(&self) -> usize {
        self.gamma.value.len()
    }
}

/// One row of `y = x·scale + shift`, then `max(0, y)` with `relu`.
#[inline]
fn affine_row(y: &mut [f32], x: &[f32], (scale, shift): (&[f32], &[f32]), relu: bool) {
    let terms = y.iter_mut().zip(x).zip(scale).zip(shift);
    if relu {
        terms.for_each(|(((o, &v), &k), &b)| *o = (v * k + b).max(0.0));
    } else {
        terms.for_each(|(((o, &v), &k), &b)| *o = v * k + b);
    }
}

/// `dy` where the relu passed its input (`x·scale + shift > 0`), else 0; as the
/// relu layer's backward gates it by its output (`max(0, y) > 0`, the same test).
#[inline]
fn gate(g: f32, v: f32, k: f32, b: f32) -> f32 {
    if v * k + b > 0.0 { g } else { 0.0 }
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
            // One pass for Σx and Σx²; in f64 the cancellation in Σx²/m - μ² is far
            // below f32's resolution for any activation a network produces.
            sum_rows(m, c, &mut self.partials, &mut self.sums, |i, acc| {
                let (s1, s2) = acc.split_at_mut(c);
                for ((a1, a2), &v) in s1.iter_mut().zip(s2).zip(&xd[i * c..(i + 1) * c]) {
                    let v = v as f64;
                    *a1 += v;
                    *a2 += v * v;
                }
            });
            let (s1, s2) = self.sums.split_at(c);
            let inv_m = 1.0 / m as f64;
            let mom = self.momentum as f64;
            for j in 0..c {
                let mean = s1[j] * inv_m;
                let var = (s2[j] * inv_m - mean * mean).max(0.0);
                self.mean[j] = mean as f32;
                self.inv_std[j] = (1.0 / (var + self.epsilon as f64).sqrt()) as f32;
                let mm = &mut self.moving_mean.value[j];
                *mm = (mom * *mm as f64 + (1.0 - mom) * mean) as f32;
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
        // y = x·scale + shift with scale = γ/√(σ² + ε), shift = β - μ·scale.
        for j in 0..c {
            self.scale[j] = self.gamma.value[j] * self.inv_std[j];
            self.shift[j] = self.beta.value[j] - self.mean[j] * self.scale[j];
        }
        let (coefficients, relu) = ((&self.scale[..], &self.shift[..]), self.relu);
        for_each_row(y.data_mut(), c, |i, row| {
            affine_row(row, &xd[i * c..(i + 1) * c], coefficients, relu);
        });
    }

    fn infer(&self, x: &Tensor, y: &mut Tensor, scratch: &mut LayerScratch) {
        // y = x·scale + shift with the moving statistics, the coefficients in scratch.
        let c = self.channels();
        y.set_shape(x.shape());
        let coefficients: &mut Vec<f32> = scratch.get();
        coefficients.clear();
        coefficients.resize(2 * c, 0.0);
        let (scale, shift) = coefficients.split_at_mut(c);
        for j in 0..c {
            let variance = self.moving_variance.value[j] as f64 + self.epsilon as f64;
            scale[j] = self.gamma.value[j] * (1.0 / variance.sqrt()) as f32;
            shift[j] = self.beta.value[j] - self.moving_mean.value[j] * scale[j];
        }
        let (xd, coefficients, relu) = (x.data(), (&*scale, &*shift), self.relu);
        for_each_row(y.data_mut(), c, |i, row| {
            affine_row(row, &xd[i * c..(i + 1) * c], coefficients, relu);
        });
    }

    fn fuse_next(&mut self, next: &dyn Layer) -> bool {
        let relu = LayerConfig::Activation {
            activation: Activation::Relu,
        };
        self.relu = next.config() == relu && next.output_shape() == self.out_shape;
        self.relu
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let c = self.channels();
        let (xd, dyd) = (x.data(), dy.data());
        let m = xd.len() / c;
        let (scale, shift, relu) = (&self.scale[..], &self.shift[..], self.relu);
        // Σdy and Σdy·x (dy gated by the fused relu); then
        // Σdy·x̂ = (Σdy·x - μ·Σdy)/√(σ² + ε).
        sum_rows(m, c, &mut self.partials, &mut self.sums, |i, acc| {
            let (s_dy, s_dyx) = acc.split_at_mut(c);
            let (xr, g) = (&xd[i * c..(i + 1) * c], &dyd[i * c..(i + 1) * c]);
            // Every slice cut to c, so that the loop runs without bounds checks
            // and vectorizes.
            let (s_dy, s_dyx, scale, shift) =
                (&mut s_dy[..c], &mut s_dyx[..c], &scale[..c], &shift[..c]);
            for j in 0..c {
                let g = if relu {
                    gate(g[j], xr[j], scale[j], shift[j])
                } else {
                    g[j]
                };
                s_dy[j] += g as f64;
                s_dyx[j] += (g * xr[j]) as f64;
            }
        });
        let (s_dy, s_dyx) = self.sums.split_at_mut(c);
        let (dgamma, dbeta) = (self.gamma.grad_to_add(), self.beta.grad_to_add());
        for j in 0..c {
            s_dyx[j] = (s_dyx[j] - self.mean[j] as f64 * s_dy[j]) * self.inv_std[j] as f64;
            dgamma[j] += s_dyx[j] as f32;
            dbeta[j] += s_dy[j] as f32;
        }
        let Some(dx) = dx else { return };
        dx.set_shape(x.shape());
        // dx = k·(dy - mean(dy) - x̂·mean(dy·x̂)) with k = γ/√(σ² + ε), rewritten as
        // dx = k·dy + a·x + b so that one fused pass computes it.
        let inv_m = if self.batch_stats {
            1.0 / m as f64
        } else {
            0.0
        };
        let [k, a, b] = &mut self.dx_terms;
        for j in 0..c {
            let kj = (self.gamma.value[j] * self.inv_std[j]) as f64;
            let (mean_dy, mean_dyx) = (s_dy[j] * inv_m, s_dyx[j] * inv_m);
            let aj = -kj * self.inv_std[j] as f64 * mean_dyx;
            k[j] = kj as f32;
            a[j] = aj as f32;
            b[j] = (-kj * mean_dy - aj * self.mean[j] as f64) as f32;
        }
        let (k, a, b) = (&*k, &*a, &*b);
        let (scale, shift) = (&scale[..c], &shift[..c]);
        let (k, a, b) = (&k[..c], &a[..c], &b[..c]);
        for_each_row(dx.data_mut(), c, |i, d| {
            let (xr, g) = (&xd[i * c..(i + 1) * c], &dyd[i * c..(i + 1) * c]);
            let d = &mut d[..c];
            for j in 0..c {
                let g = if relu {
                    gate(g[j], xr[j], scale[j], shift[j])
                } else {
                    g[j]
                };
                d[j] = k[j] * g + (a[j] * xr[j] + b[j]);
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
