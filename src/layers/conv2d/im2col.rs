//! The im2col path: each output pixel's receptive field is a row of `X̂`, and every
//! step of the layer is a GEMM over bands of those rows small enough to stay in
//! cache.
//!
//!   forward  y  = act(X̂ · W + b)
//!   kernel   dW += X̂ᵀ · dz
//!   input    dX̂ = dz · Wᵀ, scattered back onto dx (col2im), for any stride; or, for
//!            stride 1, dx = im2col(dz) · W_flipped, a convolution of its own that
//!            writes `dx` directly.
//!
//! Each thread runs single-threaded GEMMs on its own part, so the result depends on
//! the thread count but not on scheduling.

use rayon::prelude::*;

use super::geometry::Geometry;
use super::{Epilogue, ThreadBuffers};
use crate::kernels::{Dims, Operand, Store, matmul_serial};

/// `y = act(X̂ · W + b)` for `n` images. The output pixels of the whole batch are cut
/// evenly over the threads, not whole images: one image alone keeps every core busy.
pub(super) fn forward(
    g: Geometry,
    kernel: &[f32],
    out: Epilogue,
    x: &[f32],
    n: usize,
    y: &mut [f32],
    threads: &mut Vec<ThreadBuffers>,
) {
    let total = n * g.pixels();
    let per = total.div_ceil(rayon::current_num_threads().max(1)).max(1);
    let (k, f, band) = (g.patch(), g.filters, g.band());
    let parts = total.div_ceil(per);
    if threads.len() < parts {
        threads.resize_with(parts, ThreadBuffers::default);
    }
    for t in &mut threads[..parts] {
        grow(&mut t.patches, band * k);
    }
    y[..total * f]
        .par_chunks_mut(per * f)
        .zip(threads.par_iter_mut())
        .enumerate()
        .for_each(|(ci, (yc, t))| {
            let rows = yc.len() / f;
            let mut r0 = 0;
            while r0 < rows {
                let r = band.min(rows - r0);
                g.im2col(x, ci * per + r0, r, &mut t.patches);
                let y_band = &mut yc[r0 * f..(r0 + r) * f];
                matmul_serial(
                    Dims { m: r, k, n: f },
                    Operand::new(&t.patches),
                    Operand::new(kernel),
                    y_band,
                    Store::Overwrite,
                );
                out.apply(y_band, f);
                r0 += r;
            }
        });
}

/// `dW += X̂ᵀ · dz` over one chunk of images (`x` and `dz` start at its first image).
pub(super) fn kernel_grad(
    g: Geometry,
    x: &[f32],
    dz: &[f32],
    patches: &mut Vec<f32>,
    dw: &mut [f32],
) {
    let (k, f, band) = (g.patch(), g.filters, g.band());
    grow(patches, band * k);
    let total = dz.len() / f;
    let mut r0 = 0;
    while r0 < total {
        let r = band.min(total - r0);
        g.im2col(x, r0, r, patches);
        matmul_serial(
            Dims { m: k, k: r, n: f },
            Operand::transposed(patches),
            Operand::new(&dz[r0 * f..(r0 + r) * f]),
            dw,
            Store::Accumulate,
        );
        r0 += r;
    }
}

/// `dx` of one chunk of images by `dX̂ = dz · Wᵀ`, band by band, added onto `dx`
/// (zeroed first) by col2im: the path for strided convolutions, whose receptive
/// fields do not tile the input evenly.
pub(super) fn input_grad_by_scatter(
    g: Geometry,
    kernel: &[f32],
    dz: &[f32],
    dx: &mut [f32],
    patch_grads: &mut Vec<f32>,
) {
    let (k, f, band) = (g.patch(), g.filters, g.band());
    grow(patch_grads, band * k);
    dx.fill(0.0);
    let total = dz.len() / f;
    let mut r0 = 0;
    while r0 < total {
        let r = band.min(total - r0);
        matmul_serial(
            Dims { m: r, k: f, n: k },
            Operand::new(&dz[r0 * f..(r0 + r) * f]),
            Operand::transposed(kernel),
            patch_grads,
            Store::Overwrite,
        );
        g.col2im(patch_grads, r0, r, dx);
        r0 += r;
    }
}

/// `dx` of one chunk of images as the stride-1 convolution `t` (see
/// [`Geometry::transposed`]) of `dz` with the flipped kernel, band by band over the
/// input pixels: the same well-shaped GEMM as forward, writing `dx` directly.
pub(super) fn input_grad_by_convolution(
    t: Geometry,
    flipped: &[f32],
    dz: &[f32],
    dx: &mut [f32],
    patches: &mut Vec<f32>,
) {
    let (k, c, band) = (t.patch(), t.filters, t.band());
    grow(patches, band * k);
    let total = dx.len() / c;
    let mut r0 = 0;
    while r0 < total {
        let r = band.min(total - r0);
        t.im2col(dz, r0, r, patches);
        matmul_serial(
            Dims { m: r, k, n: c },
            Operand::new(patches),
            Operand::new(flipped),
            &mut dx[r0 * c..(r0 + r) * c],
            Store::Overwrite,
        );
        r0 += r;
    }
}

/// Makes `buf` at least `len` long, keeping its contents and capacity.
pub(super) fn grow(buf: &mut Vec<f32>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
}
