//! A convolution that pools its own output: a `Conv2D` on the direct path (one
//! input channel), with relu or no activation, followed by `MaxPooling2D` over
//! windows that tile its output (every MNIST network's first block):
//!
//!   forward   y = maxpool(act(conv(x) + b)),  w = the cell of each window that won
//!   backward  dz = route(dy ⊙ act'(y), w)     then db and dW from dz, as the direct path
//!
//! As two layers, the convolution's output (24×24×24 values an image in `speedrun`,
//! 55 KB; 14 KB pooled) is written, read by the pooling and read again by its
//! backward; its gradient is written, gated by relu, summed for the bias and read by
//! the kernel gradient: six passes over a chunk larger than L2. Here each image's
//! map and its gradient live in the thread's buffer, in cache, from the moment they
//! are made to the moment they are used.
//!
//! Relu and max pooling commute, and at the winning cell relu's gradient is that of
//! the pooled output, so the gate applies to `dy` before routing. Every value is
//! computed as the two layers compute it, and every sum in the same order, so the
//! weights are bit-identical to the unfused layers'.

use rayon::prelude::*;

use super::direct::{self, Winners};
use super::im2col::grow;
use super::{Conv2D, Plan, ThreadBuffers, epilogue, thread_chunks};
use crate::activations::Activation;
use crate::layers::pooling::{PoolKind, Pooling2D, route_to_winners};
use crate::layers::{Layer, LayerConfig};
use crate::tensor::Tensor;

/// The max pooling a convolution runs within its own pass.
pub(super) struct PooledOutput {
    /// The pooling layer's geometry (over the convolution's output).
    pool: Pooling2D,
    /// Its output shape, `[h, w, filters]`.
    shape: [usize; 3],
    /// The whole batch's `dz`, kept only when backward must compute `dx` from it.
    dz: Vec<f32>,
}

/// One thread's share of a backward batch: the pooled gradient and output, and the
/// input images.
struct Chunk<'a> {
    dy: &'a mut [f32],
    y: &'a [f32],
    x: &'a [f32],
}

impl Conv2D {
    /// Takes `next` into this layer's pass if it is a max pooling this layer can run
    /// ([`PooledOutput`]); returns whether it did.
    pub(super) fn fuse_pooling(&mut self, next: &dyn Layer) -> bool {
        let relu_or_none = matches!(self.activation, Activation::Relu | Activation::Linear);
        if !matches!(self.plan, Plan::Direct(_)) || !relu_or_none || self.pooled.is_some() {
            return false;
        }
        let LayerConfig::MaxPooling2D {
            pool_size,
            strides,
            padding,
        } = next.config()
        else {
            return false;
        };
        let strides = strides.unwrap_or(pool_size);
        let (name, kind) = (next.name().to_string(), PoolKind::Max);
        let Some(pool) = Pooling2D::new(name, kind, self.out_shape, pool_size, strides, padding)
        else {
            return false;
        };
        let shape: [usize; 3] = match pool.output_shape().try_into() {
            Ok(shape) if pool.fusable() && next.output_shape() == shape => shape,
            _ => return false,
        };
        self.pooled = Some(Box::new(PooledOutput {
            pool,
            shape,
            dz: Vec::new(),
        }));
        true
    }

    /// Forward and inference when the layer pools its output: `y` gets the pooled
    /// output; with [`Winners::Record`], each thread's buffers the winners of its
    /// chunk's windows.
    pub(super) fn pooled_forward(
        &self,
        (pooled, winners): (&PooledOutput, Winners),
        (x, y): (&Tensor, &mut Tensor),
        threads: &mut Vec<ThreadBuffers>,
    ) {
        let n = x.batch();
        let [h, w, f] = pooled.shape;
        y.set_shape(&[n, h, w, f]);
        if n > 0 {
            let (g, kernel) = (self.geom, &self.kernel.value[..]);
            let (pool, y) = ((&pooled.pool, winners), y.data_mut());
            direct::forward_pooled(
                g,
                (kernel, self.epilogue()),
                pool,
                (x.data(), n),
                y,
                threads,
            );
        }
    }

    /// Backward when the layer pools its output: `y` and `dy` are the pooling's
    /// output and its gradient (gated by relu in place). Each image's `dz` is routed
    /// into the thread's buffer, summed for the bias and added to the kernel
    /// gradient there; the shares are summed as [`Conv2D::parameter_grads`] does.
    pub(super) fn pooled_backward(
        &mut self,
        x: &Tensor,
        (y, dy): (&Tensor, &mut Tensor),
        dx: Option<&mut Tensor>,
    ) {
        let n = x.batch();
        let Some(mut pooled) = self.pooled.take() else {
            return;
        };
        let (g, relu) = (self.geom, self.activation == Activation::Relu);
        let (il, ol, pl, f) = (g.in_len(), g.out_len(), pooled.pool.out_len(), g.filters);
        let per = thread_chunks(n, &mut self.threads);
        let PooledOutput { pool, dz, .. } = &mut *pooled;
        let pool = &*pool;
        let partial_len = g.patch() * f;
        let chunks = dy.data_mut()[..n * pl]
            .par_chunks_mut(per * pl)
            .zip(y.data()[..n * pl].par_chunks(per * pl))
            .zip(x.data()[..n * il].par_chunks(per * il))
            .map(|((dy, y), x)| Chunk { dy, y, x })
            .zip(self.threads.par_iter_mut());
        let chunk = |(c, t): (Chunk, &mut ThreadBuffers), mut kept: Option<&mut [f32]>| {
            let Chunk {
                dy: dyc,
                y: yc,
                x: xc,
            } = c;
            let ThreadBuffers {
                patches,
                kernel_grad,
                bias_grad,
                pixels,
                map,
                winners,
                ..
            } = t;
            bias_grad.clear();
            bias_grad.resize(f, 0.0);
            kernel_grad.clear();
            kernel_grad.resize(partial_len, 0.0);
            grow(map, ol);
            let grad = direct::ChunkKernelGrad::new(&g, xc);
            for (i, xi) in xc.chunks_exact(il).enumerate() {
                let (dyi, yi) = (&mut dyc[i * pl..][..pl], &yc[i * pl..][..pl]);
                if relu {
                    epilogue::relu_gate(yi, dyi);
                }
                let dz = &mut map[..ol];
                route_to_winners(pool, &winners[i * pl..][..pl], dyi, dz);
                epilogue::bias_sums(dz, f, bias_grad);
                grad.add_image(&g, (xi, dz), (&mut *patches, &mut *pixels), kernel_grad);
                if let Some(kept) = kept.as_deref_mut() {
                    kept[i * ol..][..ol].copy_from_slice(dz);
                }
            }
            grad.finish(bias_grad, kernel_grad);
        };
        if dx.is_some() {
            dz.resize(n * ol, 0.0);
            let kept = dz[..n * ol].par_chunks_mut(per * ol);
            chunks.zip(kept).for_each(|(c, k)| chunk(c, Some(k)));
        } else {
            chunks.for_each(|c| chunk(c, None));
        }
        self.add_shares(n.div_ceil(per), partial_len);
        if let Some(dx) = dx {
            dx.set_shape(&[n, g.rows.input, g.cols.input, g.channels]);
            self.input_grad(&pooled.dz[..n * ol], dx.data_mut(), n, per);
        }
        self.pooled = Some(pooled);
    }
}
