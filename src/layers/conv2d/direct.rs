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
//! When the padded images are mostly one background value `c` (MNIST: four fifths of
//! its pixels are 0, or `-0.42` once standardized), the kernel gradient skips it.
//! With `xp = c + d`,
//!
//!   dW[ky, kx, f] += c · Σ_{oy,ox} dz[oy, ox, f] + Σ_{d ≠ 0} d · dz[reached, f]
//!
//! so each image's pixels other than `c` are listed once, and a run of taps along a
//! kernel row stays in registers while they pass, each adding `d · dz` of the output
//! its tap reaches (a run's outputs are neighbours: one contiguous read of `dz`).
//! A sample of each chunk's first images decides ([`background`]), so the same data
//! always takes the same path. Forward does not skip: scattering each pixel's
//! `d · W[ky, kx, :]` onto the outputs measured 6% slower on the `speedrun` preset
//! (a load and a store per multiply-add, against register-held sums here).
//!
//! Images are cut into one chunk per thread; each thread sums its chunk's kernel
//! gradient in image order, so the result depends on the thread count only.

use rayon::prelude::*;

use super::epilogue::InRegister;
use super::geometry::Geometry;
use super::im2col::grow;
use super::{Epilogue, ThreadBuffers, thread_chunks};
use crate::kernels::isa::{Vector, WithEight, dispatch};
use crate::kernels::sparse::MAX_DENSITY;
use crate::layers::pooling::{Pooling2D, max_image_winners};

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

/// A pixel of a padded image other than the background, as its difference from it.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Pixel {
    row: u32,
    col: u32,
    value: f32,
}

/// Images sampled by [`background`].
const SAMPLE_IMAGES: usize = 8;

/// The value most of a chunk's padded images hold (0, or the first pixel's value),
/// judged from its first images, if few enough cells differ from it for the sparse
/// kernels to pay; `None` sends the chunk to the dense ones.
fn background(g: &Geometry, s: &Shape, x: &[f32]) -> Option<f32> {
    let il = g.in_len();
    let sample = &x[..(x.len() / il).min(SAMPLE_IMAGES) * il];
    let images = sample.len() / il;
    let first = *sample.first()?;
    let pad_cells = s.padded_len().saturating_sub(il);
    [0.0, first].into_iter().find(|&c| {
        let differ = sample.iter().filter(|&&v| v != c).count();
        let padding = if c == 0.0 { 0 } else { pad_cells * images };
        ((differ + padding) as f64) < MAX_DENSITY * (images * s.padded_len()) as f64
    })
}

/// Lists the cells of one image `x` (`[h, w]`), padded with zeros, that differ from
/// `c`, in raster order, as their differences from it.
fn list_pixels(g: &Geometry, s: &Shape, x: &[f32], c: f32, pixels: &mut Vec<Pixel>) {
    pixels.clear();
    let (h, w) = (g.rows.input, g.cols.input);
    let (top, left) = (g.rows.pad, g.cols.pad);
    let at = |py: usize, px: usize| {
        let (iy, ix) = (py.wrapping_sub(top), px.wrapping_sub(left));
        if iy < h && ix < w {
            x[iy * w + ix]
        } else {
            0.0
        }
    };
    for py in 0..s.oh + s.kh - 1 {
        for px in 0..s.pw {
            let value = at(py, px) - c;
            if value != 0.0 {
                let (row, col) = (py as u32, px as u32);
                pixels.push(Pixel { row, col, value });
            }
        }
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
    let per = thread_chunks(n, threads);
    let (il, ol) = (g.in_len(), g.out_len());
    // The bias and relu as the kernel stores its outputs; another activation after.
    let (in_register, rest) = out.split();
    y[..n * ol]
        .par_chunks_mut(per * ol)
        .zip(x[..n * il].par_chunks(per * il))
        .zip(threads.par_iter_mut())
        .for_each(|((yc, xc), t)| {
            grow(&mut t.patches, s.padded_len());
            for (yi, xi) in yc.chunks_exact_mut(ol).zip(xc.chunks_exact(il)) {
                pad_image(&g, &s, xi, &mut t.patches);
                forward_image(s, &t.patches, kernel, in_register, yi);
                rest.apply(yi, g.filters);
            }
        });
}

/// `y = pool(act(conv(x) + b))` for `n` images, where `pool` is max pooling over
/// tiling windows ([`Pooling2D::fusable`]): each image's convolution goes to the
/// thread's `map` (it stays in cache) and is pooled from there into `y`; with
/// [`Winners::Record`], each window's winning cell goes into the thread's `winners`
/// for backward (which cuts the batch into the same chunks).
pub(super) fn forward_pooled(
    g: Geometry,
    (kernel, out): (&[f32], Epilogue),
    (pool, winners): (&Pooling2D, Winners),
    (x, n): (&[f32], usize),
    y: &mut [f32],
    threads: &mut Vec<ThreadBuffers>,
) {
    let s = Shape::of(&g);
    let per = thread_chunks(n, threads);
    let (il, ol, pl) = (g.in_len(), g.out_len(), pool.out_len());
    let (in_register, rest) = out.split();
    y[..n * pl]
        .par_chunks_mut(per * pl)
        .zip(x[..n * il].par_chunks(per * il))
        .zip(threads.par_iter_mut())
        .for_each(|((yc, xc), t)| {
            grow(&mut t.patches, s.padded_len());
            grow(&mut t.map, ol);
            if winners == Winners::Record {
                grow(&mut t.winners, per * pl);
            }
            let images = yc.chunks_exact_mut(pl).zip(xc.chunks_exact(il));
            for (i, (yi, xi)) in images.enumerate() {
                pad_image(&g, &s, xi, &mut t.patches);
                let map = &mut t.map[..ol];
                forward_image(s, &t.patches, kernel, in_register, map);
                rest.apply(map, g.filters);
                match winners {
                    Winners::Record => {
                        max_image_winners(pool, map, yi, &mut t.winners[i * pl..][..pl])
                    }
                    Winners::Skip => pool.pool_image(map, yi),
                }
            }
        });
}

/// Whether [`forward_pooled`] records each pooling window's winner (training, for
/// backward) or only pools (inference).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Winners {
    /// Into the thread's `winners`.
    Record,
    /// Not at all.
    Skip,
}

