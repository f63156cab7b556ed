//! `c = a · b` when most of `a` is zeros: MNIST images entering the first Dense layer
//! (four fifths of their pixels are 0). A dense GEMM multiplies every zero; this
//! kernel lists each row's nonzeros once and adds only their rows of `b`.
//!
//! Each row's output is built one column tile at a time, the tile's accumulators in
//! vector registers while the row's nonzeros pass, and written once. A task's rows
//! share each tile of `b` (`k × 64` floats: 200 KiB for 784 inputs), so it is read
//! from L2 rather than memory. Every row is summed in the same order (its nonzeros
//! in column order) on any number of threads: the result is deterministic.

use std::cell::RefCell;

use rayon::prelude::*;

use super::isa::{Vector, dispatch};

/// Columns per tile: 64 accumulators, eight AVX registers.
const TILE: usize = 64;

/// Rows per parallel task: enough to reuse each tile of `b` many times.
const ROWS_PER_TASK: usize = 32;

/// Share of nonzeros below which the sparse kernel is used. Measured on the 2-core
/// AVX2 machine (`cargo bench --bench gemm`, docs/PERFORMANCE.md): each nonzero costs
/// a load of its tile row from L2 per eight multiply-adds, so the kernel's rate is
/// about a third of the GEMM's; they break even near density 0.3 on random inputs.
/// MNIST's pixels (density 0.19, clustered in the middle) run twice as fast as the GEMM.
pub const MAX_DENSITY: f64 = 0.25;

/// Rows sampled by [`looks_sparse`]: the decision costs a glance, not a pass.
const SAMPLE_ROWS: usize = 8;

thread_local! {

    /// Each worker's list of (column, value) nonzeros for its task's rows; it grows
    /// to the largest task once and is reused.
    static NONZEROS: RefCell<Vec<(u32, f32)>> = const { RefCell::new(Vec::new()) };
}

/// Whether the first rows of `a` (`m × k`, row-major) are sparse enough for
/// [`sparse_matmul`] to beat the dense GEMM. A batch whose later rows are dense still
/// gets the right answer, only more slowly.
pub fn looks_sparse(m: usize, k: usize, a: &[f32]) -> bool {
    let rows = m.min(SAMPLE_ROWS);
    if rows == 0 || k == 0 || k > u32::MAX as usize {
        return false;
    }
    let sample = &a[..rows * k];
    let nonzeros = sample.iter().filter(|&&v| v != 0.0).count();
    (nonzeros as f64) < MAX_DENSITY * sample.len() as f64
}

/// `c = a · b` with `a` `m × k` and `b` `k × n`, all row-major, skipping the zeros of
/// `a`. Tasks of 32 rows run on every thread of the pool; a single
/// row with enough work (one image at inference) is cut by columns instead.
pub fn sparse_matmul(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    assert!(k <= u32::MAX as usize, "sparse_matmul: k = {k} too large");
    if m == 0 || n == 0 {
        return;
    }
    let threads = rayon::current_num_threads();
    let c = &mut c[..m * n];
    if m == 1 && threads > 1 && n >= 2 * TILE && k * n >= PARALLEL_MIN_MACS {
        // Whole tiles per thread; each output column is summed as in the serial path.
        let per = n.div_ceil(threads).div_ceil(TILE) * TILE;
        c.par_chunks_mut(per).enumerate().for_each(|(t, out)| {
            let width = out.len();
            block(&a[..k], k, b, n, t * per, width, out);
        });
    } else if m <= ROWS_PER_TASK || threads == 1 {
        for (t, out) in c.chunks_mut(ROWS_PER_TASK * n).enumerate() {
            block(&a[t * ROWS_PER_TASK * k..], k, b, n, 0, n, out);
        }
    } else {
        c.par_chunks_mut(ROWS_PER_TASK * n)
            .enumerate()
            .for_each(|(t, out)| block(&a[t * ROWS_PER_TASK * k..], k, b, n, 0, n, out));
    }
}

