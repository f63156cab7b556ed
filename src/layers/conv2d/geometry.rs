//! The sizes of one convolution, and the copies that turn images into the rows the
//! GEMMs multiply: im2col (`X̂`, a receptive field a row), its adjoint col2im, and
//! the gathers of Winograd's input and output-gradient tiles.

use super::super::geometry::Axis;
use super::transforms::Window;

/// Values of `X̂` one band holds (1 MiB): a band of rows is im2col'ed, multiplied,
/// and discarded while still in cache.
const BAND_VALUES: usize = 1 << 18;

/// The sizes of one convolution, copied into the parallel closures.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geometry {
    pub rows: Axis,
    pub cols: Axis,
    pub channels: usize,
    pub filters: usize,
}

impl Geometry {
    /// The geometry of `dx` as a convolution of `dz`: `dz` padded by
    /// `window - 1 - pad`, convolved with the kernel rotated 180° and its channel axes
    /// swapped, gives `dx`. Only for strides of 1 and paddings under the window (an
    /// explicit padding can be wider); `None` otherwise.
    pub(super) fn transposed(&self) -> Option<Geometry> {
        let back = |a: Axis| {
            (a.stride == 1 && a.pad < a.window).then(|| Axis {
                input: a.output,
                output: a.input,
                window: a.window,
                stride: 1,
                pad: a.window - 1 - a.pad,
            })
        };
        Some(Geometry {
            rows: back(self.rows)?,
            cols: back(self.cols)?,
            channels: self.filters,
            filters: self.channels,
        })
    }

    /// Values in one receptive field: the GEMM's inner dimension.
    pub(super) fn patch(&self) -> usize {
        self.rows.window * self.cols.window * self.channels
    }
    /// Output pixels per image.
    pub(super) fn pixels(&self) -> usize {
        self.rows.output * self.cols.output
    }
    /// Values in one input image.
    pub(super) fn in_len(&self) -> usize {
        self.rows.input * self.cols.input * self.channels
    }
    /// Values in one output image.
    pub(super) fn out_len(&self) -> usize {
        self.pixels() * self.filters
    }
    /// Rows of `X̂` per band.
    pub(super) fn band(&self) -> usize {
        (BAND_VALUES / self.patch()).clamp(8, self.pixels().max(8))
    }

    /// For each of `rows` output pixels starting at pixel `row0` of a chunk of
    /// images, calls `f(range_in_patch_rows, Some(offset_in_images))` for every
    /// contiguous run of its receptive field inside the image, and
    /// `f(range_in_patch_rows, None)` for every run in the padding.
    #[inline]
    fn walk(
        &self,
        row0: usize,
        rows: usize,
        mut f: impl FnMut(std::ops::Range<usize>, Option<usize>),
    ) {
        let (p, c, w) = (self.pixels(), self.channels, self.cols.input);
        let (kh, kw) = (self.rows.window, self.cols.window);
        let seg = kw * c;
        let k = self.patch();
        for r in 0..rows {
            let g = row0 + r;
            let (img, pix) = (g / p, g % p);
            let (oy, ox) = (pix / self.cols.output, pix % self.cols.output);
            let (ylo, yhi, ystart) = self.rows.span(oy);
            let (xlo, xhi, xstart) = self.cols.span(ox);
            let base = r * k;
            if ylo > 0 {
                f(base..base + ylo * seg, None);
            }
            if yhi < kh {
                f(base + yhi * seg..base + k, None);
            }
            for ky in ylo..yhi {
                let s = base + ky * seg;
                if xlo > 0 {
                    f(s..s + xlo * c, None);
                }
                if xhi < kw {
                    f(s + xhi * c..s + seg, None);
                }
                if xhi > xlo {
                    let iy = (ystart + ky as isize) as usize;
                    let ix = (xstart + xlo as isize) as usize;
                    let src = img * self.in_len() + (iy * w + ix) * c;
                    f(s + xlo * c..s + xhi * c, Some(src));
                }
            }
        }
    }

