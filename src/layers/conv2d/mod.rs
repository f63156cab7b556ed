//! `Conv2D`: a 2-D convolution over NHWC images, `y = act(conv(x, W) + b)`, with the
//! kernel `W` in Keras's layout `[kh, kw, in_channels, filters]`.
//!
//! Each output pixel's receptive field, flattened in the kernel's order, is a row of
//! the "im2col" matrix `X̂`; then `y = X̂ · W` is one GEMM and, with `dz = dy ⊙ act'(y)`:
//!   dW += X̂ᵀ · dz      db += Σ_rows dz      dX̂ = dz · Wᵀ, scattered back onto dx.
//!
//! With strides of 1, `dx` is itself a convolution: of `dz`, padded by `k - 1 - pad`,
//! with the kernel rotated 180° and its channel axes swapped ("flipped").
//!
//! How the layer computes is decided once, when it is built, as a [`Plan`]:
//! - **Winograd** (`winograd.rs`, transforms in `transforms.rs`) for stride-1 square
//!   kernels of 2 to 5 on 8 or more channels: forward and `dx` by F(4×4, r×r), 64
//!   products per 4×4 outputs and channel pair for a 5×5 kernel instead of 400 (36
//!   instead of 144 for 3×3), or by F(5×5, 3×3) where its fewer, larger tiles save
//!   a tenth of the products (a 10×10 output: 4 tiles of 49 instead of 9 of 36),
//!   each chosen for its own output's size; `dW` by forward's product run backwards
//!   in that domain.
//! - **direct** (`direct.rs`) for stride-1 convolutions of one input channel (the
//!   first layer on gray images): forward and `dW` without copying receptive fields,
//!   in the widest vectors the CPU has; `dx` as im2col's.
//! - **im2col** (`im2col.rs`) otherwise: forward and `dW` as GEMMs over bands of
//!   `X̂`; `dx` by the flipped-kernel convolution when strides are 1 (and the padding
//!   narrower than the window), else by scattering `dX̂` (col2im).
//!
//! A direct-plan layer with relu or no activation also takes in a max pooling after
//! it whose windows tile its output, when the model is built ([`Layer::fuse_next`];
//! `pooled.rs`): each image is convolved and pooled in cache, the same bits as the
//! two layers apart.
//!
//! Backward cuts the batch into one chunk of images per thread; each thread keeps
//! its own buffers ([`ThreadBuffers`]) and share of the parameter gradients, summed
//! in chunk order, so the result depends on the thread count but not on scheduling.

mod direct;
mod epilogue;
mod geometry;
mod im2col;
mod pooled;
mod transforms;
mod winograd;

use std::sync::{PoisonError, RwLock};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::geometry::{Axis, Padding, Size2};
use super::{Layer, LayerConfig, LayerScratch, Param};
use crate::activations::Activation;
use crate::tensor::Tensor;
use epilogue::Epilogue;
use geometry::Geometry;
use transforms::Transforms;
use winograd::{TileBuffers, WinogradConv};

/// Fewer input channels than this leave too little to share the input transform
/// (the first layer, on one gray channel, keeps im2col).
const WINOGRAD_MIN_CHANNELS: usize = 8;

/// How the layer computes its three steps, chosen when it is built.
enum Plan {
    /// Forward and `dW` by im2col; `dx` by scattering `dX̂` (strided convolutions, and
    /// explicit paddings as wide as the window).
    Im2colScatter,
    /// Forward and `dW` by im2col; `dx` as the stride-1 convolution of `dz` by the
    /// flipped kernel, also by im2col.
    Im2colTransposed(Geometry),
    /// Forward, `dW` and `dx` in Winograd's domain.
    Winograd(Box<WinogradPlan>),
    /// Forward and `dW` by the direct kernels; `dx` as `Im2colTransposed` does with
    /// the geometry given, or as `Im2colScatter` without.
    Direct(Option<Geometry>),
}

