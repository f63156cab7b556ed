//! Products too small for the `gemm` crate to pay for its packing: Winograd's
//! products at each point of the transformed tile (`m` = a band's tiles, about 60;
//! `k` and `n` = channels and filters, 16-128), a few dozen of them per band.
//!
//!   c[i, j] (+)= Σ_p a[i, p] · b[p, j]        (`a` stored as is or transposed)
//!
//! Both operands are read where they lie: a row of `b` as vectors, an entry of `a`
//! broadcast. A block of `R` rows × `G` vectors of `c` keeps its sums in registers
//! for the whole of `k` (6 × 2 or 4 × 3 vectors: 12 sums, a row of `b` and one
//! broadcast fill AVX2's 16 registers) and is written once. Every sum runs over `p`
//! in order from zero, whatever the block, so the result depends on nothing but the
//! operands.

use super::gemm::{Dims, Operand, Store};
use super::isa::{Vector, dispatch};

/// `c = op(a) · b` or `c += op(a) · b`, with `b` row-major `k × n` as stored, on the
/// calling thread. Panics if an operand is shorter than `dims` needs.
pub fn small_matmul(dims: Dims, a: Operand, b: &[f32], c: &mut [f32], store: Store) {
    let Dims { m, k, n } = dims;
    assert!(a.data.len() >= m * k, "small_matmul: a is too short");
    assert!(b.len() >= k * n, "small_matmul: b is too short");
    assert!(c.len() >= m * n, "small_matmul: c is too short");
    product(Product { dims, a, b }, &mut c[..m * n], store);
}

/// The operands of one product, checked long enough.
#[derive(Clone, Copy)]
struct Product<'a> {
    dims: Dims,
    a: Operand<'a>,
    b: &'a [f32],
}

dispatch!(
    /// [`small_matmul`] in the widest vectors the CPU has.
    fn product(p: Product, c: &mut [f32], store: Store) => product_body
);

#[inline(always)]
fn product_body<V: Vector>(p: Product, c: &mut [f32], store: Store) {
    let n = p.dims.n;
    let mut j = 0;
    if V::LANES == 16 {
        while j + 32 <= n {
            columns::<V, 2, 6>(p, j, c, store);
            j += 32;
        }
    }
    // Three vectors by 4 rows where two would leave one over (24, 40 columns).
    if (n - j) % 16 == 8 && n - j >= 24 {
        columns::<V::Eight, 3, 4>(p, j, c, store);
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

/// Columns `j..j + G·W::LANES` of every row of `c`, in blocks of `R`, 2 and 1 rows.
#[inline(always)]
fn columns<W: Vector, const G: usize, const R: usize>(
    p: Product,
    j: usize,
    c: &mut [f32],
    store: Store,
) {
    let m = p.dims.m;
    let mut i = 0;
    while i + R <= m {
        block::<W, G, R>(p, (i, j), c, store);
        i += R;
    }
    while i + 2 <= m {
        block::<W, G, 2>(p, (i, j), c, store);
        i += 2;
    }
    if i < m {
        block::<W, G, 1>(p, (i, j), c, store);
    }
}

/// Rows `i..i + R`, columns `j..j + G·W::LANES` of `c`.
#[inline(always)]
fn block<W: Vector, const G: usize, const R: usize>(
    p: Product,
    (i, j): (usize, usize),
    c: &mut [f32],
    store: Store,
) {
    let Dims { m, k, n } = p.dims;
    let a = p.a.data;
    let width = G * W::LANES;
    let mut acc = [[W::zero(); G]; R];
    // One term of every sum: row `q` of `b` times the block's entries `x(r)` of `a`
    // (each broadcast straight from memory).
    let mut step = |q: usize, x: &dyn Fn(usize) -> f32| {
        let row = &p.b[q * n + j..][..width];
        let bv: [W; G] = std::array::from_fn(|g| W::load(&row[g * W::LANES..]));
        for (r, sums) in acc.iter_mut().enumerate() {
            let x = W::splat(x(r));
            for (s, &b) in sums.iter_mut().zip(&bv) {
                *s = s.mul_add(x, b);
            }
        }
    };
    if p.a.transposed {
        // `a` is stored `k × m`: the block's entries for `q` are neighbours.
        for q in 0..k {
            let col = &a[q * m + i..][..R];
            step(q, &|r| col[r]);
        }
    } else {
        let rows: [&[f32]; R] = std::array::from_fn(|r| &a[(i + r) * k..][..k]);
        // `q` indexes all `R` rows at once, so there is no one slice to iterate.
        #[allow(clippy::needless_range_loop)]
        for q in 0..k {
            step(q, &|r| rows[r][q]);
        }
    }
    for (r, sums) in acc.into_iter().enumerate() {
        let out = &mut c[(i + r) * n + j..][..width];
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

    /// Every block and column group (rows 1-63, columns 1-48), both layouts of `a`,
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