    /// Writes rows `row0..row0 + rows` of `X̂` for the images in `x` into `col`.
    pub(super) fn im2col(&self, x: &[f32], row0: usize, rows: usize, col: &mut [f32]) {
        let col = &mut col[..rows * self.patch()];
        self.walk(row0, rows, |dst, src| match src {
            Some(src) => {
                let len = dst.len();
                col[dst].copy_from_slice(&x[src..src + len]);
            }
            None => col[dst].fill(0.0),
        });
    }

    /// Copies the `n×n` input window of Winograd output tile (`ty`, `tx`) (tiles of
    /// `m×m` outputs) from one NHWC `image` into `tile` (`[n·n, c]`), with zeros where
    /// the window hangs over the padding.
    pub(super) fn gather_tile(
        &self,
        m: usize,
        n: usize,
        image: &[f32],
        ty: usize,
        tx: usize,
        tile: &mut [f32],
    ) {
        let c = self.channels;
        let (h_in, w_in) = (self.rows.input as isize, self.cols.input as isize);
        // The window's columns inside the image, the same for every row: one copy a row.
        let x0 = (tx * m) as isize - self.cols.pad as isize;
        let lo = (-x0).clamp(0, n as isize) as usize;
        let hi = (w_in - x0).clamp(lo as isize, n as isize) as usize;
        for yy in 0..n {
            let iy = (ty * m + yy) as isize - self.rows.pad as isize;
            let row = &mut tile[yy * n * c..][..n * c];
            if !(0..h_in).contains(&iy) || hi == lo {
                row.fill(0.0);
                continue;
            }
            row[..lo * c].fill(0.0);
            row[hi * c..].fill(0.0);
            let src = (iy as usize * w_in as usize + (x0 + lo as isize) as usize) * c;
            row[lo * c..hi * c].copy_from_slice(&image[src..src + (hi - lo) * c]);
        }
    }

    /// The `n×n` input window of Winograd output tile (`ty`, `tx`) read in place from
    /// one NHWC `image`, when it lies wholly inside the image (no padding, no edge);
    /// `None` otherwise, and the caller gathers it with [`Self::gather_tile`].
    pub(super) fn tile_in_place<'a>(
        &self,
        m: usize,
        n: usize,
        image: &'a [f32],
        ty: usize,
        tx: usize,
    ) -> Option<Window<'a>> {
        let y0 = (ty * m).checked_sub(self.rows.pad)?;
        let x0 = (tx * m).checked_sub(self.cols.pad)?;
        if y0 + n > self.rows.input || x0 + n > self.cols.input {
            return None;
        }
        let row = self.cols.input * self.channels;
        Some(Window {
            values: &image[y0 * row + x0 * self.channels..],
            row,
        })
    }

    /// Copies Winograd output tile (`ty`, `tx`) of one image's output gradient
    /// (`[ho, wo, f]`) into `tile` (`[m·m, f]`), with zeros past the image's edge.
    pub(super) fn gather_output_tile(
        &self,
        m: usize,
        dz: &[f32],
        ty: usize,
        tx: usize,
        tile: &mut [f32],
    ) {
        let (f, ho, wo) = (self.filters, self.rows.output, self.cols.output);
        let (rows, cols) = ((ho - ty * m).min(m), (wo - tx * m).min(m));
        if rows < m || cols < m {
            tile[..m * m * f].fill(0.0);
        }
        for i in 0..rows {
            let src = &dz[((ty * m + i) * wo + tx * m) * f..][..cols * f];
            tile[i * m * f..][..cols * f].copy_from_slice(src);
        }
    }

    /// Adds rows `row0..row0 + rows` of `dX̂` back onto the images' gradient `dx`.
    pub(super) fn col2im(&self, dcol: &[f32], row0: usize, rows: usize, dx: &mut [f32]) {
        self.walk(row0, rows, |src, dst| {
            if let Some(dst) = dst {
                let len = src.len();
                for (d, s) in dx[dst..dst + len].iter_mut().zip(&dcol[src]) {
                    *d += s;
                }
            }
        });
    }
}