/// The Winograd plan's transforms and transformed kernels.
struct WinogradPlan {
    /// Forward's and the kernel gradient's transforms, chosen for the output's size.
    transforms: Transforms,
    /// `dx`'s, chosen for the input's size (the output of `dx`'s convolution).
    dx_transforms: Transforms,
    /// The geometry of `dx` as a convolution of `dz`.
    transposed: Geometry,
    /// The transformed kernel `U`. Inference reads it through `&self`, from many
    /// threads at once; the first pass after the weights change remakes it.
    kernel: RwLock<TransformedKernel>,
    /// The transformed flipped kernel `[n², filters, channels]`, for `dx`.
    flipped: Vec<f32>,
    /// Whether the weights may have changed since `flipped` was made (marked as the
    /// forward's kernel is): a batch's chunks all use the same one.
    flipped_stale: bool,
    /// The kernel gradient in the Winograd domain, summed over backward's chunks.
    kernel_grad: Vec<f32>,
    /// The kernel transform's partial sums (for `flipped` and the gradient).
    partial: Vec<f32>,
}

/// The transformed kernel `[n², channels, filters]` and whether the weights may have
/// changed since it was made. Every change goes through
/// [`Layer::for_each_param_mut`] (optimizers, loading), which marks it stale: cheaper
/// than comparing the whole kernel on every call.
#[derive(Default)]
struct TransformedKernel {
    values: Vec<f32>,
    partial: Vec<f32>,
    stale: bool,
}

/// How `parameter_grads` computes the kernel gradient.
#[derive(Clone, Copy)]
enum GradMethod<'a> {
    Im2col,
    Winograd(&'a Transforms),
    Direct,
}

/// One thread's buffers, kept between batches; a plan uses only its own.
#[derive(Default)]
struct ThreadBuffers {
    /// im2col's band of receptive fields: of `x` (forward, `dW`) or of `dz` (`dx` by
    /// the flipped-kernel convolution); the direct path's padded image.
    patches: Vec<f32>,
    /// A band of `dX̂ = dz · Wᵀ`, before col2im adds it onto `dx`.
    patch_grads: Vec<f32>,
    /// Winograd's transformed tiles.
    tiles: TileBuffers,
    /// This thread's share of the kernel gradient: in the kernel's shape, or in the
    /// Winograd domain (`[n², channels, filters]`).
    kernel_grad: Vec<f32>,
    /// This thread's share of the bias gradient.
    bias_grad: Vec<f32>,
    /// The direct path's list of an image's nonzero pixels.
    pixels: Vec<direct::Pixel>,
    /// One image's output, or its gradient, before the pooling the layer runs
    /// ([`pooled`]).
    map: Vec<f32>,
    /// The winning cell of each pooling window of this thread's chunk, from forward
    /// to backward ([`pooled`]).
    winners: Vec<f32>,
}

