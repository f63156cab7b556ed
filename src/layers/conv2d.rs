//! `Conv2D`: a 2-D convolution over NHWC images, `y = act(conv(x, W) + b)`, with the
//! kernel `W` in Keras's layout `[kh, kw, in_channels, filters]`.
//!
//! Each output pixel's receptive field, flattened in the kernel's order, is a row of
//! the "im2col" matrix `X̂`; then `y = X̂ · W` is one GEMM and, with `dz = dy ⊙ act'(y)`:
//!   dW += X̂ᵀ · dz      db += Σ_rows dz      dX̂ = dz · Wᵀ, scattered back onto dx.
//!
//! With strides of 1, `dx` is itself a convolution: of `dz`, padded by `k - 1 - pad`,
//! with the kernel rotated 180° and its channel axes swapped. That path multiplies
//! `[rows × kh·kw·filters]` by `[kh·kw·filters × channels]`, the same well-shaped GEMM
//! as forward, and writes `dx` directly instead of scattering a `dX̂` onto it; strided
//! convolutions take the `dX̂` path.
//!
//! In NHWC a receptive-field row is `kh` contiguous runs of `kw × channels` values,
//! so im2col is a handful of copies per pixel. Forward cuts the output pixels of the
//! whole batch evenly over the threads (so one image alone uses every core);
//! backward cuts the batch into one chunk of images per thread. Each part is walked
//! in bands of rows small enough that `X̂` stays in cache; each thread runs its own
//! single-threaded GEMMs, and the kernel gradients of the chunks are summed in chunk
//! order, so the result depends on the thread count but not on scheduling.
//!
//! Stride-1 square kernels on 8 or more channels run forward and `dx` by Winograd's
//! F(4×4, r×r) instead (`winograd.rs`): 64 products per 4×4 outputs and channel pair
//! for a 5×5 kernel instead of 400 (36 instead of 144 for 3×3). `dx` is the same
//! stride-1 convolution as forward, of `dz` with the flipped kernel, so one driver
//! (`WinogradConv`) serves both. `dW` runs the product backwards in the same domain
//! (`winograd_du`): `n²` GEMMs of transformed input tiles by transformed output
//! gradients, summed over the chunk's tiles, then one kernel-transform adjoint.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::geometry::{Axis, Padding, Size2};
use super::winograd::Transforms;
use super::{Layer, LayerConfig, Param};
use crate::activations::Activation;
use crate::kernels::{Dims, Operand, Store, matmul_serial};
use crate::tensor::Tensor;

/// Values of `X̂` one band holds (1 MiB): a band of rows is im2col'ed, multiplied,
/// and discarded while still in cache.
const BAND_VALUES: usize = 1 << 18;

/// The sizes of one convolution, copied into the parallel closures.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    rows: Axis,
    cols: Axis,
    channels: usize,
    filters: usize,
}