/// Below this many multiply-adds (counting zeros) a single row stays on one thread.
const PARALLEL_MIN_MACS: usize = 1 << 16;

/// Columns `col0..col0 + width` of the rows of `c` held in `out` (row stride `width`,
/// at most [`ROWS_PER_TASK`] rows), from the same rows of `a` (starting at `a_rows`).
fn block(
    a_rows: &[f32],
    k: usize,
    b: &[f32],
    n: usize,
    col0: usize,
    width: usize,
    out: &mut [f32],
) {
    let rows = out.len() / width;
    NONZEROS.with(|cell| {
        let mut nz = cell.borrow_mut();
        let mut starts = [0usize; ROWS_PER_TASK + 1];
        list_nonzeros(&a_rows[..rows * k], k, &mut nz, &mut starts[..=rows]);
        let task = Task {
            nz: &nz,
            starts: &starts[..=rows],
            b,
            n,
            col0,
            width,
        };
        let end = col0 + width;
        // Whole register tiles first, then 8-wide vectors, then single columns.
        let col = task.columns::<TILE>(col0, end, out);
        let col = task.columns::<8>(col, end, out);
        task.columns::<1>(col, end, out);
    });
}

/// One task's rows, their nonzeros listed, and the columns `col0..col0 + width` of
/// `c` they fill.
struct Task<'a> {
    /// Every row's (column, value) nonzeros, row after row.
    nz: &'a [(u32, f32)],
    /// Where each row's nonzeros begin in `nz`, and (last) where they end.
    starts: &'a [usize],
    b: &'a [f32],
    n: usize,
    col0: usize,
    width: usize,
}

impl Task<'_> {
    /// Fills columns from `col` in whole tiles of `W` for every row, and returns the
    /// first column left (fewer than `W` before `end`).
    fn columns<const W: usize>(&self, mut col: usize, end: usize, out: &mut [f32]) -> usize {
        while col + W <= end {
            for (r, se) in self.starts.windows(2).enumerate() {
                let row_out = &mut out[r * self.width + col - self.col0..];
                tile::<W>(&self.nz[se[0]..se[1]], self.b, self.n, col, row_out);
            }
            col += W;
        }
        col
    }
}

/// Fills `nz` with each row's (column, value) nonzeros, row after row, and
/// `starts[r]` with where row `r`'s begin (`starts[rows]` = the total). Branch-free:
/// every value is written, and the end moves on only past a nonzero.
fn list_nonzeros(a_block: &[f32], k: usize, nz: &mut Vec<(u32, f32)>, starts: &mut [usize]) {
    let rows = starts.len() - 1;
    if nz.len() < rows * k + 1 {
        nz.resize(rows * k + 1, (0, 0.0));
    }
    let mut len = 0;
    for (r, row) in a_block.chunks_exact(k).enumerate() {
        starts[r] = len;
        for (p, &v) in row.iter().enumerate() {
            nz[len] = (p as u32, v);
            len += (v != 0.0) as usize;
        }
    }
    starts[rows] = len;
}

/// The nonzeros of a batch, listed by column of `a` (which rows have a nonzero in
/// column `p`, and its value), kept between batches so that a training step
/// allocates nothing once the largest batch has run.
#[derive(Default, Debug)]
pub struct SparseRows {
    /// Row `r`'s (column, value) nonzeros at `nz[r·k..r·k + lens[r]]`.
    nz: Vec<(u32, f32)>,
    lens: Vec<usize>,
    /// Column after column, each column's (row, value) nonzeros, rows in order.
    entries: Vec<(u32, f32)>,
    /// Where each column's begin in `entries`, and (last) where they end.
    at: Vec<usize>,
    /// Each column's next free slot while `entries` is filled.
    cursor: Vec<usize>,
}

