//! Matrix products, the bulk of every model's arithmetic, through the `gemm` crate
//! (Winograd's small per-point products have their own kernel, `small_gemm.rs`).
//!
//! Measured on this project's 2-core AVX2 machine (docs/PERFORMANCE.md), `gemm` with
//! rayon beat `matrixmultiply` on every shape scrawl uses: MLP forward and both
//! backward products, batch 32 and 200, and im2col convolution shapes.

use gemm::Parallelism;

thread_local! {
    static IN_GEMM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True while the current thread is inside a GEMM call. The `gemm` crate allocates its
/// packing buffers in every call; tests use this to check that everything *else* in a
/// training step allocates nothing.
pub fn in_gemm() -> bool {
    IN_GEMM.with(|f| f.get())
}

/// Below this many multiply-adds a product runs on one thread: waking the other costs
/// more than it saves.
const PARALLEL_MIN_MACS: usize = 1 << 17;

/// The shape of a product `c = op(a) · op(b)`: `op(a)` is `m × k`, `op(b)` is `k × n`,
/// `c` is `m × n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// Rows of `op(a)` and of `c`.
    pub m: usize,
    /// Columns of `op(a)`, rows of `op(b)`: the length of each sum.
    pub k: usize,
    /// Columns of `op(b)` and of `c`.
    pub n: usize,
}

/// A row-major operand of a product, as stored: `op(x)` is `x` itself, or `xᵀ` for
/// one stored the other way round (a `k × m` array used as `m × k`).
#[derive(Debug, Clone, Copy)]
pub struct Operand<'a> {
    pub(super) data: &'a [f32],
    pub(super) transposed: bool,
}

impl<'a> Operand<'a> {
    /// `data` used as stored.
    pub fn new(data: &'a [f32]) -> Self {
        Operand {
            data,
            transposed: false,
        }
    }

    /// `data` used transposed.
    pub fn transposed(data: &'a [f32]) -> Self {
        Operand {
            data,
            transposed: true,
        }
    }
}

/// What a product does with what `c` held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// `c = op(a) · op(b)`.
    Overwrite,
    /// `c += op(a) · op(b)`: gradients summed over a batch or over image tiles.
    Accumulate,
}

/// `c = op(a) · op(b)` (or `c +=`, see [`Store`]), all row-major. Large products use
/// every thread of the pool.
///
/// ```
/// use scrawl::kernels::{matmul, Dims, Operand, Store};
/// let (a, b) = ([1.0, 2.0], [3.0, 4.0]); // a 1x2 row, b stored as a 1x2 row: bᵀ is 2x1
/// let mut c = [0.0];
/// matmul(Dims { m: 1, k: 2, n: 1 }, Operand::new(&a), Operand::transposed(&b), &mut c, Store::Overwrite);
/// assert_eq!(c, [11.0]);
/// ```
pub fn matmul(dims: Dims, a: Operand, b: Operand, c: &mut [f32], store: Store) {
    let threads = rayon::current_num_threads();
    let parallel = threads > 1 && dims.m * dims.n * dims.k >= PARALLEL_MIN_MACS;
    matmul_with(dims, a, b, c, store, parallel);
}

/// As [`matmul`], on the calling thread only: for kernels that already split their
/// work over the pool (the convolutions run one such product per thread).
pub fn matmul_serial(dims: Dims, a: Operand, b: Operand, c: &mut [f32], store: Store) {
    matmul_with(dims, a, b, c, store, false);
}

/// Products with at most this many rows in `a` (inference on one image, a server's
/// request) skip `gemm`, which would pack all of `b` for one row.
const SMALL_M: usize = 4;