/// One chunk's kernel gradient, added image by image: `dW += Σ xp ⊗ dz`, by the
/// sparse kernels when the chunk's images are mostly one background value.
pub(super) struct ChunkKernelGrad {
    s: Shape,
    background: Option<f32>,
}

impl ChunkKernelGrad {
    /// Decides the method for the chunk `x` (its images, from the first).
    pub(super) fn new(g: &Geometry, x: &[f32]) -> Self {
        let s = Shape::of(g);
        ChunkKernelGrad {
            s,
            background: background(g, &s, x),
        }
    }

    /// Adds image `xi`'s part, with its output gradient `dzi`, to `dw`.
    pub(super) fn add_image(
        &self,
        g: &Geometry,
        (xi, dzi): (&[f32], &[f32]),
        (padded, pixels): (&mut Vec<f32>, &mut Vec<Pixel>),
        dw: &mut [f32],
    ) {
        match self.background {
            Some(c) => {
                list_pixels(g, &self.s, xi, c, pixels);
                sparse_kernel_grad_image(self.s, pixels, dzi, dw);
            }
            None => {
                grow(padded, self.s.padded_len());
                pad_image(g, &self.s, xi, padded);
                kernel_grad_image(self.s, padded, dzi, dw);
            }
        }
    }

    /// Adds the background's part, the same for every tap (`c · Σ dz[·, f]`, with
    /// `dz_sums` the chunk's `Σ dz[·, f]`), once every image is in.
    pub(super) fn finish(&self, dz_sums: &[f32], dw: &mut [f32]) {
        let Some(c) = self.background.filter(|&c| c != 0.0) else {
            return;
        };
        let s = self.s;
        for tap in dw[..s.kh * s.kw * s.f].chunks_exact_mut(s.f) {
            tap.iter_mut().zip(dz_sums).for_each(|(d, v)| *d += c * v);
        }
    }
}

/// `dW += Σ xp ⊗ dz` over one chunk of images (`x` and `dz` start at its first);
/// `dz_sums` is `Σ dz[·, f]` over the chunk (its share of the bias gradient).
pub(super) fn kernel_grad(
    g: Geometry,
    x: &[f32],
    dz: &[f32],
    dz_sums: &[f32],
    padded: &mut Vec<f32>,
    pixels: &mut Vec<Pixel>,
    dw: &mut [f32],
) {
    let grad = ChunkKernelGrad::new(&g, x);
    for image in x.chunks_exact(g.in_len()).zip(dz.chunks_exact(g.out_len())) {
        grad.add_image(&g, image, (&mut *padded, &mut *pixels), dw);
    }
    grad.finish(dz_sums, dw);
}

