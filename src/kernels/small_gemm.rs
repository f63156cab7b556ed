//! Products too small for the `gemm` crate to pay for its packing: Winograd's
//! products at each point of the transformed tile (`m` = a band's tiles, about 60;
//! `k` and `n` = channels and filters, 16-128), a few dozen of them per band; and a
//! Dense layer's `dx = dz · Wᵀ` on a small batch, where the `gemm` crate would pack
//! all of `W` to multiply it by a few rows.
//!
//!   c[i, j] (+)= Σ_p a[i, p] · b[p, j]        (`a` stored as is or transposed)
//!
//! Both operands are read where they lie: a row of `b` as vectors, an entry of `a`
//! broadcast. A block of `R` rows × `G` vectors of `c` keeps its sums in registers
//! for the whole of `k` (6 × 2 or 4 × 3 vectors: 12 sums, a row of `b` and one
//! broadcast fill AVX2's 16 registers; under AVX-512, 24 columns run as 12 rows of one
//! 16-lane and one 8-lane vector) and is written once. Every sum runs over `p`
//! in order from zero, whatever the block, so the result depends on nothing but the
//! operands.

use std::ops::Range;

use super::gemm::{Dims, Operand, Store};
use super::isa::{Vector, WithEight, dispatch};
use super::owned::{OwnedRows, for_each_owner};

/// `c = op(a) · b` or `c += op(a) · b`, with `b` row-major `k × n` as stored, on the
/// calling thread. Panics if an operand is shorter than `dims` needs.
pub fn small_matmul(dims: Dims, a: Operand, b: &[f32], c: &mut [f32], store: Store) {
    let Dims { m, n, .. } = dims;
    check_lengths(dims, [a.data.len(), b.len(), c.len()]);
    let rows = 0..m;
    product(Product { dims, a, b, rows }, &mut c[..m * n], store);
}

/// `c = a · bᵀ` with `a` `m × k` and `b` `n × k`, both row-major, for a small `m`: a
/// Dense layer's `dx = dz · Wᵀ` on a small batch. The `gemm` crate would pack all of
/// `b` (the kernel) on every call; here only the small operands are moved: `aᵀ` is
/// written out, `cᵀ = b · aᵀ` runs with `b` read in place, each thread on the rows
/// of `b` it owns ([`Owner::rows`](super::owned::Owner::rows)), and `cᵀ` is
/// transposed into `c`. `aᵀ` gets zero columns up to a multiple of 8, so no column of
/// `cᵀ` falls to the one-lane path (which ran 8.6 GFLOP/s at `m` = 31 against 140 at
/// 64); each real column's sums are the same as without them. `scratch` holds the
/// two small matrices (kept by the caller, so a training step allocates nothing).
pub fn small_matmul_transposed_b(
    dims: Dims,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    let Dims { m, k, n } = dims;
    check_lengths(dims, [a.len(), b.len(), c.len()]);
    let wide = m.next_multiple_of(8);
    if scratch.len() < wide * (k + n) {
        scratch.resize(wide * (k + n), 0.0);
    }
    let (at, ct) = scratch.split_at_mut(wide * k);
    transpose_into(&a[..m * k], (m, k), at, wide);
    let dims_t = Dims { m: n, k, n: wide };
    // Each thread reads the rows of `b` (the kernel) it owns in every other phase.
    let ct_rows = OwnedRows::new(ct, n, wide);
    let at = &*at;
    for_each_owner(|o| {
        let rows = o.rows(n);
        let p = Product {
            dims: dims_t,
            a: Operand::new(b),
            b: at,
            rows,
        };
        product(p, ct_rows.take(o), Store::Overwrite);
    });
    for (i, row) in c[..m * n].chunks_exact_mut(n).enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = ct[j * wide + i];
        }
    }
}

/// Rows `rows` of `c = op(a) · b` or `c += op(a) · b`, into `c_rows` (just those rows,
/// `rows.len() × n`), on the calling thread: one thread's share of a product whose
/// rows are cut by [`Owner::rows`](super::owned::Owner::rows). Each value is the
/// same sum as in [`small_matmul`].
pub fn small_matmul_rows(
    dims: Dims,
    (a, b): (Operand, &[f32]),
    (c_rows, store): (&mut [f32], Store),
    rows: Range<usize>,
) {
    let Dims { m, k, n } = dims;
    assert!(rows.end <= m, "small_matmul_rows: rows past m");
    check_lengths(Dims { m, k, n }, [a.data.len(), b.len(), m * n]);
    assert!(
        c_rows.len() >= rows.len() * n,
        "small_matmul_rows: c is too short"
    );
    let len = rows.len() * n;
    product(Product { dims, a, b, rows }, &mut c_rows[..len], store);
}

/// Panics unless `a`, `b` and `c` (their lengths, in that order) hold the `m × k`,
/// `k × n` and `m × n` values `dims` needs (in either layout).
fn check_lengths(Dims { m, k, n }: Dims, [a, b, c]: [usize; 3]) {
    assert!(a >= m * k, "small_matmul: a is too short");
    assert!(b >= k * n, "small_matmul: b is too short");
    assert!(c >= m * n, "small_matmul: c is too short");
}

