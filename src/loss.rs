//! Categorical cross-entropy, `L = -1/n Σ_i Σ_c t_ic ln p_ic`, from integer labels
//! (the one-hot targets `t` are never materialized).
//!
//! When the model ends in softmax the gradient w.r.t. the logits is returned directly,
//! `(p - t) / n`, which is exact and stable where chaining through the softmax
//! Jacobian would lose precision. Otherwise the gradient w.r.t. the probabilities,
//! `-t / p / n`, is returned. Probabilities are clipped to `[1e-7, 1 - 1e-7]` inside the
//! logarithm, as Keras does.

use serde::{Deserialize, Serialize};

use crate::kernels::argmax;
use crate::tensor::Tensor;

/// Keras's clipping epsilon for cross-entropy on probabilities.
pub const EPSILON: f32 = 1e-7;

/// A loss function.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Loss {
    /// Cross-entropy between the predicted class probabilities and the labels;
    /// `label_smoothing` mixes the one-hot targets with the uniform distribution.
    CategoricalCrossentropy {
        /// Fraction of the target mass spread over all classes (0 = none).
        #[serde(default)]
        label_smoothing: f32,
    },
}

impl Default for Loss {
    fn default() -> Self {
        Loss::CategoricalCrossentropy {
            label_smoothing: 0.0,
        }
    }
}

/// Sums over one batch: the loss summed over items and the count of right answers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchStats {
    /// Σ of per-item losses.
    pub loss_sum: f64,
    /// Items whose most probable class is the label.
    pub correct: usize,
}

impl Loss {
    /// Computes the batch's loss and accuracy from the probabilities `probs`
    /// (`[n, classes]`), and when `grad` is given writes the gradient of the *mean*
    /// loss into it: w.r.t. the logits if `logits_grad`, else w.r.t. `probs`.
    pub fn compute(
        &self,
        probs: &Tensor,
        labels: &[u8],
        grad: Option<&mut Tensor>,
        logits_grad: bool,
    ) -> BatchStats {
        let Loss::CategoricalCrossentropy { label_smoothing } = *self;
        let (n, k) = (probs.batch(), probs.row_len());
        debug_assert_eq!(labels.len(), n);
        let off = label_smoothing / k as f32;
        let on = 1.0 - label_smoothing + off;
        let mut stats = BatchStats::default();
        for (i, &label) in labels.iter().enumerate() {
            let p = probs.row(i);
            let label = label as usize;
            if argmax(p) == label {
                stats.correct += 1;
            }
            let ln = |q: f32| (q.clamp(EPSILON, 1.0 - EPSILON) as f64).ln();
            stats.loss_sum -= if label_smoothing == 0.0 {
                ln(p[label])
            } else {
                p.iter()
                    .enumerate()
                    .map(|(c, &q)| (if c == label { on } else { off }) as f64 * ln(q))
                    .sum::<f64>()
            };
        }
        if let Some(grad) = grad {
            grad.set_shape(probs.shape());
            let inv_n = 1.0 / n as f32;
            for (i, &label) in labels.iter().enumerate() {
                let p = probs.row(i);
                let g = &mut grad.data_mut()[i * k..(i + 1) * k];
                for c in 0..k {
                    let t = if c == label as usize { on } else { off };
                    g[c] = if logits_grad {
                        (p[c] - t) * inv_n
                    } else {
                        -t / p[c].clamp(EPSILON, 1.0 - EPSILON) * inv_n
                    };
                }
            }
        }
        stats
    }
}
