//! Matrix products, the bulk of every model's arithmetic, through the `gemm` crate.
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

/// `c = op(a) · op(b)` (or `c += …` when `accumulate`), all row-major, where
/// `op(a)` is `m × k` and `op(b)` is `k × n`. `a` is stored `m × k`, or `k × m` when
/// `transpose_a`; `b` is stored `k × n`, or `n × k` when `transpose_b`. Large products
/// use every thread of the pool.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    transpose_a: bool,
    b: &[f32],
    transpose_b: bool,
    c: &mut [f32],
    accumulate: bool,
) {
    let threads = rayon::current_num_threads();
    let parallel = threads > 1 && m * n * k >= PARALLEL_MIN_MACS;
    matmul_with(
        m,
        k,
        n,
        a,
        transpose_a,
        b,
        transpose_b,
        c,
        accumulate,
        parallel,
    );
}

/// As [`matmul`], on the calling thread only: for kernels that already split their
/// work over the pool (the convolutions run one such product per thread).
#[allow(clippy::too_many_arguments)]
pub fn matmul_serial(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    transpose_a: bool,
    b: &[f32],
    transpose_b: bool,
    c: &mut [f32],
    accumulate: bool,
) {
    matmul_with(
        m,
        k,
        n,
        a,
        transpose_a,
        b,
        transpose_b,
        c,
        accumulate,
        false,
    );
}

#[allow(clippy::too_many_arguments)]
fn matmul_with(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    transpose_a: bool,
    b: &[f32],
    transpose_b: bool,
    c: &mut [f32],
    accumulate: bool,
    parallel: bool,
) {
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