/// Writes the `rows × cols` row-major `src` transposed into `dst` as `cols` rows of
/// `stride` values: the first `rows` of each hold the column, the rest are zeros.
fn transpose_into(src: &[f32], (rows, cols): (usize, usize), dst: &mut [f32], stride: usize) {
    for (j, out) in dst[..cols * stride].chunks_exact_mut(stride).enumerate() {
        let (column, pad) = out.split_at_mut(rows);
        for (i, v) in column.iter_mut().enumerate() {
            *v = src[i * cols + j];
        }
        pad.fill(0.0);
    }
}

/// The operands of one product, checked long enough, and the rows of `c` this call
/// computes (`c` holds just those rows).
#[derive(Clone)]
struct Product<'a> {
    dims: Dims,
    a: Operand<'a>,
    b: &'a [f32],
    rows: Range<usize>,
}

dispatch!(
    /// [`small_matmul`] in the widest vectors the CPU has.
    fn product(p: Product, c: &mut [f32], store: Store) => product_body
);

#[inline(always)]
fn product_body<V: Vector>(p: Product, c: &mut [f32], store: Store) {
    let (p, n) = (&p, p.dims.n);
    let mut j = 0;
    if V::LANES == 16 {
        while j + 32 <= n {
            columns::<V, 2, 6>(p, j, c, store);
            j += 32;
        }
    }
    // 24 columns where two vectors of 8 would leave one over (24, 40 columns): under
    // AVX-512 one vector of 16 and one of 8 by 12 rows, two instructions a step where
    // three vectors of 8 took three; under AVX2 three vectors by 4 rows.
    if (n - j) % 16 == 8 && n - j >= 24 {
        if V::LANES == 16 {
            columns::<WithEight<V>, 1, 12>(p, j, c, store);
        } else {
            columns::<V::Eight, 3, 4>(p, j, c, store);
        }
        j += 24;
    }
    while j + 16 <= n {
        columns::<V::Eight, 2, 6>(p, j, c, store);
        j += 16;
    }
    while j + 8 <= n {
        columns::<V::Eight, 1, 6>(p, j, c, store);
        j += 8;
    }
    while j < n {
        columns::<f32, 1, 6>(p, j, c, store);
        j += 1;
    }
}

/// Columns `j..j + G·W::LANES` of every row of `c`, in blocks of `R` rows (then one
/// of 6 where `R` is larger), 2 and 1.
#[inline(always)]
fn columns<W: Vector, const G: usize, const R: usize>(
    p: &Product,
    j: usize,
    c: &mut [f32],
    store: Store,
) {
    let Range { mut start, end } = p.rows;
    while start + R <= end {
        block::<W, G, R>(p, (start, j), c, store);
        start += R;
    }
    if R > 6 && start + 6 <= end {
        block::<W, G, 6>(p, (start, j), c, store);
        start += 6;
    }
    while start + 2 <= end {
        block::<W, G, 2>(p, (start, j), c, store);
        start += 2;
    }
    if start < end {
        block::<W, G, 1>(p, (start, j), c, store);
    }
}

/// One term of every sum of a block: row `q` of `b` (`row`) times the block's
/// entries `x(r)` of `a`, each broadcast straight from memory. A function of its own
/// marked `inline(always)`: as a closure, LLVM once stopped inlining it (after an
/// unrelated change elsewhere in the crate), and every multiply-add then went
/// through a call and the sums through memory, doubling the Winograd products' time.
#[inline(always)]
fn step<W: Vector, const G: usize, const R: usize>(
    acc: &mut [[W; G]; R],
    row: &[f32],
    x: impl Fn(usize) -> f32,
) {
    let bv: [W; G] = std::array::from_fn(|g| W::load(&row[g * W::LANES..]));
    for (r, sums) in acc.iter_mut().enumerate() {
        let x = W::splat(x(r));
        for (s, &b) in sums.iter_mut().zip(&bv) {
            *s = s.mul_add(x, b);
        }
    }
}

