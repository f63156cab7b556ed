//! Winograd's minimal filtering F(m×m, r×r) for stride-1 convolutions at inference:
//! each `m × m` block of outputs is computed from an `n × n` input tile (`n = m + r - 1`)
//! with `n²` multiplications per channel pair instead of `m²·r²` (F(4×4, 5×5): 64 for
//! 400; F(4×4, 3×3): 36 for 144).
//!
//!   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
//!
//! Summed over input channels, the `⊙` becomes `n²` independent GEMMs,
//! `M[ξ] = V[ξ] · U[ξ]` with `V[ξ]` = transformed tiles × channels and `U[ξ]` =
//! channels × filters, so the arithmetic still runs in the GEMM kernel. The matrices
//! come from the Cook-Toom construction on the points 0, ±1, ±2, ±1/2 (and ∞), built in
//! f64 here rather than typed in, so any (m, r) pair uses the same code.

/// The transform matrices of F(m, r), row-major, in f32.
#[derive(Debug, Clone)]
pub struct Transforms {
    /// Outputs per tile side.
    pub m: usize,
    /// Kernel side.
    pub r: usize,
    /// Tile side, `m + r - 1`.
    pub n: usize,
    /// `Aᵀ`, `m × n`: from the products back to outputs.
    pub at: Vec<f32>,
    /// `G`, `n × r`: kernel transform.
    pub g: Vec<f32>,
    /// `Bᵀ`, `n × n`: input transform.
    pub bt: Vec<f32>,
}

/// Interpolation points, in the order used: small magnitudes first keep the
/// transforms' rounding error low.
const POINTS: [f64; 9] = [0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0];

impl Transforms {
    /// F(m, r); `None` when the tile needs more interpolation points than the nine it knows.
    pub fn new(m: usize, r: usize) -> Option<Self> {
        let n = m + r - 1;
        if m == 0 || r == 0 || n - 1 > POINTS.len() {
            return None;
        }
        let p = &POINTS[..n - 1];
        // Coefficients (lowest degree first) of Π_{l ∈ ls} (x - p_l).
        let poly = |skip: Option<usize>| {
            let mut c = vec![1.0f64];
            for (l, &pl) in p.iter().enumerate() {
                if Some(l) == skip {
                    continue;
                }
                let mut next = vec![0.0; c.len() + 1];
                for (i, &ci) in c.iter().enumerate() {
                    next[i + 1] += ci;
                    next[i] -= pl * ci;
                }
                c = next;
            }
            c
        };
        let mut at = vec![0.0f64; m * n];
        let mut g = vec![0.0f64; n * r];
        let mut bt = vec![0.0f64; n * n];
        for (j, &pj) in p.iter().enumerate() {
            let norm: f64 = p
                .iter()
                .enumerate()
                .filter(|&(l, _)| l != j)
                .map(|(_, &pl)| pj - pl)
                .product();
            for i in 0..m {
                at[i * n + j] = pj.powi(i as i32);
            }
            for k in 0..r {
                g[j * r + k] = pj.powi(k as i32) / norm;
            }
            for (i, c) in poly(Some(j)).into_iter().enumerate() {
                bt[j * n + i] = c;
            }
        }
        // The point at infinity: the leading coefficients.
        at[(m - 1) * n + n - 1] = 1.0;
        g[(n - 1) * r + r - 1] = 1.0;
        for (i, c) in poly(None).into_iter().enumerate() {
            bt[(n - 1) * n + i] = c;
        }
        let f = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
        Some(Transforms {
            m,
            r,
            n,
            at: f(at),
            g: f(g),
            bt: f(bt),
        })
    }

    /// The output tile side for an `r × r` kernel: 4, the largest whose f32 rounding
    /// stays near the direct product's for the kernels scrawl meets (3 and 5).
    pub fn for_kernel(r: usize) -> Option<Self> {
        if !(2..=5).contains(&r) {
            return None;
        }
        Self::new(4, r)
    }