impl SparseRows {
    /// Lists the nonzeros of `a` (`m × k`) by column: each row's list (rows in
    /// parallel, row `r`'s at `nz[r·k..]`, its length in `lens[r]`), then a counting
    /// sort of them.
    fn index_columns(&mut self, m: usize, k: usize, a: &[f32]) {
        if self.nz.len() < m * k {
            self.nz.resize(m * k, (0, 0.0));
        }
        self.lens.resize(m, 0);
        self.nz[..m * k]
            .par_chunks_mut(k)
            .zip(self.lens.par_iter_mut())
            .zip(a[..m * k].par_chunks(k))
            .with_min_len(16)
            .for_each(|((list, len), row)| {
                let mut n = 0;
                for (p, &v) in row.iter().enumerate() {
                    list[n] = (p as u32, v);
                    n += (v != 0.0) as usize;
                }
                // The last slot may hold a zero written past the end: not counted.
                *len = n;
            });
        let rows = || (0..m).map(|r| &self.nz[r * k..r * k + self.lens[r]]);
        self.at.clear();
        self.at.resize(k + 1, 0);
        for row in rows() {
            for &(p, _) in row {
                self.at[p as usize + 1] += 1;
            }
        }
        for p in 0..k {
            self.at[p + 1] += self.at[p];
        }
        let total = self.at[k];
        self.cursor.clear();
        self.cursor.extend_from_slice(&self.at[..k]);
        if self.entries.len() < total {
            self.entries.resize(total, (0, 0.0));
        }
        for (i, row) in (0..m)
            .map(|r| &self.nz[r * k..r * k + self.lens[r]])
            .enumerate()
        {
            for &(p, v) in row {
                let slot = &mut self.cursor[p as usize];
                self.entries[*slot] = (i as u32, v);
                *slot += 1;
            }
        }
    }
}

/// `c += aᵀ · b` with `a` `m × k` mostly zeros, `b` `m × n` and `c` `k × n`, all
/// row-major: a Dense layer's kernel gradient `dW += xᵀ · dz` on sparse inputs. Row
/// `p` of `c` gains `Σ v · b[i]` over the nonzeros `a[i][p] = v`; the zeros cost
/// nothing. Each row of `c` is built a tile of columns at a time, its sums in vector
/// registers while the column's nonzeros pass.
///
/// The rows of `c` are cut into blocks, one task each, and every value of `c` sums its
/// terms in row order of `a`: the same on any number of threads.
pub fn sparse_transposed_matmul_add(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    rows: &mut SparseRows,
) {
    assert!(a.len() >= m * k && b.len() >= m * n && c.len() >= k * n);
    assert!(
        k <= u32::MAX as usize && m <= u32::MAX as usize,
        "sparse_transposed_matmul_add: {m} × {k} too large"
    );
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    rows.index_columns(m, k, a);
    // Blocks of about 16 KiB of `c`, whole rows: many more than threads, so the
    // uneven spread of nonzeros (MNIST's are in the middle pixels) still balances.
    let per = (4096 / n).clamp(1, k);
    let (entries, at) = (&rows.entries[..], &rows.at[..]);
    c[..k * n]
        .par_chunks_mut(per * n)
        .enumerate()
        .for_each(|(t, block)| {
            for (r, out) in block.chunks_exact_mut(n).enumerate() {
                let p = t * per + r;
                let column = &entries[at[p]..at[p + 1]];
                if !column.is_empty() {
                    add_column(column, b, n, out);
                }
            }
        });
}

dispatch!(
    /// `out[j] += Σ v · b[i][j]` over the (row `i`, value `v`) list.
    fn add_column(column: &[(u32, f32)], b: &[f32], n: usize, out: &mut [f32]) => add_column_body
);