dispatch!(
    /// The convolution of one padded image, with the bias and relu applied as it is
    /// stored.
    fn forward_image(s: Shape, xp: &[f32], w: &[f32], out: InRegister, y: &mut [f32])
        => forward_body
);

dispatch!(
    /// Adds one image's kernel gradient to `dw`.
    fn kernel_grad_image(s: Shape, xp: &[f32], dz: &[f32], dw: &mut [f32]) => grad_body
);

dispatch!(
    /// Adds the listed pixels' part of one image's kernel gradient to `dw`.
    fn sparse_kernel_grad_image(s: Shape, pixels: &[Pixel], dz: &[f32], dw: &mut [f32])
        => sparse_grad_body
);

/// Forward's register tiles: `G` vectors of filters by `P` output pixels, chosen so
/// the `G·P` accumulators, `G` weight vectors and one broadcast pixel fill the
/// registers (16 under AVX2, 32 under AVX-512), and each tap's loads (`G + P`) feed
/// `G·P` multiply-adds. The filters are a multiple of 8 ([`fits`]).
#[inline(always)]
fn forward_body<V: Vector>(s: Shape, xp: &[f32], w: &[f32], out: InRegister, y: &mut [f32]) {
    let mut fg = 0;
    if V::LANES == 16 {
        // AVX-512: two vectors of 16 by 12 pixels; 24 filters as one vector of 16 and
        // one of 8 by 12 pixels (two multiply-adds a step where three vectors of 8
        // took three: Intel's cores issue two a cycle at either width); 16 as one
        // vector by 16 pixels.
        while fg + 32 <= s.f {
            forward_group::<V, 2, 12>(s, fg, xp, w, out, y);
            fg += 32;
        }
        while fg + 24 <= s.f {
            forward_group::<WithEight<V>, 1, 12>(s, fg, xp, w, out, y);
            fg += 24;
        }
        while fg + 16 <= s.f {
            forward_group::<V, 1, 16>(s, fg, xp, w, out, y);
            fg += 16;
        }
    } else {
        // AVX2 (and the baseline): three vectors by 4 pixels, or two by 6.
        while (s.f - fg).is_multiple_of(24) && fg + 24 <= s.f {
            forward_group::<V::Eight, 3, 4>(s, fg, xp, w, out, y);
            fg += 24;
        }
        while fg + 16 <= s.f {
            forward_group::<V::Eight, 2, 6>(s, fg, xp, w, out, y);
            fg += 16;
        }
    }
    while fg < s.f {
        forward_group::<V::Eight, 1, 8>(s, fg, xp, w, out, y);
        fg += FILTER_GROUP;
    }
}

/// Filters `fg..fg + G·W::LANES` of every output pixel, in tiles of `P` pixels.
#[inline(always)]
fn forward_group<W: Vector, const G: usize, const P: usize>(
    s: Shape,
    fg: usize,
    xp: &[f32],
    w: &[f32],
    out: InRegister,
    y: &mut [f32],
) {
    // The group's weights as vectors, tap by tap (at most 7×7 taps; wider kernels
    // load them from `w` as they go).
    let taps = s.kh * s.kw;
    let mut packed = [[W::zero(); G]; MAX_PACKED_TAPS];
    let packed = (taps <= MAX_PACKED_TAPS).then(|| {
        for (t, vectors) in packed[..taps].iter_mut().enumerate() {
            let at = &w[t * s.f + fg..][..G * W::LANES];
            *vectors = std::array::from_fn(|g| W::load(&at[g * W::LANES..]));
        }
        &packed[..taps]
    });
    for oy in 0..s.oh {
        let mut ox = 0;
        while ox + P <= s.ow {
            forward_tile::<W, G, P>(s, (fg, oy, ox), xp, (w, packed), out, y);
            ox += P;
        }
        while ox < s.ow {
            forward_tile::<W, G, 1>(s, (fg, oy, ox), xp, (w, packed), out, y);
            ox += 1;
        }
    }
}

/// Taps whose weight vectors [`forward_group`] holds on the stack (7×7).
const MAX_PACKED_TAPS: usize = 49;

