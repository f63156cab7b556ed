//! `ZeroPadding2D`: zeros around each NHWC image,
//!   y[i + top, j + left, :] = x[i, j, :], and 0 on the margins;
//! backward crops the margins off: dx[i, j, :] = dy[i + top, j + left, :].

use rayon::prelude::*;

use super::geometry::Margins;
use super::{Layer, LayerConfig, LayerScratch};
use crate::tensor::Tensor;

/// Adds rows and columns of zeros around each image.
pub struct ZeroPadding2D {
    name: String,
    margins: Margins,
    input: [usize; 3],
    out_shape: [usize; 3],
}

impl ZeroPadding2D {
    /// Pads images of `input` (`[h, w, channels]`) by `margins`.
    pub fn new(name: String, input: [usize; 3], margins: Margins) -> Self {
        let [[top, bottom], [left, right]] = margins.0;
        ZeroPadding2D {
            name,
            margins,
            input,
            out_shape: [input[0] + top + bottom, input[1] + left + right, input[2]],
        }
    }

    /// Where row `i` of an input image starts in its output image.
    fn row_start(&self, i: usize) -> usize {
        let [[top, _], [left, _]] = self.margins.0;
        ((i + top) * self.out_shape[1] + left) * self.input[2]
    }
}

impl Layer for ZeroPadding2D {
    fn name(&self) -> &str {
        &self.name
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::ZeroPadding2D {
            padding: self.margins,
        }
    }

    fn output_shape(&self) -> &[usize] {
        &self.out_shape
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        self.infer(x, y, &mut LayerScratch::default());
    }

    fn infer(&self, x: &Tensor, y: &mut Tensor, _scratch: &mut LayerScratch) {
        let [h, w, c] = self.input;
        let [oh, ow, _] = self.out_shape;
        y.set_shape(&[x.batch(), oh, ow, c]);
        y.data_mut()
            .par_chunks_mut(oh * ow * c)
            .zip(x.data().par_chunks(h * w * c))
            .for_each(|(yi, xi)| {
                yi.fill(0.0);
                for (i, row) in xi.chunks_exact(w * c).enumerate() {
                    let start = self.row_start(i);
                    yi[start..start + w * c].copy_from_slice(row);
                }
            });
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        let [h, w, c] = self.input;
        let [oh, ow, _] = self.out_shape;
        dx.set_shape(x.shape());
        dx.data_mut()
            .par_chunks_mut(h * w * c)
            .zip(dy.data().par_chunks(oh * ow * c))
            .for_each(|(dxi, dyi)| {
                for (i, row) in dxi.chunks_exact_mut(w * c).enumerate() {
                    let start = self.row_start(i);
                    row.copy_from_slice(&dyi[start..start + w * c]);
                }
            });
    }
}