    /// `U = G g Gᵀ` for every (channel, filter) pair of a kernel stored
    /// `[r, r, channels, filters]`, laid out `[n², channels, filters]`.
    pub fn kernel(&self, w: &[f32], channels: usize, filters: usize, u: &mut Vec<f32>) {
        let (n, r, cf) = (self.n, self.r, channels * filters);
        u.clear();
        u.resize(n * n * cf, 0.0);
        // tmp[a][kx][cf] = Σ_ky G[a][ky] w[ky][kx][cf]
        let mut tmp = vec![0.0f32; n * r * cf];
        for a in 0..n {
            for ky in 0..r {
                let gv = self.g[a * r + ky];
                if gv == 0.0 {
                    continue;
                }
                for kx in 0..r {
                    let src = &w[(ky * r + kx) * cf..][..cf];
                    let dst = &mut tmp[(a * r + kx) * cf..][..cf];
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += gv * s);
                }
            }
        }
        for a in 0..n {
            for b in 0..n {
                let dst = &mut u[(a * n + b) * cf..][..cf];
                for kx in 0..r {
                    let gv = self.g[b * r + kx];
                    if gv == 0.0 {
                        continue;
                    }
                    let src = &tmp[(a * r + kx) * cf..][..cf];
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += gv * s);
                }
            }
        }
    }

    /// `V = Bᵀ d B` for one tile `d` (`[n, n, c]`, channels innermost), written to
    /// `v[ξ · stride ..][..c]` for each of the `n²` positions ξ. `tmp` holds `n² · c`.
    pub fn input_tile(&self, d: &[f32], c: usize, tmp: &mut [f32], v: &mut [f32], stride: usize) {
        let n = self.n;
        // tmp[a][x] = Σ_y Bᵀ[a][y] d[y][x]
        for a in 0..n {
            let row = &mut tmp[a * n * c..][..n * c];
            row.fill(0.0);
            for y in 0..n {
                let bv = self.bt[a * n + y];
                if bv != 0.0 {
                    let src = &d[y * n * c..][..n * c];
                    row.iter_mut()
                        .zip(src)
                        .for_each(|(t, s)| *t = bv.mul_add(*s, *t));
                }
            }
        }
        // v[a][b] = Σ_x tmp[a][x] Bᵀ[b][x]
        for a in 0..n {
            for b in 0..n {
                let dst = &mut v[(a * n + b) * stride..][..c];
                dst.fill(0.0);
                for x in 0..n {
                    let bv = self.bt[b * n + x];
                    if bv != 0.0 {
                        let src = &tmp[(a * n + x) * c..][..c];
                        dst.iter_mut()
                            .zip(src)
                            .for_each(|(t, s)| *t = bv.mul_add(*s, *t));
                    }
                }
            }
        }
    }

    /// `Y = Aᵀ M A` for one tile: `mm[ξ · stride ..][..f]` for the `n²` positions,
    /// to `out` (`[m, m, f]`). `tmp` holds `m · n · f`.
    pub fn output_tile(
        &self,
        mm: &[f32],
        f: usize,
        stride: usize,
        tmp: &mut [f32],
        out: &mut [f32],
    ) {
        let (m, n) = (self.m, self.n);
        // tmp[i][b] = Σ_a Aᵀ[i][a] M[a][b]
        for i in 0..m {
            for b in 0..n {
                let dst = &mut tmp[(i * n + b) * f..][..f];
                dst.fill(0.0);
                for a in 0..n {
                    let av = self.at[i * n + a];
                    if av != 0.0 {
                        let src = &mm[(a * n + b) * stride..][..f];
                        dst.iter_mut()
                            .zip(src)
                            .for_each(|(t, s)| *t = av.mul_add(*s, *t));
                    }
                }
            }
        }
        // out[i][j] = Σ_b tmp[i][b] Aᵀ[j][b]
        for i in 0..m {
            for j in 0..m {
                let dst = &mut out[(i * m + j) * f..][..f];
                dst.fill(0.0);
                for b in 0..n {
                    let av = self.at[j * n + b];
                    if av != 0.0 {
                        let src = &tmp[(i * n + b) * f..][..f];
                        dst.iter_mut()
                            .zip(src)
                            .for_each(|(t, s)| *t = av.mul_add(*s, *t));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One-dimensional F(m, r) against the direct correlation, for every pair used.
    #[test]
    fn one_dimensional_transforms_compute_a_correlation() {
        for (m, r) in [(2, 3), (4, 3), (2, 5), (4, 5), (3, 2), (4, 4)] {
            let t = Transforms::new(m, r).unwrap();
            let n = t.n;
            let d: Vec<f64> = (0..n).map(|i| ((i * 37 % 11) as f64 - 5.0) / 7.0).collect();
            let g: Vec<f64> = (0..r).map(|i| ((i * 53 % 13) as f64 - 6.0) / 5.0).collect();
            let gg: Vec<f64> = (0..n)
                .map(|j| (0..r).map(|k| t.g[j * r + k] as f64 * g[k]).sum())
                .collect();
            let bd: Vec<f64> = (0..n)
                .map(|j| (0..n).map(|i| t.bt[j * n + i] as f64 * d[i]).sum())
                .collect();
            for a in 0..m {
                let got: f64 = (0..n).map(|j| t.at[a * n + j] as f64 * gg[j] * bd[j]).sum();
                let want: f64 = (0..r).map(|k| d[a + k] * g[k]).sum();
                assert!(
                    (got - want).abs() < 1e-5,
                    "F({m},{r}) y[{a}]: {got} vs {want}"
                );
            }
        }
    }
}