/// Output pixels `ox..ox + P` of row `oy`, filters `fg..fg + G·W::LANES`; each
/// output sums its taps in the kernel's order, whatever the tile.
#[inline(always)]
fn forward_tile<W: Vector, const G: usize, const P: usize>(
    s: Shape,
    (fg, oy, ox): (usize, usize, usize),
    xp: &[f32],
    (w, packed): (&[f32], Option<&[[W; G]]>),
    out: InRegister,
    y: &mut [f32],
) {
    let mut acc = [[W::zero(); G]; P];
    for ky in 0..s.kh {
        let row = &xp[(oy + ky) * s.pw + ox..][..P + s.kw - 1];
        for kx in 0..s.kw {
            let tap = ky * s.kw + kx;
            let wk: [W; G] = match packed {
                Some(packed) => packed[tap],
                None => {
                    let at = &w[tap * s.f + fg..];
                    std::array::from_fn(|g| W::load(&at[g * W::LANES..]))
                }
            };
            let xs = &row[kx..kx + P];
            for p in 0..P {
                let x = W::splat(xs[p]);
                for g in 0..G {
                    acc[p][g] = acc[p][g].mul_add(x, wk[g]);
                }
            }
        }
    }
    for (p, vectors) in acc.into_iter().enumerate() {
        let at = &mut y[(oy * s.ow + ox + p) * s.f + fg..];
        for (g, a) in vectors.into_iter().enumerate() {
            let start = fg + g * W::LANES;
            out.finish(a, start).store(&mut at[g * W::LANES..]);
        }
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

impl Shape {
    /// The first of the outputs that taps `(ky, kx0..kx0 + R)` of the input pixel `p`
    /// reach (they are `R` neighbours in one output row, the last tap's first), if
    /// all of them lie inside the image.
    #[inline(always)]
    fn run_start<const R: usize>(&self, p: Pixel, ky: usize, kx0: usize) -> Option<usize> {
        let oy = (p.row as usize)
            .checked_sub(ky)
            .filter(|&oy| oy < self.oh)?;
        let first = (p.col as usize).checked_sub(kx0 + R - 1)?;
        (first + R <= self.ow).then_some(oy * self.ow + first)
    }

    /// The output pixel that tap `(ky, kx)` of the input pixel `p` reaches, if any.
    #[inline(always)]
    fn reach(&self, p: Pixel, ky: usize, kx: usize) -> Option<usize> {
        let oy = (p.row as usize)
            .checked_sub(ky)
            .filter(|&oy| oy < self.oh)?;
        let ox = (p.col as usize)
            .checked_sub(kx)
            .filter(|&ox| ox < self.ow)?;
        Some(oy * self.ow + ox)
    }
}

/// The sparse kernel gradient's register tiles: `G` vectors of filters by a run of
/// `R` taps along a kernel row. The outputs a pixel's run reaches are `R` neighbours,
/// so their gradients are one contiguous slice of `dz`, read once per pixel; the
/// `G·R` sums and one broadcast value fill the registers (15 + 1 under AVX2).
#[inline(always)]
fn sparse_grad_body<V: Vector>(s: Shape, pixels: &[Pixel], dz: &[f32], dw: &mut [f32]) {
    let mut fg = 0;
    // Two vectors of 16 under AVX-512, then three of 8 (24 filters), then 16 as one
    // vector (AVX-512) or two.
    while V::LANES == 16 && fg + 32 <= s.f {
        sparse_grad_group::<V, 2>(s, fg, pixels, dz, dw);
        fg += 32;
    }
    while fg + 24 <= s.f {
        sparse_grad_group::<V::Eight, 3>(s, fg, pixels, dz, dw);
        fg += 24;
    }
    while fg + 16 <= s.f {
        if V::LANES == 16 {
            sparse_grad_group::<V, 1>(s, fg, pixels, dz, dw);
        } else {
            sparse_grad_group::<V::Eight, 2>(s, fg, pixels, dz, dw);
        }
        fg += 16;
    }
    while fg < s.f {
        sparse_grad_group::<V::Eight, 1>(s, fg, pixels, dz, dw);
        fg += FILTER_GROUP;
    }
}

/// Filters `fg..fg + G·W::LANES` of every tap, a kernel row at a time, in runs of 5,
/// 3 and 1 taps.
#[inline(always)]
fn sparse_grad_group<W: Vector, const G: usize>(
    s: Shape,
    fg: usize,
    pixels: &[Pixel],
    dz: &[f32],
    dw: &mut [f32],
) {
    for ky in 0..s.kh {
        let mut kx = 0;
        while kx + 5 <= s.kw {
            sparse_grad_run::<W, G, 5>(s, (fg, ky, kx), pixels, dz, dw);
            kx += 5;
        }
        while kx + 3 <= s.kw {
            sparse_grad_run::<W, G, 3>(s, (fg, ky, kx), pixels, dz, dw);
            kx += 3;
        }
        while kx < s.kw {
            sparse_grad_run::<W, G, 1>(s, (fg, ky, kx), pixels, dz, dw);
            kx += 1;
        }
    }
}

/// Taps `(ky, kx0..kx0 + R)`, filters `fg..fg + G·W::LANES`, summed over the listed
/// pixels: `dW[tap] += value · dz[output the tap reaches]`, each tap's sum in the
/// pixels' order (so in the same order whatever the tile).
#[inline(always)]
fn sparse_grad_run<W: Vector, const G: usize, const R: usize>(
    s: Shape,
    (fg, ky, kx0): (usize, usize, usize),
    pixels: &[Pixel],
    dz: &[f32],
    dw: &mut [f32],
) {
    let mut acc = [[W::zero(); G]; R];
    for &p in pixels {
        let v = W::splat(p.value);
        if let Some(first) = s.run_start::<R>(p, ky, kx0) {
            // Tap kx0 + r reaches output first + R - 1 - r.
            let outputs = &dz[first * s.f..][..R * s.f];
            for (r, out) in outputs.chunks_exact(s.f).rev().enumerate() {
                let out = &out[fg..][..G * W::LANES];
                for g in 0..G {
                    acc[r][g] = acc[r][g].mul_add(v, W::load(&out[g * W::LANES..]));
                }
            }
        } else {
            for (r, sums) in acc.iter_mut().enumerate() {
                if let Some(o) = s.reach(p, ky, kx0 + r) {
                    let out = &dz[o * s.f + fg..][..G * W::LANES];
                    for g in 0..G {
                        sums[g] = sums[g].mul_add(v, W::load(&out[g * W::LANES..]));
                    }
                }
            }
        }
    }
    for (r, sums) in acc.into_iter().enumerate() {
        let tap = &mut dw[(ky * s.kw + kx0 + r) * s.f + fg..];
        for (g, a) in sums.into_iter().enumerate() {
            a.add_to(&mut tap[g * W::LANES..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::geometry::{Axis, AxisPadding};

    /// The sparse kernel gradient equals the dense one for any background, padding
    /// cells included (which the data's own density check rarely lets through).
    #[test]
    fn sparse_kernel_gradient_matches_dense_for_any_background() {
        // Kernel widths 3, 5 and 7 take every run of taps (5, 3, 1); 16, 24 and 40
        // filters every register tile.
        for (padding, c, (kernel, filters)) in [
            (AxisPadding::Same, 0.0, (3, 16)),
            (AxisPadding::Same, -0.42, (5, 24)),
            (AxisPadding::Valid, 0.7, (3, 40)),
            (AxisPadding::Same, 0.3, (7, 8)),
            (AxisPadding::Valid, -0.42, (5, 32)),
        ] {
            let axis = |n| Axis::new(n, kernel, 1, padding).unwrap();
            let g = Geometry {
                rows: axis(9),
                cols: axis(8),
                channels: 1,
                filters,
            };
            let n = 3;
            let x: Vec<f32> = (0..n * g.in_len())
                .map(|i| {
                    if i % 4 == 1 {
                        (i % 7) as f32 * 0.25 - 0.5
                    } else {
                        c
                    }
                })
                .collect();
            let dz: Vec<f32> = (0..n * g.out_len())
                .map(|i| ((i * 37) % 11) as f32 * 0.1 - 0.5)
                .collect();
            let mut dense = vec![0.0; g.patch() * g.filters];
            let mut sparse = dense.clone();
            let mut padded = Vec::new();
            grow(&mut padded, Shape::of(&g).padded_len());
            for (xi, dzi) in x.chunks_exact(g.in_len()).zip(dz.chunks_exact(g.out_len())) {
                pad_image(&g, &Shape::of(&g), xi, &mut padded);
                kernel_grad_image(Shape::of(&g), &padded, dzi, &mut dense);
            }
            let mut sums = vec![0.0; g.filters];
            for row in dz.chunks_exact(g.filters) {
                sums.iter_mut().zip(row).for_each(|(a, v)| *a += v);
            }
            let grad = ChunkKernelGrad {
                s: Shape::of(&g),
                background: Some(c),
            };
            let images = x.chunks_exact(g.in_len()).zip(dz.chunks_exact(g.out_len()));
            for image in images {
                grad.add_image(&g, image, (&mut Vec::new(), &mut Vec::new()), &mut sparse);
            }
            grad.finish(&sums, &mut sparse);
            for (j, (a, b)) in dense.iter().zip(&sparse).enumerate() {
                assert!(
                    (a - b).abs() < 1e-4,
                    "{padding:?} c={c} {kernel}x{kernel}: dW[{j}] dense {a}, sparse {b}"
                );
            }
        }
    }
}