impl Geometry {
    /// Values in one receptive field: the GEMM's inner dimension.
    fn patch(&self) -> usize {
        self.rows.window * self.cols.window * self.channels
    }
    /// Output pixels per image.
    fn pixels(&self) -> usize {
        self.rows.output * self.cols.output
    }
    fn in_len(&self) -> usize {
        self.rows.input * self.cols.input * self.channels
    }
    fn out_len(&self) -> usize {
        self.pixels() * self.filters
    }
    /// Rows of `X̂` per band.
    fn band(&self) -> usize {
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
    fn im2col(&self, x: &[f32], row0: usize, rows: usize, col: &mut [f32]) {
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
    fn gather_tile(
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

    /// Copies Winograd output tile (`ty`, `tx`) of one image's output gradient
    /// (`[ho, wo, f]`) into `tile` (`[m·m, f]`), with zeros past the image's edge.
    fn gather_output_tile(&self, m: usize, dz: &[f32], ty: usize, tx: usize, tile: &mut [f32]) {
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
    fn col2im(&self, dcol: &[f32], row0: usize, rows: usize, dx: &mut [f32]) {
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

/// One thread's buffers, kept between batches.
#[derive(Default)]
struct Scratch {
    col: Vec<f32>,
    dcol: Vec<f32>,
    dw: Vec<f32>,
    db: Vec<f32>,
    /// Winograd's per-tile buffers: the gathered input tile, the general
    /// transforms' partial sums, and one output tile.
    tile: Vec<f32>,
}

/// A 2-D convolution layer over NHWC images.
pub struct Conv2D {
    name: String,
    kernel_size: Size2,
    strides: Size2,
    padding: Padding,
    activation: Activation,
    use_bias: bool,
    geom: Geometry,
    /// The geometry of `dx` as a convolution of `dz` (strides of 1 only).
    transposed: Option<Geometry>,
    /// The kernel rotated and transposed for that convolution, `[kh, kw, filters, in]`.
    flipped: Vec<f32>,
    kernel: Param,
    bias: Param,
    out_shape: [usize; 3],
    scratch: Vec<Scratch>,
    /// Winograd transforms (stride 1, square kernels of 2 to 5, at least
    /// [`WINOGRAD_MIN_CHANNELS`] channels) for forward, `dx` and `dW`.
    winograd: Option<Transforms>,
    /// The transformed kernel `[n², channels, filters]`.
    wino_kernel: Vec<f32>,
    /// The transformed flipped kernel `[n², filters, channels]`, for `dx`.
    wino_flipped: Vec<f32>,
    /// The kernel transform's partial sums.
    wino_tmp: Vec<f32>,
    /// The kernel gradient in the Winograd domain, summed over backward's chunks.
    wino_du: Vec<f32>,
    /// Whether the weights may have changed since `wino_kernel` was made. Every
    /// change goes through [`Layer::for_each_param_mut`] (optimizers, loading), which
    /// sets it: cheaper than comparing the whole kernel on every call.
    wino_stale: bool,
}

/// Fewer input channels than this leave too little to share the input transform
/// (the first layer, on one gray channel, keeps im2col).
const WINOGRAD_MIN_CHANNELS: usize = 8;

/// Transformed tiles one Winograd band holds (inputs and products together), in
/// values: 512 KiB, to stay in L2.
const WINOGRAD_BAND_VALUES: usize = 1 << 17;

/// At most this many parallel parts per Winograd call: their output slices live in a
/// fixed array, so the call allocates nothing.
const MAX_PARTS: usize = 64;

/// One stride-1 convolution by Winograd's F(m×m, r×r): the layer's forward, or its
/// `dx` (a convolution of `dz` by the flipped kernel, with no bias or activation).
struct WinogradConv<'a> {
    g: Geometry,
    tr: &'a Transforms,
    /// The transformed kernel, `[n², channels, filters]`.
    u: &'a [f32],
    bias: Option<&'a [f32]>,
    act: Activation,
}

impl WinogradConv<'_> {
    /// `y = act(conv(x) + bias)` for `batch` images. The batch's rows of output tiles
    /// ("units") are cut evenly over the threads, so one image alone uses every core;
    /// each thread walks its units in bands: input transforms, `n²` GEMMs, output
    /// transforms. The split depends only on the thread count, not on scheduling.
    fn run(&self, x: &[f32], batch: usize, y: &mut [f32], scratch: &mut Vec<Scratch>) {
        let (g, tr) = (self.g, self.tr);
        let (c, f, m, nn) = (g.channels, g.filters, tr.m, tr.n);
        let (ho, wo) = (g.rows.output, g.cols.output);
        let (th, tw) = (ho.div_ceil(m), wo.div_ceil(m));
        let (in_len, out_len) = (g.in_len(), g.out_len());
        let units = batch * th;
        // Where unit `u` (image u / th, tile row u % th) starts in `y`; its rows are
        // contiguous, and so are a run of units.
        let start = |u: usize| (u / th) * out_len + (u % th) * m * wo * f;
        let threads = rayon::current_num_threads().clamp(1, MAX_PARTS);
        let per = units.div_ceil(threads).max(1);
        let chunks = units.div_ceil(per);
        let mut parts: [&mut [f32]; MAX_PARTS] = std::array::from_fn(|_| Default::default());
        let mut rest = &mut y[..batch * out_len];
        for (ci, part) in parts[..chunks].iter_mut().enumerate() {
            let len = start(((ci + 1) * per).min(units)) - start(ci * per);
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
            *part = head;
            rest = tail;
        }
        let group = (WINOGRAD_BAND_VALUES / (nn * nn * (c + f) * tw)).max(1);
        let cap = group * tw;
        if scratch.len() < chunks {
            scratch.resize_with(chunks, Scratch::default);
        }
        let (tile_len, tmp_len) = (nn * nn * c, nn * nn * c.max(f));
        for s in &mut scratch[..chunks] {
            s.col.resize(s.col.len().max(nn * nn * cap * c), 0.0);
            s.dcol.resize(s.dcol.len().max(nn * nn * cap * f), 0.0);
            s.tile.resize(tile_len + tmp_len + m * m * f, 0.0);
        }
        let u = self.u;
        parts[..chunks]
            .par_iter_mut()
            .zip(scratch.par_iter_mut())
            .enumerate()
            .for_each(|(ci, (part, s))| {
                let (v, mm) = (&mut s.col, &mut s.dcol);
                let (tile, rest) = s.tile.split_at_mut(tile_len);
                let (tmp, out) = rest.split_at_mut(tmp_len);
                let (u0, u1) = (ci * per, ((ci + 1) * per).min(units));
                let base = start(u0);
                for g0 in (u0..u1).step_by(group) {
                    let grp = g0..(g0 + group).min(u1);
                    for (gi, unit) in grp.clone().enumerate() {
                        let (img, ty) = (unit / th, unit % th);
                        let image = &x[img * in_len..][..in_len];
                        for tx in 0..tw {
                            g.gather_tile(m, nn, image, ty, tx, tile);
                            let t = gi * tw + tx;
                            tr.input_tile(tile, c, tmp, &mut v[t * c..], cap * c);
                        }
                    }
                    let tiles = grp.len() * tw;
                    for xi in 0..nn * nn {
                        matmul_serial(
                            Dims {
                                m: tiles,
                                k: c,
                                n: f,
                            },
                            Operand::new(&v[xi * cap * c..]),
                            Operand::new(&u[xi * c * f..]),
                            &mut mm[xi * cap * f..],
                            Store::Overwrite,
                        );
                    }
                    for (gi, unit) in grp.enumerate() {
                        let ty = unit % th;
                        let rows_out = &mut part[start(unit) - base..];
                        for tx in 0..tw {
                            let t = gi * tw + tx;
                            tr.output_tile(&mm[t * f..], f, cap * f, tmp, out);
                            self.scatter_tile(out, rows_out, ty, tx);
                        }
                    }
                }
            });
    }

    /// Writes one transformed output tile (`out`, `[m·m, f]`) into its place in
    /// `rows_out` (the output rows of tile row `ty`), clipped at the image's edge, and
    /// applies the bias and activation on the way.
    fn scatter_tile(&self, out: &[f32], rows_out: &mut [f32], ty: usize, tx: usize) {
        let (g, m) = (self.g, self.tr.m);
        let (f, ho, wo) = (g.filters, g.rows.output, g.cols.output);
        let cols = (wo - tx * m).min(m);
        for i in 0..(ho - ty * m).min(m) {
            let dst = &mut rows_out[(i * wo + tx * m) * f..][..cols * f];
            dst.copy_from_slice(&out[i * m * f..][..cols * f]);
            for px in dst.chunks_exact_mut(f) {
                if let Some(bias) = self.bias {
                    px.iter_mut().zip(bias).for_each(|(d, b)| *d += b);
                }
                self.act.forward_row(px);
            }
        }
    }
}

/// The kernel gradient in Winograd's domain for one chunk of `images`: adds
/// `Σ_tiles V[ξ]ᵀ · dM[ξ]` onto `s.dw` (`[n², channels, filters]`), where `V` are the input
/// tiles' transforms (computed again rather than kept from forward: they would take
/// more memory than the activations) and `dM = A dz Aᵀ` the output gradient's.
fn winograd_du(
    g: Geometry,
    tr: &Transforms,
    x: &[f32],
    dz: &[f32],
    images: usize,
    s: &mut Scratch,
) {
    let (c, f, m, nn) = (g.channels, g.filters, tr.m, tr.n);
    let (th, tw) = (g.rows.output.div_ceil(m), g.cols.output.div_ceil(m));
    let units = images * th;
    let group = (WINOGRAD_BAND_VALUES / (nn * nn * (c + f) * tw)).max(1);
    let cap = group * tw;
    let Scratch {
        col: v,
        dcol: dm,
        dw: du,
        tile,
        ..
    } = s;
    v.resize(v.len().max(nn * nn * cap * c), 0.0);
    dm.resize(dm.len().max(nn * nn * cap * f), 0.0);
    let tile_len = nn * nn * c.max(f);
    tile.resize(tile.len().max(2 * tile_len), 0.0);
    let (tile, tmp) = tile.split_at_mut(tile_len);
    for g0 in (0..units).step_by(group) {
        let grp = g0..(g0 + group).min(units);
        for (gi, unit) in grp.clone().enumerate() {
            let (img, ty) = (unit / th, unit % th);
            let image = &x[img * g.in_len()..][..g.in_len()];
            let dz_image = &dz[img * g.out_len()..][..g.out_len()];
            for tx in 0..tw {
                let t = gi * tw + tx;
                g.gather_tile(m, nn, image, ty, tx, tile);
                tr.input_tile(tile, c, tmp, &mut v[t * c..], cap * c);
                g.gather_output_tile(m, dz_image, ty, tx, tile);
                tr.output_grad_tile(tile, f, tmp, &mut dm[t * f..], cap * f);
            }
        }
        let tiles = grp.len() * tw;
        for xi in 0..nn * nn {
            let (vx, dmx) = (&v[xi * cap * c..], &dm[xi * cap * f..]);
            matmul_serial(
                Dims {
                    m: c,
                    k: tiles,
                    n: f,
                },
                Operand::transposed(vx),
                Operand::new(dmx),
                &mut du[xi * c * f..],
                Store::Accumulate,
            );
        }
    }
}

impl Conv2D {
    /// A convolution of `input` (`[h, w, channels]`) with Keras's initialization:
    /// Glorot-uniform kernel (fans counted over the receptive field), zero bias.
    /// `None` when no window fits the input.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        input: [usize; 3],
        filters: usize,
        kernel_size: Size2,
        strides: Size2,
        padding: Padding,
        activation: Activation,
        use_bias: bool,
        rng: &mut ChaCha8Rng,
    ) -> Option<Self> {
        let [kh, kw] = kernel_size.0;
        let rows = Axis::new(input[0], kh, strides.0[0], padding)?;
        let cols = Axis::new(input[1], kw, strides.0[1], padding)?;
        let geom = Geometry {
            rows,
            cols,
            channels: input[2],
            filters,
        };
        let k = geom.patch();
        let limit = (6.0 / ((kh * kw) * (input[2] + filters)) as f64).sqrt() as f32;
        let w = (0..k * filters)
            .map(|_| rng.random_range(-limit..limit))
            .collect();
        let bias_len = if use_bias { filters } else { 0 };
        let transposed = (strides.0 == [1, 1]).then(|| {
            let back = |a: Axis| Axis {
                input: a.output,
                output: a.input,
                window: a.window,
                stride: 1,
                pad: a.window - 1 - a.pad,
            };
            Geometry {
                rows: back(rows),
                cols: back(cols),
                channels: filters,
                filters: input[2],
            }
        });
        Some(Conv2D {
            name,
            kernel_size,
            strides,
            padding,
            activation,
            use_bias,
            geom,
            transposed,
            flipped: Vec::new(),
            kernel: Param::kernel(vec![kh, kw, input[2], filters], w),
            bias: Param::new("bias", vec![bias_len], vec![0.0; bias_len]),
            out_shape: [rows.output, cols.output, filters],
            scratch: Vec::new(),
            winograd: (strides.0 == [1, 1] && kh == kw && input[2] >= WINOGRAD_MIN_CHANNELS)
                .then(|| Transforms::for_kernel(kh))
                .flatten(),
            wino_kernel: Vec::new(),
            wino_flipped: Vec::new(),
            wino_tmp: Vec::new(),
            wino_du: Vec::new(),
            wino_stale: true,
        })
    }

    /// Makes sure `chunks` threads have an im2col buffer for forward.
    fn prepare_forward(&mut self, chunks: usize) {
        if self.scratch.len() < chunks {
            self.scratch.resize_with(chunks, Scratch::default);
        }
        let band = self.geom.band() * self.geom.patch();
        for s in &mut self.scratch[..chunks] {
            if s.col.len() < band {
                s.col.resize(band, 0.0);
            }
        }
    }

    /// Forward by Winograd's F(4×4, r×r), refreshing the transformed kernel if the
    /// weights changed since it was made.
    fn forward_winograd(&mut self, x: &[f32], batch: usize, y: &mut [f32]) {
        let Some(tr) = self.winograd.as_ref() else {
            return;
        };
        let g = self.geom;
        if self.wino_stale {
            let (c, f) = (g.channels, g.filters);
            tr.kernel(
                &self.kernel.value,
                c,
                f,
                &mut self.wino_kernel,
                &mut self.wino_tmp,
            );
            self.wino_stale = false;
        }
        WinogradConv {
            g,
            tr,
            u: &self.wino_kernel,
            bias: self.use_bias.then_some(&self.bias.value[..]),
            act: self.activation,
        }
        .run(x, batch, y, &mut self.scratch);
    }

    /// Images per chunk of backward for a batch of `n`, and makes sure every chunk
    /// has buffers.
    fn prepare_backward(&mut self, n: usize) -> usize {
        let threads = rayon::current_num_threads().max(1);
        let per = n.div_ceil(threads).max(1);
        let chunks = n.div_ceil(per);
        if self.scratch.len() < chunks {
            self.scratch.resize_with(chunks, Scratch::default);
        }
        let mut band = self.geom.band() * self.geom.patch();
        if let Some(t) = self.transposed {
            band = band.max(t.band() * t.patch());
        }
        let f = self.geom.filters;
        // The chunks' kernel gradients: in the Winograd domain (`[n², c, f]`) when
        // `dW` runs there, else the kernel's own shape.
        let kf = match &self.winograd {
            Some(tr) => tr.n * tr.n * self.geom.channels * f,
            None => self.geom.patch() * f,
        };
        for s in &mut self.scratch[..chunks] {
            s.col.resize(band.max(s.col.len()), 0.0);
            if self.transposed.is_none() {
                s.dcol.resize(band, 0.0);
            }
            s.dw.resize(kf, 0.0);
            s.db.resize(f, 0.0);
        }
        per
    }
}

impl Layer for Conv2D {
    fn name(&self) -> &str {
        &self.name
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::Conv2D {
            filters: self.geom.filters,
            kernel_size: self.kernel_size,
            strides: self.strides,
            padding: self.padding,
            activation: self.activation,
            use_bias: self.use_bias,
        }
    }

    fn output_shape(&self) -> &[usize] {
        &self.out_shape
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let n = x.batch();
        y.set_shape(&[n, self.out_shape[0], self.out_shape[1], self.out_shape[2]]);
        if n == 0 {
            return;
        }
        if self.winograd.is_some() {
            self.forward_winograd(x.data(), n, y.data_mut());
            return;
        }
        // Output rows (pixels of all images) are cut evenly over the threads, not
        // whole images: a batch of one image still keeps every core busy.
        let g = self.geom;
        let total = n * g.pixels();
        let per = total.div_ceil(rayon::current_num_threads().max(1)).max(1);
        self.prepare_forward(total.div_ceil(per));
        let (k, f, band) = (g.patch(), g.filters, g.band());
        let (kernel, bias) = (&self.kernel.value, &self.bias.value);
        let (act, use_bias) = (self.activation, self.use_bias);
        let x = x.data();
        y.data_mut()
            .par_chunks_mut(per * f)
            .zip(self.scratch.par_iter_mut())
            .enumerate()
            .for_each(|(ci, (yc, s))| {
                let rows = yc.len() / f;
                let mut r0 = 0;
                while r0 < rows {
                    let r = band.min(rows - r0);
                    g.im2col(x, ci * per + r0, r, &mut s.col);
                    let out = &mut yc[r0 * f..(r0 + r) * f];
                    matmul_serial(
                        Dims { m: r, k, n: f },
                        Operand::new(&s.col),
                        Operand::new(kernel),
                        out,
                        Store::Overwrite,
                    );
                    for row in out.chunks_exact_mut(f) {
                        if use_bias {
                            row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
                        }
                        act.forward_row(row);
                    }
                    r0 += r;
                }
            });
    }

    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let n = x.batch();
        if n == 0 {
            return;
        }
        let per = self.prepare_backward(n);
        let g = self.geom;
        let (k, f, band) = (g.patch(), g.filters, g.band());
        let transposed = self.transposed;
        // dx by Winograd after the chunks have turned dy into dz; the chunks then
        // compute only dW and db.
        let (dx, wino_dx) = match (&self.winograd, transposed) {
            (Some(_), Some(_)) => (None, dx),
            _ => (dx, None),
        };
        if let (Some(t), true) = (transposed, dx.is_some() || wino_dx.is_some()) {
            let (kh, kw, c) = (g.rows.window, g.cols.window, g.channels);
            self.flipped.resize(k * f, 0.0);
            for ky in 0..kh {
                for kx in 0..kw {
                    let src = (ky * kw + kx) * c;
                    let dst = ((kh - 1 - ky) * kw + (kw - 1 - kx)) * f;
                    for ci in 0..c {
                        for fo in 0..f {
                            self.flipped[(dst + fo) * t.filters + ci] =
                                self.kernel.value[(src + ci) * f + fo];
                        }
                    }
                }
            }
        }
        let (kernel, flipped) = (&self.kernel.value, &self.flipped);
        let (act, wino) = (self.activation, self.winograd.as_ref());
        let (x, y) = (x.data(), y.data());
        let chunk = |ci: usize, dyc: &mut [f32], dxc: Option<&mut [f32]>, s: &mut Scratch| {
            let xc = &x[ci * per * g.in_len()..];
            let yc = &y[ci * per * g.out_len()..];
            s.dw.fill(0.0);
            s.db.fill(0.0);
            let mut dxc = dxc;
            if let (Some(d), None) = (dxc.as_deref_mut(), transposed) {
                d.fill(0.0);
            }
            let total = dyc.len() / f;
            let mut r0 = 0;
            while r0 < total {
                let r = band.min(total - r0);
                let dz = &mut dyc[r0 * f..(r0 + r) * f];
                if act != Activation::Linear {
                    for (d, yr) in dz.chunks_exact_mut(f).zip(yc[r0 * f..].chunks_exact(f)) {
                        act.backward_row(yr, d);
                    }
                }
                for row in dz.chunks_exact(f) {
                    s.db.iter_mut().zip(row).for_each(|(a, v)| *a += v);
                }
                if wino.is_none() {
                    g.im2col(xc, r0, r, &mut s.col);
                    matmul_serial(
                        Dims { m: k, k: r, n: f },
                        Operand::transposed(&s.col),
                        Operand::new(dz),
                        &mut s.dw,
                        Store::Accumulate,
                    );
                }
                if let (Some(d), None) = (dxc.as_deref_mut(), transposed) {
                    matmul_serial(
                        Dims { m: r, k: f, n: k },
                        Operand::new(dz),
                        Operand::transposed(kernel),
                        &mut s.dcol,
                        Store::Overwrite,
                    );
                    g.col2im(&s.dcol, r0, r, d);
                }
                r0 += r;
            }
            if let Some(tr) = wino {
                winograd_du(g, tr, xc, dyc, dyc.len() / g.out_len(), s);
            }
            if let (Some(d), Some(t)) = (dxc, transposed) {
                // dx = im2col(dz) · flipped, band by band over the input pixels.
                let (tk, c, tband) = (t.patch(), t.filters, t.band());
                let total = d.len() / c;
                let mut r0 = 0;
                while r0 < total {
                    let r = tband.min(total - r0);
                    t.im2col(dyc, r0, r, &mut s.col);
                    let out = &mut d[r0 * c..(r0 + r) * c];
                    matmul_serial(
                        Dims { m: r, k: tk, n: c },
                        Operand::new(&s.col),
                        Operand::new(flipped),
                        out,
                        Store::Overwrite,
                    );
                    r0 += r;
                }
            }
        };
        let dyd = dy.data_mut();
        let cy = per * g.out_len();
        match dx {
            Some(dx) => {
                dx.set_shape(&[n, g.rows.input, g.cols.input, g.channels]);
                dyd.par_chunks_mut(cy)
                    .zip(dx.data_mut().par_chunks_mut(per * g.in_len()))
                    .zip(self.scratch.par_iter_mut())
                    .enumerate()
                    .for_each(|(ci, ((dyc, dxc), s))| chunk(ci, dyc, Some(dxc), s));
            }
            None => {
                dyd.par_chunks_mut(cy)
                    .zip(self.scratch.par_iter_mut())
                    .enumerate()
                    .for_each(|(ci, (dyc, s))| chunk(ci, dyc, None, s));
            }
        }
        let chunks = &self.scratch[..n.div_ceil(per)];
        if let Some(tr) = &self.winograd {
            // Σ dU over the chunks in chunk order, then back to the kernel once.
            self.wino_du.clear();
            self.wino_du.resize(chunks[0].dw.len(), 0.0);
            for s in chunks {
                self.wino_du
                    .iter_mut()
                    .zip(&s.dw)
                    .for_each(|(a, v)| *a += v);
            }
            let (c, grad) = (g.channels, &mut self.kernel.grad);
            tr.kernel_grad(&self.wino_du, c, f, grad, &mut self.wino_tmp);
        }
        for s in chunks {
            if self.winograd.is_none() {
                for (a, v) in self.kernel.grad.iter_mut().zip(&s.dw) {
                    *a += v;
                }
            }
            if self.use_bias {
                for (a, v) in self.bias.grad.iter_mut().zip(&s.db) {
                    *a += v;
                }
            }
        }
        if let (Some(dx), Some(tr), Some(t)) = (wino_dx, &self.winograd, transposed) {
            dx.set_shape(&[n, g.rows.input, g.cols.input, g.channels]);
            let (f, c) = (t.channels, t.filters);
            tr.kernel(
                &self.flipped,
                f,
                c,
                &mut self.wino_flipped,
                &mut self.wino_tmp,
            );
            WinogradConv {
                g: t,
                tr,
                u: &self.wino_flipped,
                bias: None,
                act: Activation::Linear,
            }
            .run(dy.data(), n, dx.data_mut(), &mut self.scratch);
        }
    }

    fn forward_flops(&self) -> usize {
        2 * self.geom.pixels() * self.geom.patch() * self.geom.filters
    }

    fn params(&self) -> Vec<&Param> {
        if self.use_bias {
            vec![&self.kernel, &self.bias]
        } else {
            vec![&self.kernel]
        }
    }

    fn for_each_param_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.wino_stale = true;
        f(&mut self.kernel);
        if self.use_bias {
            f(&mut self.bias);
        }
    }
}