#[inline(always)]
fn add_column_body<V: Vector>(column: &[(u32, f32)], b: &[f32], n: usize, out: &mut [f32]) {
    let l = V::LANES;
    let mut col = 0;
    // Four vectors of columns at a time, then one, then single columns.
    while col + 4 * l <= n {
        let mut acc: [V; 4] = std::array::from_fn(|j| V::load(&out[col + j * l..]));
        for &(i, v) in column {
            let row = &b[i as usize * n + col..][..4 * l];
            let vv = V::splat(v);
            for (j, a) in acc.iter_mut().enumerate() {
                *a = a.mul_add(vv, V::load(&row[j * l..]));
            }
        }
        for (j, a) in acc.into_iter().enumerate() {
            a.store(&mut out[col + j * l..]);
        }
        col += 4 * l;
    }
    while col + l <= n {
        let mut acc = V::load(&out[col..]);
        for &(i, v) in column {
            acc = acc.mul_add(V::splat(v), V::load(&b[i as usize * n + col..]));
        }
        acc.store(&mut out[col..]);
        col += l;
    }
    for (j, o) in out.iter_mut().enumerate().take(n).skip(col) {
        for &(i, v) in column {
            *o = v.mul_add(b[i as usize * n + j], *o);
        }
    }
}

/// One row's `W` output columns from `col`: `out[j] = Σ v · b[p][col + j]` over the
/// row's nonzeros `(p, v)`, the `W` sums held in registers throughout.
#[inline(always)]
fn tile<const W: usize>(nz: &[(u32, f32)], b: &[f32], n: usize, col: usize, out: &mut [f32]) {
    let mut acc = [0.0f32; W];
    for &(p, v) in nz {
        let w: &[f32; W] = b[p as usize * n + col..][..W].try_into().unwrap();
        for j in 0..W {
            acc[j] = v.mul_add(w[j], acc[j]);
        }
    }
    out[..W].copy_from_slice(&acc);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shapes crossing every tile width and the task size, against a naive product in
    /// f64, on one and two threads with bit-identical results.
    #[test]
    fn sparse_matmul_matches_a_naive_product_on_any_thread_count() {
        let mut seed = 7u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            if seed >> 30 != 0 {
                0.0 // three quarters zeros
            } else {
                (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            }
        };
        for (m, k, n) in [
            (1, 1, 1),
            (3, 784, 10),
            (33, 50, 73),
            (70, 784, 512),
            (5, 9, 64),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| next() + 0.25).collect();
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut c = vec![f32::NAN; m * n];
                pool.install(|| sparse_matmul(m, k, n, &a, &b, &mut c));
                c
            };
            let (one, two) = (run(1), run(2));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&one), bits(&two), "m={m} k={k} n={n}");
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                        .sum();
                    let got = one[i * n + j] as f64;
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "m={m} k={k} n={n}: c[{i},{j}] = {got}, want {want}"
                    );
                }
            }
        }
    }

    /// `c += aᵀ · b` against a naive sum in f64, on shapes with more columns than a
    /// vector and a tail, on one and two threads with bit-identical results.
    #[test]
    fn sparse_transposed_product_matches_a_naive_sum_on_any_thread_count() {
        let mut seed = 11u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            if seed >> 30 != 0 {
                0.0
            } else {
                (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            }
        };
        for (m, k, n) in [
            (1, 1, 1),
            (3, 784, 10),
            (32, 784, 512),
            (5, 9, 37),
            (200, 50, 3),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..m * n).map(|_| next() + 0.25).collect();
            let c0: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.125).collect();
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut c = c0.clone();
                let mut rows = SparseRows::default();
                pool.install(|| sparse_transposed_matmul_add((m, k, n), &a, &b, &mut c, &mut rows));
                c
            };
            let (one, two) = (run(1), run(2));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&one), bits(&two), "m={m} k={k} n={n}");
            for p in 0..k {
                for j in 0..n {
                    let want: f64 = c0[p * n + j] as f64
                        + (0..m)
                            .map(|i| a[i * k + p] as f64 * b[i * n + j] as f64)
                            .sum::<f64>();
                    let got = one[p * n + j] as f64;
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "m={m} k={k} n={n}: c[{p},{j}] = {got}, want {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn looks_sparse_samples_the_first_rows() {
        let mut a = vec![0.0f32; 100 * 10];
        assert!(looks_sparse(100, 10, &a));
        a[..80].fill(1.0); // the 8 sampled rows are dense
        assert!(!looks_sparse(100, 10, &a));
        assert!(!looks_sparse(0, 10, &a));
    }
}
