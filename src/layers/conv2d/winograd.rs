//! The Winograd path for stride-1 square kernels: forward and `dx` as F(m×m, r×r)
//! convolutions, m = 4 (or 5 for some 3×3 layers). `dx` is the same kind of
//! convolution as forward, of `dz` with the flipped kernel, so one driver,
//! [`WinogradConv`], serves both. `dW` runs the product backwards in the same domain
//! ([`kernel_grad`]). The transforms themselves are in `transforms.rs`.
//!
//! Work is walked in bands of tiles whose transforms fit in L2: gather and transform
//! the input tiles of a band, `n²` GEMMs (one per point of the transformed tile),
//! then transform the products back and write them out.

use rayon::prelude::*;

use super::geometry::Geometry;
use super::im2col::grow;
use super::transforms::{Transforms, Window, WindowMut};
use super::{Epilogue, ThreadBuffers};
use crate::kernels::{Dims, Operand, Store, small_matmul};

/// Transformed tiles one band holds (inputs and products together), in values:
/// 512 KiB, to stay in L2.
const BAND_VALUES: usize = 1 << 17;

/// At most this many parallel parts per call: their output slices live in a fixed
/// array, so the call allocates nothing.
const MAX_PARTS: usize = 64;

/// One thread's Winograd buffers, kept between batches.
#[derive(Default)]
pub(super) struct TileBuffers {
    /// A band's transformed input tiles `V`, `[n², tiles, channels]`.
    inputs: Vec<f32>,
    /// Their products with the transformed kernel, `M = V · U` (forward, `dx`), or the
    /// transformed output gradients `dM` (kernel gradient), `[n², tiles, filters]`.
    products: Vec<f32>,
    /// One gathered tile, the transforms' partial sums, and one output tile.
    tile: Vec<f32>,
}

/// Tile rows ("units") per band for `g`, and the band's capacity in tiles.
fn band(g: Geometry, tr: &Transforms) -> (usize, usize) {
    let nn = tr.n;
    let tw = g.cols.output.div_ceil(tr.m);
    let group = (BAND_VALUES / (nn * nn * (g.channels + g.filters) * tw)).max(1);
    (group, group * tw)
}

/// One stride-1 convolution by Winograd's F(m×m, r×r): the layer's forward, or its
/// `dx` (a convolution of `dz` by the flipped kernel, with no bias or activation).
pub(super) struct WinogradConv<'a> {
    /// The convolution's sizes.
    pub g: Geometry,
    /// The transforms for its kernel size.
    pub tr: &'a Transforms,
    /// The transformed kernel, `[n², channels, filters]`.
    pub u: &'a [f32],
    /// What is applied to each output pixel.
    pub out: Epilogue<'a>,
}

