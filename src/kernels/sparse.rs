//! `c = a · b` when most of `a` is zeros: MNIST images entering the first Dense layer
//! (four fifths of their pixels are 0). A dense GEMM multiplies every zero; this
//! kernel lists the nonzeros once and adds only their rows of `b`. The same for the
//! layer's kernel gradient `aᵀ · b` ([`sparse_transposed_matmul`]).
//!
//! Both kernels are bound by loading rows of `b` (from L2), so both build two rows of
//! the output at once from one pass over their merged nonzeros: each row of `b`
//! loaded serves two rows' sums, held in vector registers a tile of columns at a time
//! and written once. Where only one of the two has a nonzero the other adds `0 · b`
//! (finite weights leave its sum unchanged). A task's rows share each tile of `b`, so
//! it is read from L2 rather than memory. Every output sums its terms in the same
//! order on any number of threads: the result is deterministic.

use std::cell::RefCell;
use std::ops::Range;

use rayon::prelude::*;

use super::Store;
use super::isa::{Vector, dispatch};

/// Columns a thread takes at least when one row is cut by columns.
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

/// One column of a pair of rows of `a`: (column, [value in the first row, value in
/// the second]), listed where either is nonzero.
type PairEntry = (u32, [f32; 2]);

thread_local! {
    /// Each worker's list of [`PairEntry`]s for its task's rows; it grows to the
    /// largest task once and is reused.
    static NONZEROS: RefCell<Vec<PairEntry>> = const { RefCell::new(Vec::new()) };
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
/// `a`. Tasks of up to 32 rows run on every thread of the pool (a batch of 32 as two
/// tasks of 16 on two threads, not one of 32 on one); a single row with enough work
/// (one image at inference) is cut by columns instead. Each row's sums are the same
/// whatever the tasks: the result does not depend on the thread count.
pub fn sparse_matmul(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    assert!(k <= u32::MAX as usize, "sparse_matmul: k = {k} too large");
    if m == 0 || n == 0 {
        return;
    }
    let threads = rayon::current_num_threads();
    let c = &mut c[..m * n];
    let parallel = threads > 1 && m * k * n >= PARALLEL_MIN_MACS;
    if m == 1 && parallel && n >= 2 * TILE {
        // Whole tiles per thread; each output column is summed as in the serial path.
        let per = n.div_ceil(threads).div_ceil(TILE) * TILE;
        c.par_chunks_mut(per).enumerate().for_each(|(t, out)| {
            let width = out.len();
            block(&a[..k], (k, 0..k), b, n, t * per, width, out);
        });
    } else if !parallel {
        for (t, out) in c.chunks_mut(ROWS_PER_TASK * n).enumerate() {
            block(&a[t * ROWS_PER_TASK * k..], (k, 0..k), b, n, 0, n, out);
        }
    } else {
        // An even number of rows a task (rows are paired), at most ROWS_PER_TASK.
        let per = m.div_ceil(threads).next_multiple_of(2).min(ROWS_PER_TASK);
        c.par_chunks_mut(per * n)
            .enumerate()
            .for_each(|(t, out)| block(&a[t * per * k..], (k, 0..k), b, n, 0, n, out));
    }
}

/// One thread's share of `c = a · b` (shapes as in [`sparse_matmul`]) when the rows
/// of `b` are cut between threads: `c = a[:, ks] · b[ks, :]`, the terms of the
/// columns `ks` of `a` only, on the calling thread. The caller adds the shares.
pub fn sparse_matmul_share(
    (m, k, n): (usize, usize, usize),
    (a, b): (&[f32], &[f32]),
    c: &mut [f32],
    ks: Range<usize>,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    assert!(
        k <= u32::MAX as usize && ks.end <= k,
        "sparse_matmul_share: bad k"
    );
    if n == 0 {
        return;
    }
    for (t, out) in c[..m * n].chunks_mut(ROWS_PER_TASK * n).enumerate() {
        block(
            &a[t * ROWS_PER_TASK * k..],
            (k, ks.clone()),
            b,
            n,
            0,
            n,
            out,
        );
    }
}

/// Below this many multiply-adds (counting zeros) a product stays on one thread.
const PARALLEL_MIN_MACS: usize = 1 << 16;

/// Columns `col0..col0 + width` of the rows of `c` held in `out` (row stride `width`,
/// at most [`ROWS_PER_TASK`] rows), from the same rows of `a` (starting at `a_rows`),
/// summing over the columns `ks` of `a` (rows of `b`) only.
fn block(
    a_rows: &[f32],
    (k, ks): (usize, Range<usize>),
    b: &[f32],
    n: usize,
    col0: usize,
    width: usize,
    out: &mut [f32],
) {
    let rows = out.len() / width;
    NONZEROS.with(|cell| {
        let mut nz = cell.borrow_mut();
        let mut starts = [0usize; ROWS_PER_TASK / 2 + 1];
        let pairs = rows.div_ceil(2);
        list_pair_nonzeros(&a_rows[..rows * k], (k, ks), &mut nz, &mut starts[..=pairs]);
        let task = Task {
            nz: &nz,
            starts: &starts[..=pairs],
            b,
            n,
            col0,
            width,
        };
        fill(&task, out);
    });
}

/// One task's rows, their nonzeros listed by pairs of rows, and the columns
/// `col0..col0 + width` of `c` they fill.
struct Task<'a> {
    /// Every pair's entries, pair after pair.
    nz: &'a [PairEntry],
    /// Where each pair's entries begin in `nz`, and (last) where they end.
    starts: &'a [usize],
    b: &'a [f32],
    n: usize,
    col0: usize,
    width: usize,
}

