//! The direct path, for convolutions of one input channel with stride 1 (the first
//! layer of every network on gray images), where im2col would copy each pixel
//! `kh·kw` times to feed a GEMM too thin to run well:
//!
//!   forward  y[oy, ox, f]  = act(b[f] + Σ_{ky,kx} xp[oy + ky, ox + kx] · W[ky, kx, f])
//!   kernel   dW[ky, kx, f] += Σ_{oy,ox} xp[oy + ky, ox + kx] · dz[oy, ox, f]
//!
//! where `xp` is the image with its padding written out as zeros. Forward keeps a
//! block of output pixels × a vector of filters in registers and streams the kernel;
//! the kernel gradient keeps a block of taps × a vector of filters in registers and
//! streams the output gradient. Both run in the widest vectors the CPU has
//! ([`crate::kernels::isa`]); filters are grouped by vectors, so the plan needs a
//! multiple of 8 of them. `dx`, when a later layer needs it, is the im2col path's.
//!
//! Images are cut into one chunk per thread; each thread sums its chunk's kernel
//! gradient in image order, so the result depends on the thread count only.

use rayon::prelude::*;

use super::geometry::Geometry;
use super::im2col::grow;
use super::{Epilogue, ThreadBuffers};
use crate::kernels::isa::{Vector, dispatch};

/// Filters are processed in groups of this many (the narrowest vector).
pub(super) const FILTER_GROUP: usize = 8;

/// Whether the direct path can compute a convolution of `g`.
pub(super) fn fits(g: &Geometry) -> bool {
    g.channels == 1
        && g.rows.stride == 1
        && g.cols.stride == 1
        && g.filters.is_multiple_of(FILTER_GROUP)
}

/// The sizes the kernels need, for one image.
#[derive(Clone, Copy)]
struct Shape {
    /// Output rows and columns.
    oh: usize,
    ow: usize,
    /// Window rows and columns.
    kh: usize,
    kw: usize,
    /// Columns of the padded image.
    pw: usize,
    /// Filters.
    f: usize,
}

impl Shape {
    fn of(g: &Geometry) -> Self {
        Shape {
            oh: g.rows.output,
            ow: g.cols.output,
            kh: g.rows.window,
            kw: g.cols.window,
            pw: g.cols.output + g.cols.window - 1,
            f: g.filters,
        }
    }

    /// Values in the padded image.
    fn padded_len(&self) -> usize {
        (self.oh + self.kh - 1) * self.pw
    }
}

/// Writes one image `x` (`[h, w]`) into `xp` with its padding as zeros.
fn pad_image(g: &Geometry, s: &Shape, x: &[f32], xp: &mut [f32]) {
    let xp = &mut xp[..s.padded_len()];
    xp.fill(0.0);
    let (h, w) = (g.rows.input, g.cols.input);
    let (top, left) = (g.rows.pad, g.cols.pad);
    let rows = h.min(s.oh + s.kh - 1 - top);
    let cols = w.min(s.pw - left);
    for iy in 0..rows {
        xp[(iy + top) * s.pw + left..][..cols].copy_from_slice(&x[iy * w..][..cols]);
    }
}

/// `y = act(conv(x) + b)` for `n` images.
pub(super) fn forward(
    g: Geometry,
    kernel: &[f32],
    out: Epilogue,
    x: &[f32],
    n: usize,
    y: &mut [f32],
    threads: &mut Vec<ThreadBuffers>,
) {
    let s = Shape::of(&g);
    let per = n.div_ceil(rayon::current_num_threads().max(1)).max(1);
    let parts = n.div_ceil(per);
    if threads.len() < parts {
        threads.resize_with(parts, ThreadBuffers::default);
    }
    let (il, ol) = (g.in_len(), g.out_len());
    y[..n * ol]
        .par_chunks_mut(per * ol)
        .zip(x[..n * il].par_chunks(per * il))
        .zip(threads.par_iter_mut())
        .for_each(|((yc, xc), t)| {
            grow(&mut t.patches, s.padded_len());
            for (yi, xi) in yc.chunks_exact_mut(ol).zip(xc.chunks_exact(il)) {
                pad_image(&g, &s, xi, &mut t.patches);
                forward_image(s, &t.patches, kernel, yi);
                out.apply(yi, g.filters);
            }
        });
}

/// `dW += Σ xp ⊗ dz` over one chunk of images (`x` and `dz` start at its first).
pub(super) fn kernel_grad(
    g: Geometry,
    x: &[f32],
    dz: &[f32],
    padded: &mut Vec<f32>,
    dw: &mut [f32],
) {
    let s = Shape::of(&g);
    grow(padded, s.padded_len());
    let (il, ol) = (g.in_len(), g.out_len());
    for (xi, dzi) in x.chunks_exact(il).zip(dz.chunks_exact(ol)) {
        pad_image(&g, &s, xi, padded);
        kernel_grad_image(s, padded, dzi, dw);
    }
}