impl WinogradConv<'_> {
    /// `y = out(conv(x))` for `batch` images. The batch's rows of output tiles
    /// ("units") are cut evenly over the threads, so one image alone uses every core;
    /// each thread walks its units in bands. The split depends only on the thread
    /// count, not on scheduling.
    pub(super) fn run(
        &self,
        x: &[f32],
        batch: usize,
        y: &mut [f32],
        threads: &mut Vec<ThreadBuffers>,
    ) {
        let (g, tr) = (self.g, self.tr);
        let (c, f, m, nn) = (g.channels, g.filters, tr.m, tr.n);
        let (ho, wo) = (g.rows.output, g.cols.output);
        let (th, tw) = (ho.div_ceil(m), wo.div_ceil(m));
        let (in_len, out_len) = (g.in_len(), g.out_len());
        let units = batch * th;
        // Where unit `u` (image u / th, tile row u % th) starts in `y`; its rows are
        // contiguous, and so are a run of units.
        let start = |u: usize| (u / th) * out_len + (u % th) * m * wo * f;
        let parts_wanted = rayon::current_num_threads().clamp(1, MAX_PARTS);
        let per = units.div_ceil(parts_wanted).max(1);
        let chunks = units.div_ceil(per);
        let mut parts: [&mut [f32]; MAX_PARTS] = std::array::from_fn(|_| Default::default());
        let mut rest = &mut y[..batch * out_len];
        for (ci, part) in parts[..chunks].iter_mut().enumerate() {
            let len = start(((ci + 1) * per).min(units)) - start(ci * per);
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
            *part = head;
            rest = tail;
        }
        let (group, cap) = band(g, tr);
        if threads.len() < chunks {
            threads.resize_with(chunks, ThreadBuffers::default);
        }
        let (tile_len, tmp_len) = (nn * nn * c, nn * nn * c.max(f));
        for t in &mut threads[..chunks] {
            let b = &mut t.tiles;
            grow(&mut b.inputs, nn * nn * cap * c);
            grow(&mut b.products, nn * nn * cap * f);
            grow(&mut b.tile, tile_len + tmp_len + m * m * f);
        }
        let u = self.u;
        parts[..chunks]
            .par_iter_mut()
            .zip(threads.par_iter_mut())
            .enumerate()
            .for_each(|(ci, (part, t))| {
                let TileBuffers {
                    inputs: v,
                    products: mm,
                    tile,
                } = &mut t.tiles;
                let (tile, rest) = tile.split_at_mut(tile_len);
                let (tmp, out) = rest.split_at_mut(tmp_len);
                let (u0, u1) = (ci * per, ((ci + 1) * per).min(units));
                let base = start(u0);
                for g0 in (u0..u1).step_by(group) {
                    let grp = g0..(g0 + group).min(u1);
                    for (gi, unit) in grp.clone().enumerate() {
                        let (img, ty) = (unit / th, unit % th);
                        let image = &x[img * in_len..][..in_len];
                        for tx in 0..tw {
                            let d = input_window(g, m, nn, image, ty, tx, tile);
                            let t = gi * tw + tx;
                            tr.input_tile(d, c, tmp, &mut v[t * c..], cap * c);
                        }
                    }
                    let tiles = grp.len() * tw;
                    for xi in 0..nn * nn {
                        small_matmul(
                            Dims {
                                m: tiles,
                                k: c,
                                n: f,
                            },
                            Operand::new(&v[xi * cap * c..]),
                            &u[xi * c * f..],
                            &mut mm[xi * cap * f..],
                            Store::Overwrite,
                        );
                    }
                    for (gi, unit) in grp.enumerate() {
                        let ty = unit % th;
                        let rows_out = &mut part[start(unit) - base..];
                        for tx in 0..tw {
                            let t = gi * tw + tx;
                            self.write_tile((&mm[t * f..], cap * f), (tmp, out), rows_out, ty, tx);
                        }
                    }
                }
            });
    }

    /// Transforms the products of output tile (`ty`, `tx`) (`mm`, positions `stride`
    /// apart) back and writes the tile into its place in `rows_out` (the output rows
    /// of tile row `ty`), applying the epilogue. A tile inside the image is written
    /// there directly; one the image's edge clips goes through `out` (`[m·m, f]`),
    /// and only its inside is copied.
    fn write_tile(
        &self,
        (mm, stride): (&[f32], usize),
        (tmp, out): (&mut [f32], &mut [f32]),
        rows_out: &mut [f32],
        ty: usize,
        tx: usize,
    ) {
        let (g, m) = (self.g, self.tr.m);
        let (f, ho, wo) = (g.filters, g.rows.output, g.cols.output);
        if (ty + 1) * m <= ho && (tx + 1) * m <= wo {
            let values = &mut rows_out[tx * m * f..];
            self.tr.output_tile(
                mm,
                f,
                stride,
                tmp,
                WindowMut {
                    values,
                    row: wo * f,
                },
            );
            for i in 0..m {
                self.out
                    .apply(&mut rows_out[(i * wo + tx * m) * f..][..m * f], f);
            }
        } else {
            let row = m * f;
            self.tr
                .output_tile(mm, f, stride, tmp, WindowMut { values: out, row });
            self.scatter_tile(out, rows_out, ty, tx);
        }
    }

    /// Writes one transformed output tile (`out`, `[m·m, f]`) into its place in
    /// `rows_out`, clipped at the image's edge, and applies the epilogue on the way.
    fn scatter_tile(&self, out: &[f32], rows_out: &mut [f32], ty: usize, tx: usize) {
        let (g, m) = (self.g, self.tr.m);
        let (f, ho, wo) = (g.filters, g.rows.output, g.cols.output);
        let cols = (wo - tx * m).min(m);
        for i in 0..(ho - ty * m).min(m) {
            let dst = &mut rows_out[(i * wo + tx * m) * f..][..cols * f];
            dst.copy_from_slice(&out[i * m * f..][..cols * f]);
            self.out.apply(dst, f);
        }
    }
}

