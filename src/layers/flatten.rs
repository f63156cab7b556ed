//! `Flatten`: each item's values in row-major order as one axis. The memory layout
//! does not change, so forward and backward are plain copies, and a model calls
//! neither unless the Flatten comes first ([`Layer::is_reshape`]): the layer before
//! writes into the Flatten's buffer, which is then only given the flat shape.

use super::{Layer, LayerConfig, LayerScratch};
use crate::tensor::Tensor;

/// Flattens each item to one axis.
pub struct Flatten {
    name: String,
    out_shape: [usize; 1],
}

impl Flatten {
    /// A Flatten layer over items of `input_shape`.
    pub fn new(name: String, input_shape: &[usize]) -> Self {
        Flatten {
            name,
            out_shape: [input_shape.iter().product()],
        }
    }
}

impl Layer for Flatten {
    fn name(&self) -> &str {
        &self.name
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::Flatten
    }

    fn output_shape(&self) -> &[usize] {
        &self.out_shape
    }

    fn is_reshape(&self) -> bool {
        true
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        self.infer(x, y, &mut LayerScratch::default());
    }

    fn infer(&self, x: &Tensor, y: &mut Tensor, _scratch: &mut LayerScratch) {
        y.set_shape(&[x.batch(), self.out_shape[0]]);
        y.data_mut().copy_from_slice(x.data());
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        if let Some(dx) = dx {
            dx.set_shape(x.shape());
            dx.data_mut().copy_from_slice(dy.data());
        }
    }
}
