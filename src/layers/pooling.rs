//! `MaxPooling2D` and `AveragePooling2D` (one struct, [`Pooling2D`]), and
//! `GlobalAveragePooling2D`, over NHWC images.
//!
//! Max pooling's backward routes each gradient to the cell that won, found again by
//! comparing the input with the output (the first cell in window order equal to the
//! maximum, the one forward's running maximum kept). Average pooling divides by the
//! number of window cells inside the image (TensorFlow's rule for `same` padding) and backward
//! spreads each gradient evenly over them. Images are independent, so the batch is
//! processed one image per task.

use rayon::prelude::*;

use super::geometry::{Axis, Padding, Size2};
use super::{Layer, LayerConfig, LayerScratch};
use crate::kernels::isa::{Lanes, Vector, dispatch, over_lanes};
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
        })
    }

    /// Values in one input image.
    pub(crate) fn in_len(&self) -> usize {
        self.rows.input * self.cols.input * self.channels
    }

    /// Values in one output image.
    pub(crate) fn out_len(&self) -> usize {
        self.out_shape.iter().product()
    }

    /// Calls `f(out_offset, cell_offset, first)` for every output pixel of one image
    /// and every input pixel of its window, in row-major window order (`first` marks
    /// a window's first cell; a window with no cell inside the image is visited with
    /// `None`). Offsets are of the pixel's first channel.
    #[inline(always)]
    fn for_each_cell(&self, mut f: impl FnMut(usize, Option<usize>, bool)) {
        let (c, w) = (self.channels, self.cols.input);
        for oy in 0..self.rows.output {
            let (ylo, yhi, ys) = self.rows.span(oy);
            for ox in 0..self.cols.output {
                let (xlo, xhi, xs) = self.cols.span(ox);
                let o = (oy * self.cols.output + ox) * c;
                if ylo == yhi || xlo == xhi {
                    f(o, None, true);
                    continue;
                }
                let mut first = true;
                for ky in ylo..yhi {
                    let iy = (ys + ky as isize) as usize;
                    for kx in xlo..xhi {
                        let ix = (xs + kx as isize) as usize;
                        f(o, Some((iy * w + ix) * c), first);
                        first = false;
                    }
                }
            }
        }
    }

    /// Whether a layer before this one may pool its own output as it writes it
    /// ([`crate::layers::Layer::fuse_next`]): max pooling over windows that tile the
    /// image, so that [`max_image_winners`] and [`route_to_winners`] cover it.
    pub(crate) fn fusable(&self) -> bool {
        self.kind == PoolKind::Max && self.tiles()
    }

    /// Pools one image `xi` into `yi`.
    pub(crate) fn pool_image(&self, xi: &[f32], yi: &mut [f32]) {
        if self.kind == PoolKind::Max {
            return max_image(self, xi, yi);
        }
        let c = self.channels;
        self.for_each_cell(|o, cell, first| {
            let out = &mut yi[o..o + c];
            let Some(cell) = cell else {
                out.fill(0.0);
                return;
            };
            let src = &xi[cell..cell + c];
            if first {
                out.copy_from_slice(src);
            } else {
                out.iter_mut().zip(src).for_each(|(a, v)| *a += v);
            }
        });
        for (pix, out) in yi.chunks_exact_mut(c).enumerate() {
            let (oy, ox) = (pix / self.cols.output, pix % self.cols.output);
            let inv = 1.0 / self.cells(oy, ox).max(1) as f32;
            out.iter_mut().for_each(|v| *v *= inv);
        }
    }

    /// The number of input cells in output pixel `(oy, ox)`'s window.
    fn cells(&self, oy: usize, ox: usize) -> usize {
        let (ylo, yhi, _) = self.rows.span(oy);
        let (xlo, xhi, _) = self.cols.span(ox);
        (yhi - ylo) * (xhi - xlo)
    }

    /// Whether the windows tile the image: every input cell in exactly one window.
    fn tiles(&self) -> bool {
        [self.rows, self.cols]
            .iter()
            .all(|a| a.stride == a.window && a.pad == 0 && a.output * a.stride == a.input)
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

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        // Backward finds max pooling's winners from x and y: training computes
        // what inference does.
        self.infer(x, y, &mut LayerScratch::default());
    }

    fn infer(&self, x: &Tensor, y: &mut Tensor, _scratch: &mut LayerScratch) {
        let (il, ol, c) = (self.in_len(), self.out_len(), self.channels);
        y.set_shape(&[x.batch(), self.out_shape[0], self.out_shape[1], c]);
        y.data_mut()
            .par_chunks_mut(ol)
            .zip(x.data().par_chunks(il))
            .for_each(|(yi, xi)| self.pool_image(xi, yi));
    }

    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        let (il, ol, c) = (self.in_len(), self.out_len(), self.channels);
        dx.set_shape(x.shape());
        let this = &*self;
        let images = dx
            .data_mut()
            .par_chunks_mut(il)
            .zip(dy.data().par_chunks(ol))
            .zip(x.data().par_chunks(il).zip(y.data().par_chunks(ol)));
        match self.kind {
            PoolKind::Max => {
                images.for_each(|((dxi, dyi), (xi, yi))| max_grad(this, xi, yi, dyi, dxi))
            }
            PoolKind::Average => images.for_each(|((dxi, dyi), _)| {
                dxi.fill(0.0);
                for (pix, g) in dyi.chunks_exact(c).enumerate() {
                    this.spread(pix, g, dxi);
                }
            }),
        }
    }
}