/// `c = a · b` for a few rows of `a`: each row of `b` is read once, in order, and
/// added to every row of `c` it contributes to (a zero in `a`, as in most of an MNIST
/// image or a ReLU's output, skips its row of `b`). Memory-bound, one thread.
#[allow(clippy::too_many_arguments)]
fn rows_times_matrix(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    transpose_a: bool,
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    let c = &mut c[..m * n];
    if !accumulate {
        c.fill(0.0);
    }
    for (p, b_row) in b.chunks_exact(n).take(k).enumerate() {
        for (i, c_row) in c.chunks_exact_mut(n).enumerate() {
            let x = if transpose_a {
                a[p * m + i]
            } else {
                a[i * k + p]
            };
            if x != 0.0 {
                for (cv, &bv) in c_row.iter_mut().zip(b_row) {
                    *cv = x.mul_add(bv, *cv);
                }
            }
        }
    }
}

fn matmul_with(dims: Dims, a: Operand, b: Operand, c: &mut [f32], store: Store, parallel: bool) {
    let Dims { m, k, n } = dims;
    let (transpose_a, transpose_b) = (a.transposed, b.transposed);
    let (a, b) = (a.data, b.data);
    let accumulate = store == Store::Accumulate;
    assert!(
        a.len() >= m * k,
        "matmul: a has {} values, needs {}",
        a.len(),
        m * k
    );
    assert!(
        b.len() >= k * n,
        "matmul: b has {} values, needs {}",
        b.len(),
        k * n
    );
    assert!(
        c.len() >= m * n,
        "matmul: c has {} values, needs {}",
        c.len(),
        m * n
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    if m <= SMALL_M && !transpose_b {
        rows_times_matrix(m, k, n, a, transpose_a, b, c, accumulate);
        return;
    }
    // (row stride, column stride) of each operand as stored.
    let (a_rs, a_cs) = if transpose_a {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    let (b_rs, b_cs) = if transpose_b {
        (1, k as isize)
    } else {
        (n as isize, 1)
    };
    let par = if parallel {
        Parallelism::Rayon(rayon::current_num_threads())
    } else {
        Parallelism::None
    };
    let was_in_gemm = IN_GEMM.with(|f| f.replace(true));
    // SAFETY: the asserts above guarantee every index the strides reach is in bounds,
    // and `c` does not alias `a` or `b` (it is a distinct &mut borrow).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            par,
        );
    }
    IN_GEMM.with(|f| f.set(was_in_gemm));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every layout, with and without accumulation, against a triple loop in f64; the
    /// row counts cross the small-product path's boundary.
    #[test]
    fn matmul_matches_a_naive_product() {
        // Some exact zeros, as in images and ReLU outputs.
        let mut next = crate::kernels::test_values(1, 1);
        for m in [1, 2, 3, 4, 5, 9] {
            for (k, n) in [(1, 1), (7, 13), (33, 20), (784, 64)] {
                for transpose_a in [false, true] {
                    for transpose_b in [false, true] {
                        for accumulate in [false, true] {
                            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
                            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
                            let c0: Vec<f32> = (0..m * n).map(|_| next()).collect();
                            let mut c = c0.clone();
                            let operand = |x, t| {
                                if t {
                                    Operand::transposed(x)
                                } else {
                                    Operand::new(x)
                                }
                            };
                            matmul(
                                Dims { m, k, n },
                                operand(&a, transpose_a),
                                operand(&b, transpose_b),
                                &mut c,
                                if accumulate {
                                    Store::Accumulate
                                } else {
                                    Store::Overwrite
                                },
                            );
                            for i in 0..m {
                                for j in 0..n {
                                    let mut want = if accumulate {
                                        c0[i * n + j] as f64
                                    } else {
                                        0.0
                                    };
                                    for p in 0..k {
                                        let x = if transpose_a {
                                            a[p * m + i]
                                        } else {
                                            a[i * k + p]
                                        };
                                        let y = if transpose_b {
                                            b[j * k + p]
                                        } else {
                                            b[p * n + j]
                                        };
                                        want += x as f64 * y as f64;
                                    }
                                    let got = c[i * n + j] as f64;
                                    assert!(
                                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                                        "m={m} k={k} n={n} ta={transpose_a} tb={transpose_b} acc={accumulate}: c[{i},{j}] = {got}, want {want}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
