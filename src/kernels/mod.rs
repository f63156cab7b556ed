//! Compute kernels: the GEMM and the small element-wise helpers around it.
//!
//! Element-wise work is split over rows in fixed-size chunks, so the result never
//! depends on which thread did what: training is bit-for-bit reproducible for a given
//! seed and thread count.

pub mod gemm;

use rayon::prelude::*;

pub use gemm::{matmul, matmul_serial};

/// Below this many values a row loop runs on the calling thread.
const PARALLEL_MIN_VALUES: usize = 1 << 15;

/// Runs `f(row_index, row)` over every `row_len`-long row of `data`, in parallel when
/// the work is large enough.
pub fn for_each_row(data: &mut [f32], row_len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if row_len == 0 {
        return;
    }
    if data.len() < PARALLEL_MIN_VALUES || rayon::current_num_threads() == 1 {
        for (i, row) in data.chunks_exact_mut(row_len).enumerate() {
            f(i, row);
        }
    } else {
        data.par_chunks_exact_mut(row_len)
            .enumerate()
            .for_each(|(i, row)| f(i, row));
    }
}

/// Runs `f(offset, chunk)` over `data` cut into equal chunks, in parallel when large.
pub fn for_each_chunk(data: &mut [f32], f: impl Fn(usize, &mut [f32]) + Sync) {
    const CHUNK: usize = 1 << 14;
    if data.len() < PARALLEL_MIN_VALUES || rayon::current_num_threads() == 1 {
        f(0, data);
    } else {
        data.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, c)| f(i * CHUNK, c));
    }
}

/// `acc[j] += Σ_i m[i][j]`: column sums of a row-major matrix with `acc.len()` columns
/// (the bias gradient). Rows are added in order, so the result is deterministic.
pub fn add_column_sums(acc: &mut [f32], m: &[f32]) {
    for row in m.chunks_exact(acc.len()) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
}

/// Index of the largest value (the first one on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Runs `f` on a worker of the thread pool and returns its result. A training loop
/// run this way hands each parallel section to the other workers directly, instead
/// of waking the calling thread after every one (which costs a context switch per
/// GEMM: a large share of a small-batch step).
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::join(f, || ()).0
    }
}