dispatch!(
    /// Max pooling of one image `xi` into `yi`.
    fn max_image(pool: &Pooling2D, xi: &[f32], yi: &mut [f32]) => max_image_body
);

#[inline(always)]
fn max_image_body<V: Vector>(pool: &Pooling2D, xi: &[f32], yi: &mut [f32]) {
    /// One window cell's channels: `src` into the running maximum `out`.
    struct Cell<'a> {
        src: &'a [f32],
        out: &'a mut [f32],
        first: bool,
    }
    impl Lanes for Cell<'_> {
        #[inline(always)]
        fn run<W: Vector>(&mut self, start: usize) {
            let (v, out) = (W::load(&self.src[start..]), &mut self.out[start..]);
            // The running maximum keeps the earlier cell on a tie, as backward
            // assumes (`max` returns its second operand unless the first is larger).
            if self.first { v } else { v.max(W::load(out)) }.store(out);
        }
    }
    let c = pool.channels;
    if pool.tiles() {
        return pool.for_each_window(|o, cells| {
            over_lanes::<V>(
                c,
                &mut TiledMax {
                    cells,
                    xi,
                    y: &mut yi[o..o + c],
                },
            )
        });
    }
    pool.for_each_cell(|o, cell, first| {
        let out = &mut yi[o..o + c];
        match cell {
            Some(cell) => {
                let src = &xi[cell..cell + c];
                over_lanes::<V>(c, &mut Cell { src, out, first });
            }
            None => out.fill(0.0),
        }
    });
}

dispatch!(
    /// Max pooling's backward for one image: each output's gradient goes to the first
    /// cell of its window (in row-major order) that holds the output's value, which is
    /// the cell forward's running maximum kept. Recomputing the winner from `x` and `y`
    /// costs one comparison per cell and saves forward from recording it.
    fn max_grad(pool: &Pooling2D, xi: &[f32], yi: &[f32], dyi: &[f32], dxi: &mut [f32])
        => max_grad_body
);

#[inline(always)]
fn max_grad_body<V: Vector>(
    pool: &Pooling2D,
    xi: &[f32],
    yi: &[f32],
    dyi: &[f32],
    dxi: &mut [f32],
) {
    /// One window cell's channels: the part of `left` (the window's gradient not yet
    /// routed) where the cell `x` equals the output `y` is added to `dx`.
    struct Cell<'a> {
        x: &'a [f32],
        y: &'a [f32],
        left: &'a mut [f32],
        dx: &'a mut [f32],
    }
    impl Lanes for Cell<'_> {
        #[inline(always)]
        fn run<W: Vector>(&mut self, start: usize) {
            let (x, y) = (W::load(&self.x[start..]), W::load(&self.y[start..]));
            let (won, rest) = W::load(&self.left[start..]).split_eq(x, y);
            rest.store(&mut self.left[start..]);
            won.add_to(&mut self.dx[start..]);
        }
    }
    let c = pool.channels;
    if pool.tiles() {
        // Every cell in one window: each is written once, in registers.
        return pool.for_each_window(|o, cells| {
            let (y, dy) = (&yi[o..o + c], &dyi[o..o + c]);
            let dxi = &mut *dxi;
            over_lanes::<V>(
                c,
                &mut TiledMaxGrad {
                    cells,
                    xi,
                    y,
                    dy,
                    dxi,
                },
            )
        });
    }
    // Cells shared by windows or in none: gradients add onto zeros.
    dxi.fill(0.0);
    // Per block of channels, so the gradient still to route fits on the stack.
    const BLOCK: usize = 64;
    let mut left = [0.0f32; BLOCK];
    for j0 in (0..c).step_by(BLOCK) {
        let width = BLOCK.min(c - j0);
        let left = &mut left[..width];
        pool.for_each_cell(|o, cell, first| {
            let Some(cell) = cell else { return };
            let (o, cell) = (o + j0, cell + j0);
            if first {
                left.copy_from_slice(&dyi[o..o + width]);
            }
            let (x, y) = (&xi[cell..cell + width], &yi[o..o + width]);
            let dx = &mut dxi[cell..cell + width];
            let left = &mut *left;
            over_lanes::<V>(width, &mut Cell { x, y, left, dx });
        });
    }
}

