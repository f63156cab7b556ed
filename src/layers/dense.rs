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

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{Layer, LayerConfig, LayerScratch, Param};
use crate::activations::Activation;
use crate::kernels::sparse::{SparseRows, sparse_transposed_matmul};
use crate::kernels::{
    Dims, Operand, Store, add_column_sums, for_each_row, looks_sparse, matmul,
    small_matmul_transposed_b, sparse_matmul,
};
use crate::tensor::Tensor;

/// Inference batches up to this size use the zero-skipping product at any density.
const SMALL_BATCH: usize = 4;

/// Training batches (or chunks) up to this size compute `dx` without packing `W`.
const SMALL_DX_BATCH: usize = 64;

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
        if looks_sparse(n, self.inputs, x.data()) {
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
