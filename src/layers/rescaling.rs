//! `Rescaling`: `y = x · scale + offset`, value by value (Keras's layer of that
//! name). Put first in a model, it standardizes the pixels the model was trained on
//! (`scale = 1/σ`, `offset = -μ/σ`) and travels with it, so `predict`, `serve` and
//! the exported files apply it too.
//!
//! Backward: `dx = dy · scale`.

use super::{Layer, LayerConfig, LayerScratch};
use crate::kernels::for_each_chunk;
use crate::tensor::Tensor;

/// Multiplies every value by `scale` and adds `offset`.
pub struct Rescaling {
    name: String,
    scale: f32,
    offset: f32,
    shape: Vec<usize>,
}

impl Rescaling {
    /// A rescaling of items of `shape`.
    pub fn new(name: String, shape: &[usize], scale: f32, offset: f32) -> Self {
        Rescaling {
            name,
            scale,
            offset,
            shape: shape.to_vec(),
        }
    }
}

impl Layer for Rescaling {
    fn name(&self) -> &str {
        &self.name
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::Rescaling {
            scale: self.scale,
            offset: self.offset,
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
        let (a, b, xd) = (self.scale, self.offset, x.data());
        for_each_chunk(y.data_mut(), |at, out| {
            let src = &xd[at..at + out.len()];
            out.iter_mut().zip(src).for_each(|(o, &v)| *o = v * a + b);
        });
    }

    fn backward(&mut self, _x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        dx.set_shape(dy.shape());
        let (a, dyd) = (self.scale, dy.data());
        for_each_chunk(dx.data_mut(), |at, out| {
            let src = &dyd[at..at + out.len()];
            out.iter_mut().zip(src).for_each(|(o, &g)| *o = g * a);
        });
    }
}