/// Cuts `items` into one chunk per thread: returns the chunk length, and gives
/// `threads` a buffer set for every chunk.
fn thread_chunks(items: usize, threads: &mut Vec<ThreadBuffers>) -> usize {
    let per = items.div_ceil(rayon::current_num_threads().max(1)).max(1);
    let parts = items.div_ceil(per);
    if threads.len() < parts {
        threads.resize_with(parts, ThreadBuffers::default);
    }
    per
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
    kernel: Param,
    bias: Param,
    out_shape: [usize; 3],
    plan: Plan,
    /// The flipped kernel `[kh, kw, filters, channels]` for `dx` on the stride-1
    /// plans, made in each backward that computes `dx`.
    flipped: Vec<f32>,
    threads: Vec<ThreadBuffers>,
    /// The max pooling after this layer, when the layer runs it ([`pooled`]).
    pooled: Option<Box<pooled::PooledOutput>>,
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
        let rows = Axis::new(input[0], kh, strides.0[0], padding.along(0))?;
        let cols = Axis::new(input[1], kw, strides.0[1], padding.along(1))?;
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
        Some(Conv2D {
            name,
            kernel_size,
            strides,
            padding,
            activation,
            use_bias,
            geom,
            kernel: Param::kernel(vec![kh, kw, input[2], filters], w),
            bias: Param::new("bias", vec![bias_len], vec![0.0; bias_len]),
            out_shape: [rows.output, cols.output, filters],
            plan: Self::plan(geom),
            flipped: Vec::new(),
            threads: Vec::new(),
            pooled: None,
        })
    }

    /// Chooses how a convolution of `g` computes (see the module docs).
    fn plan(g: Geometry) -> Plan {
        if direct::fits(&g) {
            return Plan::Direct(g.transposed());
        }
        let Some(transposed) = g.transposed() else {
            return Plan::Im2colScatter;
        };
        let square = g.rows.window == g.cols.window;
        let r = g.rows.window;
        let for_output = |g: Geometry| Transforms::for_output(r, g.rows.output, g.cols.output);
        let transforms = (square && g.channels >= WINOGRAD_MIN_CHANNELS)
            .then(|| Some((for_output(g)?, for_output(transposed)?)))
            .flatten();
        match transforms {
            Some((transforms, dx_transforms)) => Plan::Winograd(Box::new(WinogradPlan {
                transforms,
                dx_transforms,
                transposed,
                kernel: RwLock::new(TransformedKernel {
                    stale: true,
                    ..TransformedKernel::default()
                }),
                flipped: Vec::new(),
                flipped_stale: true,
                kernel_grad: Vec::new(),
                partial: Vec::new(),
            })),
            None => Plan::Im2colTransposed(transposed),
        }
    }

    /// What forward applies after the product.
    fn epilogue(&self) -> Epilogue<'_> {
        Epilogue {
            bias: self.use_bias.then_some(&self.bias.value[..]),
            act: self.activation,
        }
    }

    /// `y = act(conv(x) + b)` for `n` images with the given buffers: forward and
    /// inference alike, reading the layer only.
    fn convolve(&self, x: &[f32], n: usize, y: &mut [f32], threads: &mut Vec<ThreadBuffers>) {
        let g = self.geom;
        match &self.plan {
            Plan::Winograd(p) => {
                let (c, f) = (g.channels, g.filters);
                let read = || p.kernel.read().unwrap_or_else(PoisonError::into_inner);
                let mut u = read();
                if u.stale {
                    drop(u);
                    let mut w = p.kernel.write().unwrap_or_else(PoisonError::into_inner);
                    let TransformedKernel {
                        values,
                        partial,
                        stale,
                    } = &mut *w;
                    if *stale {
                        p.transforms
                            .kernel(&self.kernel.value, c, f, values, partial);
                        *stale = false;
                    }
                    drop(w);
                    u = read();
                }
                WinogradConv {
                    g,
                    tr: &p.transforms,
                    u: &u.values,
                    out: self.epilogue(),
                }
                .run(x, n, y, threads);
            }
            Plan::Im2colScatter | Plan::Im2colTransposed(_) => {
                let w = &self.kernel.value;
                im2col::forward(g, w, self.epilogue(), x, n, y, threads)
            }
            Plan::Direct(_) => {
                direct::forward(g, &self.kernel.value, self.epilogue(), x, n, y, threads)
            }
        }
    }

    /// Shapes `y` and convolves `x` into it.
    fn infer_with(&self, x: &Tensor, y: &mut Tensor, threads: &mut Vec<ThreadBuffers>) {
        let n = x.batch();
        y.set_shape(&[n, self.out_shape[0], self.out_shape[1], self.out_shape[2]]);
        if n > 0 {
            self.convolve(x.data(), n, y.data_mut(), threads);
        }
    }

    /// Writes the flipped kernel (see [`Conv2D::flipped`]).
    fn flip_kernel(&mut self) {
        let g = self.geom;
        let (kh, kw, c, f) = (g.rows.window, g.cols.window, g.channels, g.filters);
        self.flipped.resize(kh * kw * c * f, 0.0);
        for ky in 0..kh {
            for kx in 0..kw {
                let src = (ky * kw + kx) * c;
                let dst = ((kh - 1 - ky) * kw + (kw - 1 - kx)) * f;
                for ci in 0..c {
                    for fo in 0..f {
                        self.flipped[(dst + fo) * c + ci] = self.kernel.value[(src + ci) * f + fo];
                    }
                }
            }
        }
    }

    /// Turns `dy` into `dz = dy ⊙ act'(y)` in place, and accumulates `dW` and `db`:
    /// each chunk of `per` images into its thread's share, then the shares in chunk
    /// order into the parameters' gradients.
    fn parameter_grads(&mut self, x: &[f32], y: &[f32], dy: &mut [f32], n: usize, per: usize) {
        let g = self.geom;
        let f = g.filters;
        let act = self.activation;
        let partial_len = match &self.plan {
            Plan::Winograd(p) => p.transforms.n * p.transforms.n * g.channels * f,
            _ => g.patch() * f,
        };
        let method = match &self.plan {
            Plan::Winograd(p) => GradMethod::Winograd(&p.transforms),
            Plan::Direct(_) => GradMethod::Direct,
            _ => GradMethod::Im2col,
        };
        dy.par_chunks_mut(per * g.out_len())
            .zip(y.par_chunks(per * g.out_len()))
            .zip(x.par_chunks(per * g.in_len()))
            .zip(self.threads.par_iter_mut())
            .for_each(|(((dz, yc), xc), t)| {
                t.bias_grad.clear();
                t.bias_grad.resize(f, 0.0);
                epilogue::backward(act, yc, dz, f, &mut t.bias_grad);
                t.kernel_grad.clear();
                t.kernel_grad.resize(partial_len, 0.0);
                match method {
                    GradMethod::Winograd(tr) => {
                        let images = dz.len() / g.out_len();
                        winograd::kernel_grad(
                            g,
                            tr,
                            xc,
                            dz,
                            images,
                            &mut t.tiles,
                            &mut t.kernel_grad,
                        )
                    }
                    GradMethod::Im2col => {
                        im2col::kernel_grad(g, xc, dz, &mut t.patches, &mut t.kernel_grad)
                    }
                    GradMethod::Direct => {
                        let (patches, pixels) = (&mut t.patches, &mut t.pixels);
                        let sums = &t.bias_grad;
                        direct::kernel_grad(g, xc, dz, sums, patches, pixels, &mut t.kernel_grad)
                    }
                }
            });
        self.add_shares(n.div_ceil(per), partial_len);
    }

    /// Adds the first `chunks` threads' shares of the parameter gradients, in chunk
    /// order, to the parameters' gradients (`partial_len`: a kernel share's length).
    fn add_shares(&mut self, chunks: usize, partial_len: usize) {
        let (g, f) = (self.geom, self.geom.filters);
        let shares = &self.threads[..chunks];
        if self.use_bias {
            let bias = self.bias.grad_to_add();
            for t in shares {
                bias.iter_mut().zip(&t.bias_grad).for_each(|(a, v)| *a += v);
            }
        }
        // The kernel gradients are small; a spent one is zeroed, then added to.
        self.kernel.grad_to_add();
        match &mut self.plan {
            Plan::Winograd(p) => {
                // Σ dU over the chunks in chunk order, then back to the kernel once.
                p.kernel_grad.clear();
                p.kernel_grad.resize(partial_len, 0.0);
                for t in shares {
                    let sum = p.kernel_grad.iter_mut();
                    sum.zip(&t.kernel_grad).for_each(|(a, v)| *a += v);
                }
                let (c, grad) = (g.channels, &mut self.kernel.grad);
                p.transforms
                    .kernel_grad(&p.kernel_grad, c, f, grad, &mut p.partial);
            }
            _ => {
                for t in shares {
                    let grad = self.kernel.grad.iter_mut();
                    grad.zip(&t.kernel_grad).for_each(|(a, v)| *a += v);
                }
            }
        }
    }

    /// Writes `dx` from `dz`, by the plan's method.
    fn input_grad(&mut self, dz: &[f32], dx: &mut [f32], n: usize, per: usize) {
        let g = self.geom;
        let remake = match &self.plan {
            Plan::Im2colScatter | Plan::Direct(None) => false,
            Plan::Winograd(p) => p.flipped_stale,
            _ => true,
        };
        if remake {
            self.flip_kernel();
        }
        match &mut self.plan {
            Plan::Im2colScatter | Plan::Direct(None) => {
                let w = &self.kernel.value;
                dz.par_chunks(per * g.out_len())
                    .zip(dx.par_chunks_mut(per * g.in_len()))
                    .zip(self.threads.par_iter_mut())
                    .for_each(|((dzc, dxc), t)| {
                        im2col::input_grad_by_scatter(g, w, dzc, dxc, &mut t.patch_grads)
                    });
            }
            Plan::Im2colTransposed(t) | Plan::Direct(Some(t)) => {
                let (t, flipped) = (*t, &self.flipped);
                dz.par_chunks(per * g.out_len())
                    .zip(dx.par_chunks_mut(per * g.in_len()))
                    .zip(self.threads.par_iter_mut())
                    .for_each(|((dzc, dxc), b)| {
                        im2col::input_grad_by_convolution(t, flipped, dzc, dxc, &mut b.patches)
                    });
            }
            Plan::Winograd(p) => {
                let t = p.transposed;
                let (f, c) = (t.channels, t.filters);
                if remake {
                    p.dx_transforms
                        .kernel(&self.flipped, f, c, &mut p.flipped, &mut p.partial);
                    p.flipped_stale = false;
                }
                WinogradConv {
                    g: t,
                    tr: &p.dx_transforms,
                    u: &p.flipped,
                    out: Epilogue::NONE,
                }
                .run(dz, n, dx, &mut self.threads);
            }
        }
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
        // Training's buffers stay with the layer, so a step allocates nothing.
        let mut threads = std::mem::take(&mut self.threads);
        match &self.pooled {
            Some(pooled) => {
                let pooled = (&**pooled, direct::Winners::Record);
                self.pooled_forward(pooled, (x, y), &mut threads)
            }
            None => self.infer_with(x, y, &mut threads),
        }
        self.threads = threads;
    }

    fn infer(&self, x: &Tensor, y: &mut Tensor, scratch: &mut LayerScratch) {
        match &self.pooled {
            Some(pooled) => {
                let pooled = (&**pooled, direct::Winners::Skip);
                self.pooled_forward(pooled, (x, y), scratch.get())
            }
            None => self.infer_with(x, y, scratch.get()),
        }
    }

    fn fuse_next(&mut self, next: &dyn Layer) -> bool {
        self.fuse_pooling(next)
    }

    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        if self.pooled.is_some() {
            return self.pooled_backward(x, (y, dy), dx);
        }
        let n = x.batch();
        if n == 0 {
            return;
        }
        let per = thread_chunks(n, &mut self.threads);
        self.parameter_grads(x.data(), y.data(), dy.data_mut(), n, per);
        if let Some(dx) = dx {
            let g = self.geom;
            dx.set_shape(&[n, g.rows.input, g.cols.input, g.channels]);
            self.input_grad(dy.data(), dx.data_mut(), n, per);
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
        if let Plan::Winograd(p) = &mut self.plan {
            let u = p.kernel.get_mut().unwrap_or_else(PoisonError::into_inner);
            u.stale = true;
            p.flipped_stale = true;
        }
        f(&mut self.kernel);
        if self.use_bias {
            f(&mut self.bias);
        }
    }
}