/// Rows `i..i + R`, columns `j..j + G·W::LANES` of `c`.
#[inline(always)]
fn block<W: Vector, const G: usize, const R: usize>(
    p: &Product,
    (i, j): (usize, usize),
    c: &mut [f32],
    store: Store,
) {
    let Dims { m, k, n } = p.dims;
    let a = p.a.data;
    let width = G * W::LANES;
    let mut acc = [[W::zero(); G]; R];
    let b_row = |q: usize| &p.b[q * n + j..][..width];
    if p.a.transposed {
        // `a` is stored `k × m`: the block's entries for `q` are neighbours.
        for q in 0..k {
            let col = &a[q * m + i..][..R];
            step::<W, G, R>(&mut acc, b_row(q), |r| col[r]);
        }
    } else {
        let rows: [&[f32]; R] = std::array::from_fn(|r| &a[(i + r) * k..][..k]);
        // `q` indexes all `R` rows at once, so there is no one slice to iterate.
        #[allow(clippy::needless_range_loop)]
        for q in 0..k {
            step::<W, G, R>(&mut acc, b_row(q), |r| rows[r][q]);
        }
    }
    for (r, sums) in acc.into_iter().enumerate() {
        let out = &mut c[(i - p.rows.start + r) * n + j..][..width];
        for (g, s) in sums.into_iter().enumerate() {
            let at = &mut out[g * W::LANES..];
            match store {
                Store::Overwrite => s.store(at),
                Store::Accumulate => s.add_to(at),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a · bᵀ` through the transposes, and rows cut as owners cut them, against the
    /// plain product (same sums, so the same bits) on shapes with every tail.
    #[test]
    fn transposed_b_and_rows_cut_by_owners_match_small_matmul() {
        let mut next = crate::kernels::test_values(11, 2);
        let mut scratch = Vec::new();
        for (m, k, n) in [
            (1, 1, 1),
            (32, 512, 40),
            (7, 10, 29),
            (64, 33, 17),
            (75, 64, 24),
            (31, 9, 70),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..n * k).map(|_| next()).collect();
            // bᵀ stored as `small_matmul` reads its right operand (k × n).
            let bt: Vec<f32> = (0..k * n).map(|x| b[(x % n) * k + x / n]).collect();
            let mut want = vec![0.0; m * n];
            small_matmul(
                Dims { m, k, n },
                Operand::new(&a),
                &bt,
                &mut want,
                Store::Overwrite,
            );
            // Each value is summed the same way as `(b · aᵀ)ᵀ`'s: compare bits.
            let at: Vec<f32> = (0..k * m).map(|x| a[(x % m) * k + x / m]).collect();
            let mut ct = vec![0.0; n * m];
            small_matmul(
                Dims { m: n, k, n: m },
                Operand::new(&b),
                &at,
                &mut ct,
                Store::Overwrite,
            );
            let mut got = vec![f32::NAN; m * n];
            small_matmul_transposed_b(Dims { m, k, n }, &a, &b, &mut got, &mut scratch);
            for i in 0..m {
                for j in 0..n {
                    assert_eq!(
                        got[i * n + j].to_bits(),
                        ct[j * m + i].to_bits(),
                        "{m}x{k}x{n} [{i}][{j}]"
                    );
                    let tol = 1e-5 * k as f32 * (1.0 + want[i * n + j].abs());
                    assert!((got[i * n + j] - want[i * n + j]).abs() <= tol);
                }
            }
            // Rows cut as owners cut them, each share on its own: the same bits as one
            // call, adding and overwriting.
            let mut shares: Vec<f32> = (0..m * n).map(|_| next()).collect();
            for store in [Store::Accumulate, Store::Overwrite] {
                let mut whole = shares.clone();
                let dims = Dims { m, k, n };
                small_matmul(dims, Operand::transposed(&at), &bt, &mut whole, store);
                for part in 0..3 {
                    let rows = super::super::owned::Owner { part, parts: 3 }.rows(m);
                    let out = &mut shares[rows.start * n..rows.end * n];
                    small_matmul_rows(dims, (Operand::transposed(&at), &bt), (out, store), rows);
                }
                assert!(
                    whole
                        .iter()
                        .zip(&shares)
                        .all(|(x, y)| x.to_bits() == y.to_bits())
                );
            }
        }
    }

    /// Every block and column group (rows 1-63, columns 1-56), both layouts of `a`,
    /// both stores, against a triple loop in f64.
    #[test]
    fn small_matmul_matches_a_naive_product() {
        let mut next = crate::kernels::test_values(7, 0);
        for (m, k, n) in [
            (1, 1, 1),
            (13, 24, 32),
            (7, 5, 41),
            (11, 9, 40),
            (6, 64, 24),
            (63, 32, 48),
            (29, 17, 24),
            (25, 8, 56),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
            let start: Vec<f32> = (0..m * n).map(|_| next()).collect();
            // `a` stored transposed: at[q][i] = a[i][q].
            let at: Vec<f32> = (0..k * m).map(|x| a[(x % m) * k + x / m]).collect();
            for (operand, store) in [
                (Operand::new(&a), Store::Overwrite),
                (Operand::transposed(&at), Store::Accumulate),
                (Operand::new(&a), Store::Accumulate),
            ] {
                let mut c = start.clone();
                small_matmul(Dims { m, k, n }, operand, &b, &mut c, store);
                for i in 0..m {
                    for j in 0..n {
                        let mut want: f64 = (0..k)
                            .map(|q| a[i * k + q] as f64 * b[q * n + j] as f64)
                            .sum();
                        if store == Store::Accumulate {
                            want += start[i * n + j] as f64;
                        }
                        let got = c[i * n + j] as f64;
                        assert!(
                            (got - want).abs() < 1e-5 * (1.0 + want.abs()) * k as f64,
                            "{m}x{k}x{n} {store:?} c[{i}][{j}] = {got}, want {want}"
                        );
                    }
                }
            }
        }
    }
}