/// The cells of one window that lies wholly inside the image: `first`, the offset of
/// its top-left cell's first channel, then `rows` rows of `cols` cells, rows `row`
/// apart and cells `channels` apart.
#[derive(Clone, Copy)]
struct Window {
    first: usize,
    rows: usize,
    cols: usize,
    row: usize,
    channels: usize,
}

impl Window {
    /// The offset of cell `(r, k)`'s first channel.
    #[inline(always)]
    fn cell(&self, r: usize, k: usize) -> usize {
        self.first + r * self.row + k * self.channels
    }

    /// Calls `f(position, offset)` for every cell after the first, in window order
    /// (`position` counts from 0 at the first). 2×2 windows, every MNIST network's,
    /// are unrolled: a loop over runtime sizes costs more than the work in it.
    #[inline(always)]
    fn each_after_first(&self, mut f: impl FnMut(usize, usize)) {
        if (self.rows, self.cols) == (2, 2) {
            f(1, self.cell(0, 1));
            f(2, self.cell(1, 0));
            f(3, self.cell(1, 1));
            return;
        }
        for r in 0..self.rows {
            for k in 0..self.cols {
                if r + k > 0 {
                    f(r * self.cols + k, self.cell(r, k));
                }
            }
        }
    }

    /// Calls `f(position, offset)` for every cell, in window order.
    #[inline(always)]
    fn each(&self, mut f: impl FnMut(usize, usize)) {
        f(0, self.first);
        self.each_after_first(f);
    }
}

impl Pooling2D {
    /// Calls `f(out_offset, window)` for every output pixel of one image whose windows
    /// tile it ([`Self::tiles`]): every window inside the image, no cell shared.
    #[inline(always)]
    fn for_each_window(&self, mut f: impl FnMut(usize, Window)) {
        let (c, w) = (self.channels, self.cols.input);
        let (rows, cols) = (self.rows.window, self.cols.window);
        for oy in 0..self.rows.output {
            for ox in 0..self.cols.output {
                let first = (oy * rows * w + ox * cols) * c;
                let window = Window {
                    first,
                    rows,
                    cols,
                    row: w * c,
                    channels: c,
                };
                f((oy * self.cols.output + ox) * c, window);
            }
        }
    }
}

/// One output pixel's maximum over a tiling window, a run of channels at a time, in
/// registers.
struct TiledMax<'a> {
    cells: Window,
    xi: &'a [f32],
    y: &'a mut [f32],
}

impl Lanes for TiledMax<'_> {
    #[inline(always)]
    fn run<W: Vector>(&mut self, start: usize) {
        let w = self.cells;
        let mut m = W::load(&self.xi[w.first + start..]);
        w.each_after_first(|_, cell| {
            // The earlier cell stays on a tie (`max` returns its second operand unless
            // the first is larger), as backward assumes.
            m = W::load(&self.xi[cell + start..]).max(m);
        });
        m.store(&mut self.y[start..]);
    }
}

/// One output pixel's gradient routed to the first cell of its tiling window that
/// equals the output, a run of channels at a time, in registers; every cell of the
/// window is written.
struct TiledMaxGrad<'a> {
    cells: Window,
    xi: &'a [f32],
    y: &'a [f32],
    dy: &'a [f32],
    dxi: &'a mut [f32],
}

impl Lanes for TiledMaxGrad<'_> {
    #[inline(always)]
    fn run<W: Vector>(&mut self, start: usize) {
        let w = self.cells;
        let y = W::load(&self.y[start..]);
        let mut left = W::load(&self.dy[start..]);
        w.each(|_, cell| {
            let at = cell + start;
            let (won, rest) = left.split_eq(W::load(&self.xi[at..]), y);
            won.store(&mut self.dxi[at..]);
            left = rest;
        });
    }
}

dispatch!(
    /// Max pooling of one image over tiling windows ([`Pooling2D::fusable`]), as
    /// `max_image` computes it, also writing into `winners` (as long as `yi`) the
    /// position in window order (0.0, 1.0, ...) of the cell each output came from:
    /// the first equal to the maximum, the cell backward routes the gradient to.
    pub(crate) fn max_image_winners(pool: &Pooling2D, xi: &[f32], yi: &mut [f32], winners: &mut [f32])
        => max_winners_body
);

