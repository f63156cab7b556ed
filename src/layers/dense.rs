//! `Dense`: `y = act(x · W + b)` with `x` of shape `[n, in]`, `W` of `[in, units]`.
//!
//! backward, with `dz = dy ⊙ act'(y)`:
//!   dW += xᵀ · dz      db += Σ_rows dz      dx = dz · Wᵀ
//!
//! When `x` is mostly zeros (MNIST's pixels entering the first layer: four fifths are
//! 0), `x · W` (in training as in inference) and `xᵀ · dz` skip them
//! (`kernels::sparse`); a sample of the batch's rows decides, so the same data always
//! takes the same path. On a small batch `dz · Wᵀ` reads `W` where it lies
//! (`kernels::small_gemm`): the `gemm` crate would copy ("pack") all of `W` on every
//! call, a fifth of `mlp-512-512`'s step at batch 32.
//!
//! On such a small training batch every product cuts `W` by its input rows between
//! the threads (`kernels::owned`), as the optimizer's update does: each thread owns
//! rows of `W`, sums their terms of `x · W` into its own share (the shares are then
//! added), writes their rows of `dW`, and computes the columns of `dx` they give. A
//! weight's row, its gradient and its optimizer state stay in one core's cache.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{Layer, LayerConfig, LayerScratch, Param};
use crate::activations::Activation;
use crate::kernels::owned::{OwnedRows, Owner, for_each_owner, owners};
use crate::kernels::small_gemm::small_matmul_rows;
use crate::kernels::sparse::{
    SparseRows, sparse_matmul_share, sparse_transposed_matmul, sparse_transposed_matmul_rows,
};
use crate::kernels::{
    Dims, Operand, Store, add_column_sums, for_each_row, looks_sparse, matmul,
    small_matmul_transposed_b, sparse_matmul,
};
use crate::tensor::Tensor;

/// Inference batches up to this size use the zero-skipping product at any density.
const SMALL_BATCH: usize = 4;

/// Training batches (or chunks) up to this size compute `dx` without packing `W`
/// (`small_matmul_transposed_b`). `cargo bench --bench dense_dx` on the Zen 4, `W`
/// 800 × 256 (`speedrun`'s): 129-148 GFLOP/s against the `gemm` crate's 85-113 from
/// 75 to 128 rows; level near 200, behind at 256.
const SMALL_DX_BATCH: usize = 128;

/// Training batches (or chunks) up to this size run every product on the rows of `W`
/// each thread owns (`kernels::owned`), when `W` holds at least [`OWNED_MIN_WEIGHTS`];
/// up to [`OWNED_MAX_SPARSE_BATCH`] when the input is mostly zeros (pixels), whose
/// zero-skipping products cut by rows as cheaply at any such batch. Larger dense
/// batches go to the `gemm` crate.
const OWNED_MAX_BATCH: usize = 64;

/// See [`OWNED_MAX_BATCH`]: `mlp-512`'s batch of 200 on its first layer.
const OWNED_MAX_SPARSE_BATCH: usize = 256;

/// Kernels smaller than this (an output layer's 512 × 10) gain nothing from staying in
/// one core's cache, and their narrow rows suit the `gemm` crate better.
const OWNED_MIN_WEIGHTS: usize = 1 << 15;

/// A fully connected layer with a fused bias and activation.
pub struct Dense {
    name: String,
    inputs: usize,
    units: usize,
    activation: Activation,
    use_bias: bool,
    /// `dy` arrives as the gradient w.r.t. the logits (softmax fused with the loss).
    softmax_fused: bool,
    kernel: Param,
    bias: Param,
    out_shape: [usize; 1],
    /// The nonzeros of a sparse input batch, for the kernel gradient.
    sparse_rows: SparseRows,
    /// `dzᵀ` and `dxᵀ` of a small batch's `dx`.
    transposes: Vec<f32>,
    /// Each thread's share of a small training batch's `x · W`, and (one thread
    /// each) its columns of `x`.
    shares: Vec<f32>,
}