/// Fills `nz` with the [`PairEntry`]s of each pair of rows (rows 0 and 1, 2 and 3, ...;
/// an odd last row is paired with zeros) in the columns `ks`, pair after pair, and
/// `starts[q]` with where pair `q`'s begin (`starts[pairs]` = the total). Branch-free:
/// every entry is written, and the end moves on only past a nonzero.
fn list_pair_nonzeros(
    a_block: &[f32],
    (k, ks): (usize, Range<usize>),
    nz: &mut Vec<PairEntry>,
    starts: &mut [usize],
) {
    let pairs = starts.len() - 1;
    if nz.len() < pairs * k + 1 {
        nz.resize(pairs * k + 1, (0, [0.0; 2]));
    }
    let mut len = 0;
    let mut rows = a_block.chunks_exact(k);
    for start in &mut starts[..pairs] {
        *start = len;
        let first = rows.next().unwrap_or(&[]);
        let second = rows.next().unwrap_or(&[]);
        for p in ks.clone() {
            let pair = [first[p], second.get(p).copied().unwrap_or(0.0)];
            nz[len] = (p as u32, pair);
            len += (pair[0] != 0.0 || pair[1] != 0.0) as usize;
        }
    }
    starts[pairs] = len;
}

dispatch!(
    /// Fills the task's columns of `out`, every pair of rows at a time.
    fn fill(task: &Task<'_>, out: &mut [f32]) => fill_body
);

/// Whole tiles first, then single vectors, then single columns. A block of one row
/// (one image at inference) runs the one-row kernel with tiles twice as wide, rather
/// than a pair whose second row is all zeros.
#[inline(always)]
fn fill_body<V: Vector>(task: &Task<'_>, out: &mut [f32]) {
    let end = task.col0 + task.width;
    let col = if out.len() == task.width {
        let col = tiles::<V, 8, 1>(task, task.col0, end, out);
        tiles::<V, 1, 1>(task, col, end, out)
    } else {
        let col = tiles::<V, 4, 2>(task, task.col0, end, out);
        tiles::<V, 1, 2>(task, col, end, out)
    };
    for col in col..end {
        for (q, se) in task.starts.windows(2).enumerate() {
            let mut acc = [0.0f32; 2];
            accumulate_column(&task.nz[se[0]..se[1]], task.b, task.n, col, &mut acc);
            for (r, v) in acc.into_iter().enumerate() {
                if let Some(o) = out.get_mut((2 * q + r) * task.width + col - task.col0) {
                    *o = v;
                }
            }
        }
    }
}

/// Fills columns from `col` in tiles of `A` vectors for every pair of rows (`R` = 2;
/// or for the first row of each pair only, `R` = 1), and returns the first column
/// left (fewer than a tile before `end`). Each entry's row of `b` is loaded once for
/// both rows of a pair: half the loads of one row at a time, which is what bounds
/// this kernel (the tiles of `b` come from L2).
#[inline(always)]
fn tiles<V: Vector, const A: usize, const R: usize>(
    task: &Task<'_>,
    mut col: usize,
    end: usize,
    out: &mut [f32],
) -> usize {
    let l = V::LANES;
    while col + A * l <= end {
        for (q, se) in task.starts.windows(2).enumerate() {
            let mut acc = [[V::zero(); A]; R];
            accumulate(&task.nz[se[0]..se[1]], task.b, task.n, col, &mut acc);
            // The pair's rows of `out` (an odd last row has no second).
            for (r, a) in acc.iter().enumerate() {
                let at = (2 * q + r) * task.width + col - task.col0;
                if at < out.len() {
                    for (j, v) in a.iter().enumerate() {
                        v.store(&mut out[at + j * l..]);
                    }
                }
            }
        }
        col += A * l;
    }
    col
}

/// Both kernels' inner loop: `acc[r][j] += v[r] · b[i][col + j·lanes ..]` for each
/// (row `i` of `b`, values `v`) entry, in entry order. The row of `b` is loaded once
/// for the `R` sums (`R` = 1 reads only the first value).
#[inline(always)]
fn accumulate<V: Vector, const A: usize, const R: usize>(
    entries: &[PairEntry],
    b: &[f32],
    n: usize,
    col: usize,
    acc: &mut [[V; A]; R],
) {
    let l = V::LANES;
    for &(i, v) in entries {
        let row = &b[i as usize * n + col..][..A * l];
        let s: [V; R] = std::array::from_fn(|r| V::splat(v[r]));
        for j in 0..A {
            let w = V::load(&row[j * l..]);
            for r in 0..R {
                acc[r][j] = acc[r][j].mul_add(s[r], w);
            }
        }
    }
}

/// [`accumulate`] for the single column `col`, the columns left after whole vectors.
#[inline(always)]
fn accumulate_column(entries: &[PairEntry], b: &[f32], n: usize, col: usize, acc: &mut [f32; 2]) {
    for &(i, v) in entries {
        let w = b[i as usize * n + col];
        *acc = [v[0].mul_add(w, acc[0]), v[1].mul_add(w, acc[1])];
    }
}

/// The nonzeros of a batch, listed by pair of columns of `a` (which rows have a
/// nonzero in column `2q` or `2q + 1`, and the two values), kept between batches so
/// that a training step allocates nothing once the largest batch has run.
#[derive(Default, Debug)]
pub struct SparseRows {
    /// Row `r`'s (column pair, values) entries at `nz[r·pairs..r·pairs + lens[r]]`.
    nz: Vec<PairEntry>,
    lens: Vec<usize>,
    /// Column pair after column pair, each pair's (row, values) entries, rows in order.
    entries: Vec<PairEntry>,
    /// Where each column pair's entries begin in `entries`, and (last) where they end.
    at: Vec<usize>,
    /// Each column pair's next free slot while `entries` is filled.
    cursor: Vec<usize>,
}

impl SparseRows {
    /// Lists the nonzeros of `a` (`m × k`) by pair of columns: each row's list (rows
    /// in parallel, row `r`'s at `nz[r·pairs..]`, its length in `lens[r]`), then a
    /// counting sort of them.
    fn index_column_pairs(&mut self, m: usize, k: usize, a: &[f32]) {
        let pairs = k.div_ceil(2);
        if self.nz.len() < m * pairs {
            self.nz.resize(m * pairs, (0, [0.0; 2]));
        }
        self.lens.resize(m, 0);
        self.nz[..m * pairs]
            .par_chunks_mut(pairs)
            .zip(self.lens.par_iter_mut())
            .zip(a[..m * k].par_chunks(k))
            .with_min_len(16)
            .for_each(|((list, len), row)| {
                let mut n = 0;
                for (q, two) in row.chunks(2).enumerate() {
                    let v = [two[0], two.get(1).copied().unwrap_or(0.0)];
                    list[n] = (q as u32, v);
                    n += (v[0] != 0.0 || v[1] != 0.0) as usize;
                }
                // The last slot may hold a zero pair written past the end: not counted.
                *len = n;
            });
        let rows = || (0..m).map(|r| &self.nz[r * pairs..r * pairs + self.lens[r]]);
        self.at.clear();
        self.at.resize(pairs + 1, 0);
        for row in rows() {
            for &(q, _) in row {
                self.at[q as usize + 1] += 1;
            }
        }
        for q in 0..pairs {
            self.at[q + 1] += self.at[q];
        }
        let total = self.at[pairs];
        self.cursor.clear();
        self.cursor.extend_from_slice(&self.at[..pairs]);
        if self.entries.len() < total {
            self.entries.resize(total, (0, [0.0; 2]));
        }
        for (i, row) in rows().enumerate() {
            for &(q, v) in row {
                let slot = &mut self.cursor[q as usize];
                self.entries[*slot] = (i as u32, v);
                *slot += 1;
            }
        }
    }
}

/// `c = aᵀ · b` or `c += aᵀ · b` (`store`) with `a` `m × k` mostly zeros, `b` `m × n`
/// and `c` `k × n`, all row-major: a Dense layer's kernel gradient `dW = xᵀ · dz` on
/// sparse inputs. Row
/// `p` of `c` gains `Σ v · b[i]` over the nonzeros `a[i][p] = v`; the zeros cost
/// nothing. Rows of `c` are built two at a time (`2q` and `2q + 1`: neighbouring
/// pixels, nonzero in mostly the same images), a tile of columns at a time, their
/// sums in vector registers while the pair's entries pass: each row of `b` loaded
/// serves both.
///
/// The rows of `c` are cut into blocks, one task each, and every value of `c` sums its
/// terms in row order of `a`: the same on any number of threads.
pub fn sparse_transposed_matmul(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    b: &[f32],
    (c, store): (&mut [f32], Store),
    rows: &mut SparseRows,
) {
    assert!(a.len() >= m * k && b.len() >= m * n && c.len() >= k * n);
    assert!(
        k <= u32::MAX as usize && m <= u32::MAX as usize,
        "sparse_transposed_matmul: {m} × {k} too large"
    );
    if n == 0 || k == 0 {
        return;
    }
    if m == 0 {
        if store == Store::Overwrite {
            c[..k * n].fill(0.0);
        }
        return;
    }
    rows.index_column_pairs(m, k, a);
    // Blocks of about 16 KiB of `c`, whole pairs of rows: many more than threads, so
    // the uneven spread of nonzeros (MNIST's are in the middle pixels) still balances.
    let pairs_per_block = (2048 / n).clamp(1, k.div_ceil(2));
    let (entries, at) = (&rows.entries[..], &rows.at[..]);
    c[..k * n]
        .par_chunks_mut(2 * pairs_per_block * n)
        .enumerate()
        .for_each(|(t, block)| {
            // Each pair's one or two rows of `c`.
            for (r, out) in block.chunks_mut(2 * n).enumerate() {
                let q = t * pairs_per_block + r;
                let column = &entries[at[q]..at[q + 1]];
                match (column.is_empty(), store) {
                    (false, _) => add_column_pair(column, b, n, out, store),
                    // No image has these pixels: their rows of `aᵀ · b` are zero.
                    (true, Store::Overwrite) => out.fill(0.0),
                    (true, Store::Accumulate) => {}
                }
            }
        });
}

thread_local! {
    /// Each thread's list of one pair of columns' nonzeros, for
    /// [`sparse_transposed_matmul_rows`]; it grows to the largest batch once.
    static COLUMN_PAIR: RefCell<Vec<PairEntry>> = const { RefCell::new(Vec::new()) };
}

/// Rows `ps` of `c = aᵀ · b` or `c += aᵀ · b` (shapes as in
/// [`sparse_transposed_matmul`]) into `c_rows` (just those rows), on the calling
/// thread: one thread's share when the rows of `c` (a kernel's input rows) are cut
/// between threads, `ps.start` even. Each pair of rows lists its nonzeros by reading
/// its two columns of `a` down the batch; every value sums its terms in row order of
/// `a`, as [`sparse_transposed_matmul`] does, so the two give the same bits.
pub fn sparse_transposed_matmul_rows(
    (m, k, n): (usize, usize, usize),
    (a, b): (&[f32], &[f32]),
    (c_rows, store): (&mut [f32], Store),
    ps: Range<usize>,
) {
    assert!(a.len() >= m * k && b.len() >= m * n && c_rows.len() >= ps.len() * n);
    assert!(
        ps.start.is_multiple_of(2) && ps.end <= k,
        "sparse_transposed_matmul_rows: rows"
    );
    assert!(
        m <= u32::MAX as usize,
        "sparse_transposed_matmul_rows: m = {m}"
    );
    if n == 0 {
        return;
    }
    COLUMN_PAIR.with(|cell| {
        let mut column = cell.borrow_mut();
        if column.len() < m {
            column.resize(m, (0, [0.0; 2]));
        }
        let rows = &mut c_rows[..ps.len() * n];
        for (r, out) in rows.chunks_mut(2 * n).enumerate() {
            let p = ps.start + 2 * r;
            let two = p + 1 < ps.end;
            let mut len = 0;
            for (i, row) in a[..m * k].chunks_exact(k).enumerate() {
                let v = [row[p], if two { row[p + 1] } else { 0.0 }];
                column[len] = (i as u32, v);
                len += (v[0] != 0.0 || v[1] != 0.0) as usize;
            }
            match (len, store) {
                (0, Store::Overwrite) => out.fill(0.0),
                (0, Store::Accumulate) => {}
                _ => add_column_pair(&column[..len], b, n, out, store),
            }
        }
    });
}

dispatch!(
    /// `out[r][j] = Σ v[r] · b[i][j]` (or `+=`, `store`) over the (row `i`, values `v`)
    /// list, for the one or two rows `r` of `out` (each `n` long).
    fn add_column_pair(column: &[PairEntry], b: &[f32], n: usize, out: &mut [f32], store: Store) => add_column_pair_body
);

/// Tiles of four vectors of columns, then one vector, then single columns.
#[inline(always)]
fn add_column_pair_body<V: Vector>(
    column: &[PairEntry],
    b: &[f32],
    n: usize,
    out: &mut [f32],
    store: Store,
) {
    let two = out.len() > n;
    let col = add_tiles::<V, 4>(column, b, (n, 0), (two, store), out);
    let col = add_tiles::<V, 1>(column, b, (n, col), (two, store), out);
    let held = |v: f32| if store == Store::Accumulate { v } else { 0.0 };
    for j in col..n {
        let mut acc = [held(out[j]), if two { held(out[n + j]) } else { 0.0 }];
        accumulate_column(column, b, n, j, &mut acc);
        out[j] = acc[0];
        if two {
            out[n + j] = acc[1];
        }
    }
}

/// Writes or adds (`store`) tiles of `A` vectors of columns from `col` to the one or
/// two (`two`) rows of `out` (each `n` long), and returns the first column left.
#[inline(always)]
fn add_tiles<V: Vector, const A: usize>(
    column: &[PairEntry],
    b: &[f32],
    (n, mut col): (usize, usize),
    (two, store): (bool, Store),
    out: &mut [f32],
) -> usize {
    let l = V::LANES;
    while col + A * l <= n {
        let mut acc = [[V::zero(); A]; 2];
        if store == Store::Accumulate {
            for (r, a) in acc.iter_mut().enumerate().take(1 + two as usize) {
                for (j, v) in a.iter_mut().enumerate() {
                    *v = V::load(&out[r * n + col + j * l..]);
                }
            }
        }
        accumulate(column, b, n, col, &mut acc);
        for (r, a) in acc.iter().enumerate().take(1 + two as usize) {
            for (j, v) in a.iter().enumerate() {
                v.store(&mut out[r * n + col + j * l..]);
            }
        }
        col += A * l;
    }
    col
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shapes crossing every tile width and the task size, against a naive product in
    /// f64, on one and two threads with bit-identical results.
    #[test]
    fn sparse_matmul_matches_a_naive_product_on_any_thread_count() {
        let mut next = crate::kernels::test_values(7, 6); // three quarters zeros
        for (m, k, n) in [
            (1, 1, 1),
            (1, 784, 300),  // one row, cut by columns between threads
            (4, 784, 512),  // tasks of two rows
            (32, 784, 512), // a batch of 32: two tasks of 16
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
    /// vector and a tail, on one and two threads with bit-identical results; `c =
    /// aᵀ · b` the same as adding to zeros.
    #[test]
    fn sparse_transposed_product_matches_a_naive_sum_on_any_thread_count() {
        let mut next = crate::kernels::test_values(11, 6);
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
                pool.install(|| {
                    sparse_transposed_matmul(
                        (m, k, n),
                        &a,
                        &b,
                        (&mut c, Store::Accumulate),
                        &mut rows,
                    )
                });
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
            // Overwriting whatever `c` held (NaN here, which any read would spread,
            // rows of pixels no image has included) gives, to the bit, what adding
            // to zeros does.
            let mut rows = SparseRows::default();
            let mut product = |start: f32, store: Store| {
                let mut c = vec![start; k * n];
                sparse_transposed_matmul((m, k, n), &a, &b, (&mut c, store), &mut rows);
                c
            };
            let fresh = product(0.0, Store::Accumulate);
            let over = product(f32::NAN, Store::Overwrite);
            assert_eq!(bits(&over), bits(&fresh), "m={m} k={k} n={n}");
        }
    }

    /// The per-thread shares: rows of `aᵀ · b` cut as owners cut them give the bits of
    /// the whole product (overwriting or adding); shares of `a · b` over cuts of the
    /// columns of `a` add up to it (the whole range alone: the same bits).
    #[test]
    fn shares_match_the_whole_products() {
        let mut next = crate::kernels::test_values(5, 6);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (m, k, n) in [
            (1, 1, 1),
            (32, 784, 512),
            (5, 9, 37),
            (64, 51, 70),
            (3, 2, 16),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..m * n).map(|_| next() + 0.25).collect();
            let w: Vec<f32> = (0..k * n).map(|_| next() + 0.25).collect();
            for store in [Store::Overwrite, Store::Accumulate] {
                let c0: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.5).collect();
                let mut whole = c0.clone();
                let mut rows = SparseRows::default();
                sparse_transposed_matmul((m, k, n), &a, &b, (&mut whole, store), &mut rows);
                for parts in 1..=3 {
                    let mut cut = c0.clone();
                    for part in 0..parts {
                        let r = crate::kernels::owned::Owner { part, parts }.rows(k);
                        let out = &mut cut[r.start * n..r.end * n];
                        sparse_transposed_matmul_rows((m, k, n), (&a, &b), (out, store), r);
                    }
                    assert_eq!(bits(&cut), bits(&whole), "{m}x{k}x{n} {parts} parts");
                }
            }
            let mut whole = vec![f32::NAN; m * n];
            sparse_matmul(m, k, n, &a, &w, &mut whole);
            let mut alone = vec![f32::NAN; m * n];
            sparse_matmul_share((m, k, n), (&a, &w), &mut alone, 0..k);
            assert_eq!(bits(&alone), bits(&whole), "{m}x{k}x{n}");
            let mut sum = vec![0.0f32; m * n];
            let mut share = vec![f32::NAN; m * n];
            for part in 0..3 {
                let r = crate::kernels::owned::Owner { part, parts: 3 }.rows(k);
                sparse_matmul_share((m, k, n), (&a, &w), &mut share, r);
                sum.iter_mut().zip(&share).for_each(|(s, v)| *s += v);
            }
            for (got, want) in sum.iter().zip(&whole) {
                assert!((got - want).abs() <= 1e-5 * k as f32 * (1.0 + want.abs()));
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