/// The input window of output tile (`ty`, `tx`): read in place when it lies inside
/// the image (most tiles: no copy), else gathered into `tile` with its padding.
fn input_window<'a>(
    g: Geometry,
    m: usize,
    n: usize,
    image: &'a [f32],
    ty: usize,
    tx: usize,
    tile: &'a mut [f32],
) -> Window<'a> {
    if let Some(w) = g.tile_in_place(m, n, image, ty, tx) {
        return w;
    }
    g.gather_tile(m, n, image, ty, tx, tile);
    Window {
        values: tile,
        row: n * g.channels,
    }
}

/// The kernel gradient in Winograd's domain for one chunk of `images`: adds
/// `Σ_tiles V[ξ]ᵀ · dM[ξ]` onto `du` (`[n², channels, filters]`), where `V` are the
/// input tiles' transforms (computed again rather than kept from forward: they would
/// take more memory than the activations) and `dM = A dz Aᵀ` the output gradient's.
pub(super) fn kernel_grad(
    g: Geometry,
    tr: &Transforms,
    x: &[f32],
    dz: &[f32],
    images: usize,
    buffers: &mut TileBuffers,
    du: &mut [f32],
) {
    let (c, f, m, nn) = (g.channels, g.filters, tr.m, tr.n);
    let (th, tw) = (g.rows.output.div_ceil(m), g.cols.output.div_ceil(m));
    let units = images * th;
    let (group, cap) = band(g, tr);
    let TileBuffers {
        inputs: v,
        products: dm,
        tile,
    } = buffers;
    grow(v, nn * nn * cap * c);
    grow(dm, nn * nn * cap * f);
    let tile_len = nn * nn * c.max(f);
    grow(tile, 2 * tile_len);
    let (tile, tmp) = tile.split_at_mut(tile_len);
    for g0 in (0..units).step_by(group) {
        let grp = g0..(g0 + group).min(units);
        for (gi, unit) in grp.clone().enumerate() {
            let (img, ty) = (unit / th, unit % th);
            let image = &x[img * g.in_len()..][..g.in_len()];
            let dz_image = &dz[img * g.out_len()..][..g.out_len()];
            for tx in 0..tw {
                let t = gi * tw + tx;
                let d = input_window(g, m, nn, image, ty, tx, tile);
                tr.input_tile(d, c, tmp, &mut v[t * c..], cap * c);
                g.gather_output_tile(m, dz_image, ty, tx, tile);
                tr.output_grad_tile(tile, f, tmp, &mut dm[t * f..], cap * f);
            }
        }
        let tiles = grp.len() * tw;
        for xi in 0..nn * nn {
            let (vx, dmx) = (&v[xi * cap * c..], &dm[xi * cap * f..]);
            small_matmul(
                Dims {
                    m: c,
                    k: tiles,
                    n: f,
                },
                Operand::transposed(vx),
                dmx,
                &mut du[xi * c * f..],
                Store::Accumulate,
            );
        }
    }
}
