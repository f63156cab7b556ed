//! `MaxPooling2D` and `AveragePooling2D` (one struct, [`Pooling2D`]), and
//! `GlobalAveragePooling2D`, over NHWC images.
//!
//! Max pooling remembers, for every output value, which input value won, so backward
//! routes each gradient to that one cell. Average pooling divides by the number of
//! window cells inside the image (TensorFlow's rule for `same` padding) and backward
//! spreads each gradient evenly over them. Images are independent, so the batch is
//! processed one image per task.

use rayon::prelude::*;

use super::geometry::{Axis, Padding, Size2};
use super::{Layer, LayerConfig, LayerScratch};
use crate::tensor::Tensor;

/// Which reduction a pooling window applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// The largest value (`MaxPooling2D`).
    Max,
    /// The mean of the cells inside the image (`AveragePooling2D`).
    Average,
}

/// A max or average pooling layer.
pub struct Pooling2D {
    name: String,
    kind: PoolKind,
    pool_size: Size2,
    strides: Size2,
    padding: Padding,
    rows: Axis,
    cols: Axis,
    channels: usize,
    out_shape: [usize; 3],
    /// Max pooling: the index, within its image, of the input value behind each
    /// output value (`u32::MAX` for a window with no cell inside the image).
    argmax: Vec<u32>,
}

impl Pooling2D {
    /// A pooling layer over `input` (`[h, w, channels]`); `None` when no window fits.
    pub fn new(
        name: String,
        kind: PoolKind,
        input: [usize; 3],
        pool_size: Size2,
        strides: Size2,
        padding: Padding,
    ) -> Option<Self> {
        let rows = Axis::new(input[0], pool_size.0[0], strides.0[0], padding.along(0))?;
        let cols = Axis::new(input[1], pool_size.0[1], strides.0[1], padding.along(1))?;
        Some(Pooling2D {
            name,
            kind,
            pool_size,
            strides,
            padding,
            rows,
            cols,
            channels: input[2],
            out_shape: [rows.output, cols.output, input[2]],
            argmax: Vec::new(),
        })
    }

    fn in_len(&self) -> usize {
        self.rows.input * self.cols.input * self.channels
    }

    fn out_len(&self) -> usize {
        self.out_shape.iter().product()
    }

    /// Calls `f(out_offset, cells)` for every output pixel of one image, where
    /// `cells` yields the offsets of the input pixels of its window.
    fn for_each_window(&self, mut f: impl FnMut(usize, &mut dyn Iterator<Item = usize>)) {
        let (c, w) = (self.channels, self.cols.input);
        for oy in 0..self.rows.output {
            let (ylo, yhi, ys) = self.rows.span(oy);
            for ox in 0..self.cols.output {
                let (xlo, xhi, xs) = self.cols.span(ox);
                let mut cells = (ylo..yhi).flat_map(move |ky| {
                    (xlo..xhi).map(move |kx| {
                        let iy = (ys + ky as isize) as usize;
                        let ix = (xs + kx as isize) as usize;
                        (iy * w + ix) * c
                    })
                });
                f((oy * self.cols.output + ox) * c, &mut cells);
            }
        }
    }
}

impl Layer for Pooling2D {
    fn name(&self) -> &str {
        &self.name
    }

    fn config(&self) -> LayerConfig {
        let (pool_size, strides, padding) = (self.pool_size, Some(self.strides), self.padding);
        match self.kind {
            PoolKind::Max => LayerConfig::MaxPooling2D {
                pool_size,
                strides,
                padding,
            },
            PoolKind::Average => LayerConfig::AveragePooling2D {
                pool_size,
                strides,
                padding,
            },
        }
    }

    fn output_shape(&self) -> &[usize] {
        &self.out_shape
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        let n = x.batch();
        let (il, ol, c) = (self.in_len(), self.out_len(), self.channels);
        y.set_shape(&[n, self.out_shape[0], self.out_shape[1], c]);
        if training && self.kind == PoolKind::Max {
            // Training max pooling records each winner for backward.
            let mut argmax = std::mem::take(&mut self.argmax);
            argmax.resize(n * ol, 0);
            let this = &*self;
            y.data_mut()
                .par_chunks_mut(ol)
                .zip(argmax.par_chunks_mut(ol))
                .zip(x.data().par_chunks(il))
                .for_each(|((yi, ai), xi)| this.pool_image(xi, yi, Some(ai)));
            self.argmax = argmax;
        } else {
            self.infer(x, y, &mut LayerScratch::default());
        }
    }

    fn infer(&self, x: &Tensor, y: &mut Tensor, _scratch: &mut LayerScratch) {
        let (il, ol, c) = (self.in_len(), self.out_len(), self.channels);
        y.set_shape(&[x.batch(), self.out_shape[0], self.out_shape[1], c]);
        y.data_mut()
            .par_chunks_mut(ol)
            .zip(x.data().par_chunks(il))
            .for_each(|(yi, xi)| self.pool_image(xi, yi, None));
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        let (il, ol, c) = (self.in_len(), self.out_len(), self.channels);
        dx.set_shape(x.shape());
        let dxd = dx.data_mut();
        match self.kind {
            PoolKind::Max => {
                dxd.par_chunks_mut(il)
                    .zip(dy.data().par_chunks(ol))
                    .zip(self.argmax.par_chunks(ol))
                    .for_each(|((dxi, dyi), ai)| {
                        dxi.fill(0.0);
                        for (&a, &g) in ai.iter().zip(dyi) {
                            if a != u32::MAX {
                                dxi[a as usize] += g;
                            }
                        }
                    });
            }
            PoolKind::Average => {
                let this = &*self;
                dxd.par_chunks_mut(il)
                    .zip(dy.data().par_chunks(ol))
                    .for_each(|(dxi, dyi)| {
                        dxi.fill(0.0);
                        for (pix, g) in dyi.chunks_exact(c).enumerate() {
                            this.spread(pix, g, dxi);
                        }
                    });
            }
        }
    }
}