dispatch!(
    /// The convolution of one padded image, before the epilogue.
    fn forward_image(s: Shape, xp: &[f32], w: &[f32], y: &mut [f32]) => forward_body
);

dispatch!(
    /// Adds one image's kernel gradient to `dw`.
    fn kernel_grad_image(s: Shape, xp: &[f32], dz: &[f32], dw: &mut [f32]) => grad_body
);

/// Output pixels per register block in forward.
const PIXELS: usize = 8;

#[inline(always)]
fn forward_body<V: Vector>(s: Shape, xp: &[f32], w: &[f32], y: &mut [f32]) {
    let mut fg = 0;
    while fg + V::LANES <= s.f {
        forward_group::<V>(s, fg, xp, w, y);
        fg += V::LANES;
    }
    while fg < s.f {
        forward_group::<V::Eight>(s, fg, xp, w, y);
        fg += FILTER_GROUP;
    }
}

#[inline(always)]
fn forward_group<V: Vector>(s: Shape, fg: usize, xp: &[f32], w: &[f32], y: &mut [f32]) {
    for oy in 0..s.oh {
        let mut ox = 0;
        while ox + PIXELS <= s.ow {
            forward_block::<V, PIXELS>(s, fg, oy, ox, xp, w, y);
            ox += PIXELS;
        }
        while ox < s.ow {
            forward_block::<V, 1>(s, fg, oy, ox, xp, w, y);
            ox += 1;
        }
    }
}

/// Output pixels `ox..ox + P` of row `oy`, filters `fg..fg + V::LANES`.
#[inline(always)]
fn forward_block<V: Vector, const P: usize>(
    s: Shape,
    fg: usize,
    oy: usize,
    ox: usize,
    xp: &[f32],
    w: &[f32],
    y: &mut [f32],
) {
    let mut acc = [V::zero(); P];
    for ky in 0..s.kh {
        let row = &xp[(oy + ky) * s.pw + ox..][..P + s.kw - 1];
        for kx in 0..s.kw {
            let wk = V::load(&w[(ky * s.kw + kx) * s.f + fg..]);
            let xs = &row[kx..kx + P];
            for p in 0..P {
                acc[p] = acc[p].mul_add(V::splat(xs[p]), wk);
            }
        }
    }
    for (p, a) in acc.into_iter().enumerate() {
        a.store(&mut y[(oy * s.ow + ox + p) * s.f + fg..]);
    }
}

/// Kernel taps per register block in the kernel gradient.
const TAPS: usize = 8;

#[inline(always)]
fn grad_body<V: Vector>(s: Shape, xp: &[f32], dz: &[f32], dw: &mut [f32]) {
    let mut fg = 0;
    while fg + V::LANES <= s.f {
        grad_group::<V>(s, fg, xp, dz, dw);
        fg += V::LANES;
    }
    while fg < s.f {
        grad_group::<V::Eight>(s, fg, xp, dz, dw);
        fg += FILTER_GROUP;
    }
}

#[inline(always)]
fn grad_group<V: Vector>(s: Shape, fg: usize, xp: &[f32], dz: &[f32], dw: &mut [f32]) {
    let taps = s.kh * s.kw;
    let mut k = 0;
    while k + TAPS <= taps {
        grad_block::<V, TAPS>(s, fg, k, xp, dz, dw);
        k += TAPS;
    }
    if k + 4 <= taps {
        grad_block::<V, 4>(s, fg, k, xp, dz, dw);
        k += 4;
    }
    if k + 2 <= taps {
        grad_block::<V, 2>(s, fg, k, xp, dz, dw);
        k += 2;
    }
    if k < taps {
        grad_block::<V, 1>(s, fg, k, xp, dz, dw);
    }
}

/// Taps `k0..k0 + K` (row-major over the window), filters `fg..fg + V::LANES`,
/// summed over every output pixel of the image.
#[inline(always)]
fn grad_block<V: Vector, const K: usize>(
    s: Shape,
    fg: usize,
    k0: usize,
    xp: &[f32],
    dz: &[f32],
    dw: &mut [f32],
) {
    let offsets: [usize; K] = std::array::from_fn(|j| {
        let k = k0 + j;
        (k / s.kw) * s.pw + k % s.kw
    });
    let reach = offsets[K - 1];
    let mut acc = [V::zero(); K];
    for oy in 0..s.oh {
        let xrow = &xp[oy * s.pw..][..s.ow + reach];
        let dzrow = &dz[oy * s.ow * s.f..][..s.ow * s.f];
        for ox in 0..s.ow {
            let d = V::load(&dzrow[ox * s.f + fg..]);
            let xs = &xrow[ox..][..reach + 1];
            for j in 0..K {
                acc[j] = acc[j].mul_add(V::splat(xs[offsets[j]]), d);
            }
        }
    }
    for (j, a) in acc.into_iter().enumerate() {
        a.add_to(&mut dw[(k0 + j) * s.f + fg..]);
    }
}