#[inline(always)]
fn max_winners_body<V: Vector>(pool: &Pooling2D, xi: &[f32], yi: &mut [f32], winners: &mut [f32]) {
    let c = pool.channels;
    pool.for_each_window(|o, cells| {
        let (y, winners) = (&mut yi[o..o + c], &mut winners[o..o + c]);
        over_lanes::<V>(
            c,
            &mut TiledMaxWinners {
                cells,
                xi,
                y,
                winners,
            },
        );
    });
}

/// One output pixel's maximum over a tiling window and the first cell that holds
/// it (its position in window order), a run of channels at a time, in registers.
struct TiledMaxWinners<'a> {
    cells: Window,
    xi: &'a [f32],
    y: &'a mut [f32],
    winners: &'a mut [f32],
}

impl Lanes for TiledMaxWinners<'_> {
    #[inline(always)]
    fn run<W: Vector>(&mut self, start: usize) {
        let w = self.cells;
        let (mut m, mut at) = (W::load(&self.xi[w.first + start..]), W::zero());
        w.each_after_first(|position, cell| {
            // As `TiledMax`: a later cell replaces the maximum only when larger.
            let here = W::splat(position as f32);
            (m, at) = W::load(&self.xi[cell + start..]).running_max(m, at, here);
        });
        m.store(&mut self.y[start..]);
        at.store(&mut self.winners[start..]);
    }
}

dispatch!(
    /// Max pooling's backward from recorded winners ([`max_image_winners`]): every
    /// cell of `dxi` (one input image) gets its window's gradient `gi` where it won
    /// and 0 elsewhere, the values `max_grad` writes.
    pub(crate) fn route_to_winners(pool: &Pooling2D, winners: &[f32], gi: &[f32], dxi: &mut [f32])
        => route_body
);

#[inline(always)]
fn route_body<V: Vector>(pool: &Pooling2D, winners: &[f32], gi: &[f32], dxi: &mut [f32]) {
    let c = pool.channels;
    pool.for_each_window(|o, cells| {
        let (winners, g, dxi) = (&winners[o..o + c], &gi[o..o + c], &mut *dxi);
        over_lanes::<V>(
            c,
            &mut Route {
                cells,
                winners,
                g,
                dxi,
            },
        );
    });
}

/// One window's gradient to the cell its winner names, zeros to the others, a run
/// of channels at a time.
struct Route<'a> {
    cells: Window,
    winners: &'a [f32],
    g: &'a [f32],
    dxi: &'a mut [f32],
}

impl Lanes for Route<'_> {
    #[inline(always)]
    fn run<W: Vector>(&mut self, start: usize) {
        let w = self.cells;
        let winner = W::load(&self.winners[start..]);
        let g = W::load(&self.g[start..]);
        w.each(|position, cell| {
            let (won, _) = g.split_eq(winner, W::splat(position as f32));
            won.store(&mut self.dxi[cell + start..]);
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorded winners give `max_image`'s output and `max_grad`'s routing, to the
    /// bit, ties included, over 27 channels (16-, 8- and 1-lane paths) and 3×2 windows.
    #[test]
    fn winners_pool_and_route_as_max_pooling_does() {
        let (h, w, c) = (6, 8, 27);
        let window = Size2([3, 2]);
        let pool = Pooling2D::new(
            "p".into(),
            PoolKind::Max,
            [h, w, c],
            window,
            window,
            Padding::Valid,
        )
        .unwrap();
        assert!(pool.fusable());
        // Few distinct values, so windows hold ties; some all equal (all zero).
        let x: Vec<f32> = (0..h * w * c)
            .map(|i| {
                if i % 11 == 0 {
                    0.0
                } else {
                    ((i * 7919) % 5) as f32 - 2.0
                }
            })
            .collect();
        let dy: Vec<f32> = (0..pool.out_len()).map(|i| i as f32 * 0.5 - 3.0).collect();
        let mut y = vec![0.0; pool.out_len()];
        max_image(&pool, &x, &mut y);
        let (mut y2, mut winners) = (vec![0.0; y.len()], vec![-1.0; y.len()]);
        max_image_winners(&pool, &x, &mut y2, &mut winners);
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&y), bits(&y2));
        assert!(
            winners
                .iter()
                .all(|&k| (0.0..6.0).contains(&k) && k.fract() == 0.0)
        );
        let mut dx = vec![f32::NAN; x.len()];
        max_grad(&pool, &x, &y, &dy, &mut dx);
        let mut dx2 = vec![f32::NAN; x.len()];
        route_to_winners(&pool, &winners, &dy, &mut dx2);
        assert_eq!(bits(&dx), bits(&dx2));
        // Each window's gradient went to exactly one cell.
        let routed = dx2.iter().filter(|v| **v != 0.0).count();
        assert_eq!(routed, dy.iter().filter(|v| **v != 0.0).count());
    }
}