impl Pooling2D {
    /// Pools one image `xi` into `yi`. Max pooling also writes, when `arg` is given,
    /// the index within the image of each output's winner (`u32::MAX` for a window
    /// with no cell inside the image); inference needs no winners, only a vector max.
    fn pool_image(&self, xi: &[f32], yi: &mut [f32], mut arg: Option<&mut [u32]>) {
        let c = self.channels;
        self.for_each_window(|o, cells| {
            let out = &mut yi[o..o + c];
            match (self.kind, arg.as_deref_mut()) {
                (PoolKind::Average, _) => {
                    out.fill(0.0);
                    let mut count = 0;
                    for cell in cells {
                        out.iter_mut()
                            .zip(&xi[cell..cell + c])
                            .for_each(|(a, v)| *a += v);
                        count += 1;
                    }
                    let inv = 1.0 / count.max(1) as f32;
                    out.iter_mut().for_each(|v| *v *= inv);
                }
                (PoolKind::Max, None) => match cells.next() {
                    None => out.fill(0.0),
                    Some(first) => {
                        out.copy_from_slice(&xi[first..first + c]);
                        for cell in cells {
                            out.iter_mut()
                                .zip(&xi[cell..cell + c])
                                .for_each(|(a, &v)| *a = a.max(v));
                        }
                    }
                },
                (PoolKind::Max, Some(ai)) => {
                    let arg = &mut ai[o..o + c];
                    match cells.next() {
                        None => {
                            out.fill(0.0);
                            arg.fill(u32::MAX);
                        }
                        Some(first) => {
                            out.copy_from_slice(&xi[first..first + c]);
                            for (j, a) in arg.iter_mut().enumerate() {
                                *a = (first + j) as u32;
                            }
                            for cell in cells {
                                for j in 0..c {
                                    let v = xi[cell + j];
                                    if v > out[j] {
                                        out[j] = v;
                                        arg[j] = (cell + j) as u32;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        });
    }

    /// Spreads output pixel `pix`'s gradient `g` evenly over its window's cells.
    fn spread(&self, pix: usize, g: &[f32], dxi: &mut [f32]) {
        let c = self.channels;
        let (oy, ox) = (pix / self.cols.output, pix % self.cols.output);
        let (ylo, yhi, ys) = self.rows.span(oy);
        let (xlo, xhi, xs) = self.cols.span(ox);
        let inv = 1.0 / ((yhi - ylo) * (xhi - xlo)).max(1) as f32;
        for ky in ylo..yhi {
            for kx in xlo..xhi {
                let iy = (ys + ky as isize) as usize;
                let ix = (xs + kx as isize) as usize;
                let cell = (iy * self.cols.input + ix) * c;
                dxi[cell..cell + c]
                    .iter_mut()
                    .zip(g)
                    .for_each(|(d, v)| *d += v * inv);
            }
        }
    }
}

/// `GlobalAveragePooling2D`: the mean of each channel over the whole image.
pub struct GlobalAveragePooling2D {
    name: String,
    pixels: usize,
    out_shape: [usize; 1],
}

impl GlobalAveragePooling2D {
    /// The layer for images of `input` (`[h, w, channels]`).
    pub fn new(name: String, input: [usize; 3]) -> Self {
        GlobalAveragePooling2D {
            name,
            pixels: input[0] * input[1],
            out_shape: [input[2]],
        }
    }
}

impl Layer for GlobalAveragePooling2D {
    fn name(&self) -> &str {
        &self.name
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::GlobalAveragePooling2D
    }

    fn output_shape(&self) -> &[usize] {
        &self.out_shape
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        self.infer(x, y, &mut LayerScratch::default());
    }

    fn infer(&self, x: &Tensor, y: &mut Tensor, _scratch: &mut LayerScratch) {
        let (c, p) = (self.out_shape[0], self.pixels);
        y.set_shape(&[x.batch(), c]);
        let inv = 1.0 / p as f32;
        y.data_mut()
            .par_chunks_mut(c)
            .zip(x.data().par_chunks(p * c))
            .for_each(|(yi, xi)| {
                yi.fill(0.0);
                for px in xi.chunks_exact(c) {
                    yi.iter_mut().zip(px).for_each(|(a, v)| *a += v);
                }
                yi.iter_mut().for_each(|v| *v *= inv);
            });
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        let (c, p) = (self.out_shape[0], self.pixels);
        dx.set_shape(x.shape());
        let inv = 1.0 / p as f32;
        dx.data_mut()
            .par_chunks_mut(p * c)
            .zip(dy.data().par_chunks(c))
            .for_each(|(dxi, g)| {
                for px in dxi.chunks_exact_mut(c) {
                    px.iter_mut().zip(g).for_each(|(d, v)| *d = v * inv);
                }
            });
    }
}
