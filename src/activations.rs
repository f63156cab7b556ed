//! Activation functions, as Keras names them, applied in place to rows of values.
//!
//! Backward passes are written in terms of the *output* `y` (relu: y > 0, sigmoid:
//! y(1-y), tanh: 1-y²), so a layer need keep only its output for backward.

use serde::{Deserialize, Serialize};

/// An activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// The identity (Keras's default for Dense).
    #[default]
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `e^x_i / Σ_j e^x_j` over each row.
    Softmax,
}

impl Activation {
    /// Parses a Keras activation name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "linear" | "none" => Activation::Linear,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "softmax" => Activation::Softmax,
            _ => return None,
        })
    }

    /// The Keras name.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
        }
    }

    /// Applies the function in place to one row of pre-activations.
    #[inline]
    pub fn forward_row(self, row: &mut [f32]) {
        match self {
            Activation::Linear => {}
            Activation::Relu => row.iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::Sigmoid => row.iter_mut().for_each(|v| *v = sigmoid(*v)),
            Activation::Tanh => row.iter_mut().for_each(|v| *v = v.tanh()),
            Activation::Softmax => softmax_row(row),
        }
    }

    /// Turns `dy` (gradient w.r.t. the outputs `y` of one row) into the gradient
    /// w.r.t. the pre-activations, in place.
    #[inline]
    pub fn backward_row(self, y: &[f32], dy: &mut [f32]) {
        match self {
            Activation::Linear => {}
            Activation::Relu => {
                for (d, &o) in dy.iter_mut().zip(y) {
                    if o <= 0.0 {
                        *d = 0.0;
                    }
                }
            }
            Activation::Sigmoid => {
                for (d, &o) in dy.iter_mut().zip(y) {
                    *d *= o * (1.0 - o);
                }
            }
            Activation::Tanh => {
                for (d, &o) in dy.iter_mut().zip(y) {
                    *d *= 1.0 - o * o;
                }
            }
            Activation::Softmax => {
                // dz_i = y_i (dy_i - Σ_j dy_j y_j)
                let dot: f32 = dy.iter().zip(y).map(|(d, o)| d * o).sum();
                for (d, &o) in dy.iter_mut().zip(y) {
                    *d = o * (*d - dot);
                }
            }
        }
    }
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    // Two branches keep exp's argument non-positive: no overflow for large |x|.
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Numerically stable softmax of one row, in place (the row's maximum is subtracted
/// before exponentiating).
pub fn softmax_row(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}