impl Dense {
    /// A Dense layer with Keras's initialization: Glorot-uniform kernel, zero bias.
    pub fn new(
        name: String,
        inputs: usize,
        units: usize,
        activation: Activation,
        use_bias: bool,
        rng: &mut ChaCha8Rng,
    ) -> Self {
        let limit = (6.0 / (inputs + units) as f64).sqrt() as f32;
        let w = (0..inputs * units)
            .map(|_| rng.random_range(-limit..limit))
            .collect();
        let bias_len = if use_bias { units } else { 0 };
        Dense {
            name,
            inputs,
            units,
            activation,
            use_bias,
            softmax_fused: false,
            kernel: Param::kernel(vec![inputs, units], w),
            bias: Param::new("bias", vec![bias_len], vec![0.0; bias_len]),
            out_shape: [units],
            sparse_rows: SparseRows::default(),
            transposes: Vec::new(),
            shares: Vec::new(),
        }
    }

    /// `y = act(x · W + b)`; inference may take the sparse product.
    fn compute(&self, x: &Tensor, y: &mut Tensor, training: bool) {
        let n = x.batch();
        y.set_shape(&[n, self.units]);
        // Pixels (mostly zero) skip the dense product: twice as fast on MNIST, in
        // training too (`mlp-512` at batch 200: 1.07 -> 0.67-0.78 s an epoch on a
        // 2-core Zen 3 EPYC, docs/PERFORMANCE.md). In inference a few rows (one image)
        // take that path whatever their zeros, as it keeps the sums in registers and
        // splits one row over the threads.
        if (!training && n <= SMALL_BATCH) || looks_sparse(n, self.inputs, x.data()) {
            sparse_matmul(
                n,
                self.inputs,
                self.units,
                x.data(),
                &self.kernel.value,
                y.data_mut(),
            );
        } else {
            matmul(
                Dims {
                    m: n,
                    k: self.inputs,
                    n: self.units,
                },
                Operand::new(x.data()),
                Operand::new(&self.kernel.value),
                y.data_mut(),
                Store::Overwrite,
            );
        }
        let (bias, act, use_bias) = (&self.bias.value, self.activation, self.use_bias);
        for_each_row(y.data_mut(), self.units, |_, row| {
            if use_bias {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
            act.forward_row(row);
        });
    }

    /// Whether a training batch (or chunk) of `n` runs on the rows each thread owns;
    /// `sparse`: the batch looks mostly zeros (`looks_sparse`).
    fn owned(&self, n: usize, sparse: bool) -> bool {
        self.inputs * self.units >= OWNED_MIN_WEIGHTS
            && (n <= OWNED_MAX_BATCH || n <= OWNED_MAX_SPARSE_BATCH && sparse)
    }

    /// Training's `y = act(x · W + b)` on a small batch: each thread sums the terms of
    /// the rows of `W` it owns (`kernels::owned`: the rows it also takes the gradient
    /// and the update of), into its own share; the shares are added in thread order.
    /// The sums' order depends on the thread count, so the bits do too (not on which
    /// thread is fastest).
    fn forward_owned(&mut self, x: &Tensor, y: &mut Tensor, sparse: bool) {
        let (n, k, u) = (x.batch(), self.inputs, self.units);
        y.set_shape(&[n, u]);
        let parts = owners();
        // Per thread: its share of `y`, then room for its columns of `x`.
        let widest = (0..parts)
            .map(|part| Owner { part, parts }.rows(k).len())
            .max();
        let slot = n * u + n * widest.unwrap_or(0);
        if self.shares.len() < parts * slot {
            self.shares.resize(parts * slot, 0.0);
        }
        let (w, x) = (&self.kernel.value, x.data());
        let shares = OwnedRows::slots(&mut self.shares, parts, slot);
        for_each_owner(|o| {
            let rows = o.rows(k);
            let (share, cols) = shares.take(o).split_at_mut(n * u);
            if sparse {
                sparse_matmul_share((n, k, u), (x, w), share, rows);
            } else {
                // `x`'s columns of this thread's rows of `W`, gathered to be read in order.
                let width = rows.len();
                let cols = &mut cols[..n * width];
                for (to, from) in cols.chunks_exact_mut(width.max(1)).zip(x.chunks_exact(k)) {
                    to.copy_from_slice(&from[rows.clone()]);
                }
                let dims = Dims {
                    m: n,
                    k: width,
                    n: u,
                };
                let w_rows = &w[rows.start * u..rows.end * u];
                small_matmul_rows(
                    dims,
                    (Operand::new(cols), w_rows),
                    (share, Store::Overwrite),
                    0..n,
                );
            }
        });
        let (bias, act, use_bias) = (&self.bias.value, self.activation, self.use_bias);
        let shares = &self.shares;
        for_each_row(y.data_mut(), u, |i, row| {
            row.copy_from_slice(&shares[i * u..(i + 1) * u]);
            for t in 1..parts {
                let share = &shares[t * slot + i * u..][..u];
                row.iter_mut().zip(share).for_each(|(v, s)| *v += s);
            }
            if use_bias {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
            act.forward_row(row);
        });
    }
}

impl Layer for Dense {
    fn name(&self) -> &str {
        &self.name
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::Dense {
            units: self.units,
            activation: self.activation,
            use_bias: self.use_bias,
        }
    }

    fn output_shape(&self) -> &[usize] {
        &self.out_shape
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        let n = x.batch();
        if training && n <= OWNED_MAX_SPARSE_BATCH {
            // Sampled once here for both the choice and the product.
            let sparse = looks_sparse(n, self.inputs, x.data());
            if self.owned(n, sparse) {
                return self.forward_owned(x, y, sparse);
            }
        }
        self.compute(x, y, training);
    }

    fn infer(&self, x: &Tensor, y: &mut Tensor, _scratch: &mut LayerScratch) {
        self.compute(x, y, false);
    }

    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let n = x.batch();
        let act = self.activation;
        if !(self.softmax_fused && act == Activation::Softmax) && act != Activation::Linear {
            let units = self.units;
            for_each_row(dy.data_mut(), units, |i, d| {
                act.backward_row(&y.data()[i * units..(i + 1) * units], d)
            });
        }
        let dz = dy.data();
        let store = self.kernel.grad_store();
        let sparse = looks_sparse(n, self.inputs, x.data());
        if self.owned(n, sparse) {
            let (k, u) = (self.inputs, self.units);
            let grad = OwnedRows::new(&mut self.kernel.grad, k, u);
            for_each_owner(|o| {
                let (rows, out) = (o.rows(k), grad.take(o));
                if sparse {
                    sparse_transposed_matmul_rows((n, k, u), (x.data(), dz), (out, store), rows);
                } else {
                    let dims = Dims { m: k, k: n, n: u };
                    let xt = Operand::transposed(x.data());
                    small_matmul_rows(dims, (xt, dz), (out, store), rows);
                }
            });
        } else if sparse {
            sparse_transposed_matmul(
                (n, self.inputs, self.units),
                x.data(),
                dz,
                (&mut self.kernel.grad, store),
                &mut self.sparse_rows,
            );
        } else {
            matmul(
                Dims {
                    m: self.inputs,
                    k: n,
                    n: self.units,
                },
                Operand::transposed(x.data()),
                Operand::new(dz),
                &mut self.kernel.grad,
                store,
            );
        }
        if self.use_bias {
            add_column_sums(self.bias.grad_to_add(), dz);
        }
        if let Some(dx) = dx {
            dx.set_shape(x.shape());
            let dims = Dims {
                m: n,
                k: self.units,
                n: self.inputs,
            };
            let w = &self.kernel.value;
            if n <= SMALL_DX_BATCH {
                small_matmul_transposed_b(dims, dz, w, dx.data_mut(), &mut self.transposes);
            } else {
                let wt = Operand::transposed(w);
                matmul(dims, Operand::new(dz), wt, dx.data_mut(), Store::Overwrite);
            }
        }
    }

    fn forward_flops(&self) -> usize {
        2 * self.inputs * self.units
    }

    fn params(&self) -> Vec<&Param> {
        if self.use_bias {
            vec![&self.kernel, &self.bias]
        } else {
            vec![&self.kernel]
        }
    }

    fn for_each_param_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.kernel);
        if self.use_bias {
            f(&mut self.bias);
        }
    }

    fn fuse_softmax_with_loss(&mut self) -> bool {
        self.softmax_fused = self.activation == Activation::Softmax;
        self.softmax_fused
    }
}
