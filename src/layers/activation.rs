//! `Activation`: an activation function as a layer of its own (`Dense` then
//! `Activation('relu')`, as one tutorial writes its MLP).

use super::{Layer, LayerConfig, LayerScratch};
use crate::activations::Activation;
use crate::kernels::for_each_row;
use crate::tensor::Tensor;

/// Applies an activation function to every item.
pub struct ActivationLayer {
    name: String,
    activation: Activation,
    softmax_fused: bool,
    shape: Vec<usize>,
}

impl ActivationLayer {
    /// An activation layer over items of `shape`. Softmax runs over the last axis.
    pub fn new(name: String, shape: &[usize], activation: Activation) -> Self {
        ActivationLayer {
            name,
            activation,
            softmax_fused: false,
            shape: shape.to_vec(),
        }
    }

    fn row_len(&self) -> usize {
        match self.activation {
            Activation::Softmax => *self.shape.last().unwrap_or(&1),
            _ => self.shape.iter().product(),
        }
    }
}

impl Layer for ActivationLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::Activation {
            activation: self.activation,
        }
    }

    fn output_shape(&self) -> &[usize] {
        &self.shape
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        self.infer(x, y, &mut LayerScratch::default());
    }

    fn infer(&self, x: &Tensor, y: &mut Tensor, _scratch: &mut LayerScratch) {
        y.set_shape(x.shape());
        let (act, r, xd) = (self.activation, self.row_len(), x.data());
        for_each_row(y.data_mut(), r, |i, row| {
            row.copy_from_slice(&xd[i * r..(i + 1) * r]);
            act.forward_row(row);
        });
    }

    fn backward(&mut self, _x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        dx.set_shape(dy.shape());
        let fused = self.softmax_fused && self.activation == Activation::Softmax;
        let (act, r, yd, dyd) = (self.activation, self.row_len(), y.data(), dy.data());
        // Row by row, so the copy is still in cache when the derivative is applied.
        for_each_row(dx.data_mut(), r, |i, d| {
            d.copy_from_slice(&dyd[i * r..(i + 1) * r]);
            if !fused {
                act.backward_row(&yd[i * r..(i + 1) * r], d);
            }
        });
    }

    fn fuse_softmax_with_loss(&mut self) -> bool {
        self.softmax_fused = self.activation == Activation::Softmax;
        self.softmax_fused
    }
}
