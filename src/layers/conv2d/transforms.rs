//! Winograd's minimal filtering F(m×m, r×r) for stride-1 convolutions:
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
//!
//! Training runs the same product backwards for the kernel gradient: with
//! `dM = A dY Aᵀ` per tile, `dU[ξ] = Σ_tiles V[ξ]ᵀ · dM[ξ]` (again `n²` GEMMs) and
//! `dg = Gᵀ dU G`: the adjoints of the output and kernel transforms.

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

/// Largest tile side [`POINTS`] allows (its nine points and ∞).
const MAX_N: usize = POINTS.len() + 1;

/// The three matrices of F(m, r) in f64, row-major with the row lengths of
/// [`Transforms`] (`Aᵀ` m × n, `G` n × r, `Bᵀ` n × n), in arrays big enough for any
/// tile. A `const fn`, so the fixed-size kernels below get the same numbers as
/// compile-time constants (and the compiler drops their zero terms).
struct Raw {
    at: [f64; MAX_N * MAX_N],
    g: [f64; MAX_N * MAX_N],
    bt: [f64; MAX_N * MAX_N],
}

/// Coefficients (lowest degree first) of Π (x - p) over the first `count` points
/// except `skip`.
const fn poly(count: usize, skip: usize) -> [f64; MAX_N + 1] {
    let mut c = [0.0f64; MAX_N + 1];
    c[0] = 1.0;
    let mut deg = 0;
    let mut l = 0;
    while l < count {
        if l != skip {
            // c ← c · (x - p_l)
            let mut i = deg + 1;
            while i > 0 {
                c[i] = c[i - 1] - POINTS[l] * c[i];
                i -= 1;
            }
            c[0] = -POINTS[l] * c[0];
            deg += 1;
        }
        l += 1;
    }
    c
}

/// The Cook-Toom construction of F(m, r) on the first `n - 1` points and ∞. Needs
/// `2 <= n <= MAX_N`.
const fn cook_toom(m: usize, r: usize) -> Raw {
    let n = m + r - 1;
    let mut raw = Raw {
        at: [0.0; MAX_N * MAX_N],
        g: [0.0; MAX_N * MAX_N],
        bt: [0.0; MAX_N * MAX_N],
    };
    let mut j = 0;
    while j < n - 1 {
        let pj = POINTS[j];
        let mut norm = 1.0;
        let mut l = 0;
        while l < n - 1 {
            if l != j {
                norm *= pj - POINTS[l];
            }
            l += 1;
        }
        let mut power = 1.0; // pj^i
        let mut i = 0;
        while i < m || i < r {
            if i < m {
                raw.at[i * n + j] = power;
            }
            if i < r {
                raw.g[j * r + i] = power / norm;
            }
            power *= pj;
            i += 1;
        }
        let c = poly(n - 1, j);
        let mut i = 0;
        while i < n {
            raw.bt[j * n + i] = c[i];
            i += 1;
        }
        j += 1;
    }
    // The point at infinity: the leading coefficients.
    raw.at[(m - 1) * n + n - 1] = 1.0;
    raw.g[(n - 1) * r + r - 1] = 1.0;
    let c = poly(n - 1, usize::MAX);
    let mut i = 0;
    while i < n {
        raw.bt[(n - 1) * n + i] = c[i];
        i += 1;
    }
    raw
}

impl Transforms {
    /// F(m, r); `None` when the tile needs more interpolation points than the nine it knows.
    pub fn new(m: usize, r: usize) -> Option<Self> {
        if m == 0 || r == 0 || !(2..=MAX_N).contains(&(m + r - 1)) {
            return None;
        }
        let n = m + r - 1;
        let raw = cook_toom(m, r);
        let f = |v: &[f64], len: usize| v[..len].iter().map(|&x| x as f32).collect();
        Some(Transforms {
            m,
            r,
            n,
            at: f(&raw.at, m * n),
            g: f(&raw.g, n * r),
            bt: f(&raw.bt, n * n),
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
    /// `[r, r, channels, filters]`, laid out `[n², channels, filters]`. `tmp` is a
    /// buffer kept by the caller, so a training step allocates nothing.
    pub fn kernel(
        &self,
        w: &[f32],
        channels: usize,
        filters: usize,
        u: &mut Vec<f32>,
        tmp: &mut Vec<f32>,
    ) {
        let (n, r, cf) = (self.n, self.r, channels * filters);
        u.clear();
        u.resize(n * n * cf, 0.0);
        // tmp[a][kx][cf] = Σ_ky G[a][ky] w[ky][kx][cf]
        tmp.clear();
        tmp.resize(n * r * cf, 0.0);
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
    /// `v[ξ · stride ..][..c]` for each of the `n²` positions ξ. `tmp` holds `n² · c`
    /// (used only by tile sizes without a fixed-size kernel).
    pub fn input_tile(&self, d: &[f32], c: usize, tmp: &mut [f32], v: &mut [f32], stride: usize) {
        match (self.m, self.r) {
            (4, 2) => Fixed::<2, 5>::input_tile(d, c, v, stride),
            (4, 3) => Fixed::<3, 6>::input_tile(d, c, v, stride),
            (4, 4) => Fixed::<4, 7>::input_tile(d, c, v, stride),
            (4, 5) => Fixed::<5, 8>::input_tile(d, c, v, stride),
            _ => self.input_tile_any(d, c, tmp, v, stride),
        }
    }

    /// [`Self::input_tile`] for any size, the matrices read at run time: each stage a
    /// pass of whole rows. The fixed-size kernels sum in the same order, so they give
    /// the same bits.
    fn input_tile_any(&self, d: &[f32], c: usize, tmp: &mut [f32], v: &mut [f32], stride: usize) {
        let n = self.n;
        // tmp[a][x] = Σ_y Bᵀ[a][y] d[y][x]
        for a in 0..n {
            let row = &mut tmp[a * n * c..][..n * c];
            row.fill(0.0);
            for y in 0..n {
                let bv = self.bt[a * n + y];
                axpy(bv, &d[y * n * c..][..n * c], row);
            }
        }
        // v[a][b] = Σ_x tmp[a][x] Bᵀ[b][x]
        for a in 0..n {
            for b in 0..n {
                let dst = &mut v[(a * n + b) * stride..][..c];
                dst.fill(0.0);
                for x in 0..n {
                    let bv = self.bt[b * n + x];
                    axpy(bv, &tmp[(a * n + x) * c..][..c], dst);
                }
            }
        }
    }

    /// `Y = Aᵀ M A` for one tile: `mm[ξ · stride ..][..f]` for the `n²` positions,
    /// to `out` (`[m, m, f]`). `tmp` holds `m · n · f` (used only by tile sizes without
    /// a fixed-size kernel).
    pub fn output_tile(
        &self,
        mm: &[f32],
        f: usize,
        stride: usize,
        tmp: &mut [f32],
        out: &mut [f32],
    ) {
        match (self.m, self.r) {
            (4, 2) => Fixed::<2, 5>::output_tile(mm, f, stride, out),
            (4, 3) => Fixed::<3, 6>::output_tile(mm, f, stride, out),
            (4, 4) => Fixed::<4, 7>::output_tile(mm, f, stride, out),
            (4, 5) => Fixed::<5, 8>::output_tile(mm, f, stride, out),
            _ => self.output_tile_any(mm, f, stride, tmp, out),
        }
    }

    /// [`Self::output_tile`] for any size (see [`Self::input_tile_any`]).
    fn output_tile_any(
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
                    axpy(av, &mm[(a * n + b) * stride..][..f], dst);
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
                    axpy(av, &tmp[(i * n + b) * f..][..f], dst);
                }
            }
        }
    }

    /// The kernel transform's adjoint, for the kernel gradient: adds
    /// `dg = Gᵀ dU G` for every (channel, filter) pair of `du` (`[n², channels,
    /// filters]`) onto `dw` (`[r, r, channels, filters]`). `tmp` is the caller's buffer.
    pub fn kernel_grad(
        &self,
        du: &[f32],
        channels: usize,
        filters: usize,
        dw: &mut [f32],
        tmp: &mut Vec<f32>,
    ) {
        let (n, r, cf) = (self.n, self.r, channels * filters);
        // tmp[a][kx] = Σ_b G[b][kx] dU[a][b]
        tmp.clear();
        tmp.resize(n * r * cf, 0.0);
        for a in 0..n {
            for kx in 0..r {
                let dst = &mut tmp[(a * r + kx) * cf..][..cf];
                for b in 0..n {
                    axpy(self.g[b * r + kx], &du[(a * n + b) * cf..][..cf], dst);
                }
            }
        }
        // dw[ky][kx] += Σ_a G[a][ky] tmp[a][kx]
        for ky in 0..r {
            for kx in 0..r {
                let dst = &mut dw[(ky * r + kx) * cf..][..cf];
                for a in 0..n {
                    axpy(self.g[a * r + ky], &tmp[(a * r + kx) * cf..][..cf], dst);
                }
            }
        }
    }

    /// The output transform's adjoint, for the gradient: `dM = A dY Aᵀ` for one tile
    /// `dy` (`[m, m, f]`), written to `dm[ξ · stride ..][..f]` for each of the `n²`
    /// positions ξ. `tmp` holds `n · m · f` (used only by tile sizes without a
    /// fixed-size kernel).
    pub fn output_grad_tile(
        &self,
        dy: &[f32],
        f: usize,
        tmp: &mut [f32],
        dm: &mut [f32],
        stride: usize,
    ) {
        match (self.m, self.r) {
            (4, 2) => Fixed::<2, 5>::output_grad_tile(dy, f, dm, stride),
            (4, 3) => Fixed::<3, 6>::output_grad_tile(dy, f, dm, stride),
            (4, 4) => Fixed::<4, 7>::output_grad_tile(dy, f, dm, stride),
            (4, 5) => Fixed::<5, 8>::output_grad_tile(dy, f, dm, stride),
            _ => self.output_grad_tile_any(dy, f, tmp, dm, stride),
        }
    }

    /// [`Self::output_grad_tile`] for any size (see [`Self::input_tile_any`]).
    fn output_grad_tile_any(
        &self,
        dy: &[f32],
        f: usize,
        tmp: &mut [f32],
        dm: &mut [f32],
        stride: usize,
    ) {
        let (m, n) = (self.m, self.n);
        // tmp[a][j] = Σ_i Aᵀ[i][a] dY[i][j]
        for a in 0..n {
            for j in 0..m {
                let dst = &mut tmp[(a * m + j) * f..][..f];
                dst.fill(0.0);
                for i in 0..m {
                    axpy(self.at[i * n + a], &dy[(i * m + j) * f..][..f], dst);
                }
            }
        }
        // dM[a][b] = Σ_j tmp[a][j] Aᵀ[j][b]
        for a in 0..n {
            for b in 0..n {
                let dst = &mut dm[(a * n + b) * stride..][..f];
                dst.fill(0.0);
                for j in 0..m {
                    axpy(self.at[j * n + b], &tmp[(a * m + j) * f..][..f], dst);
                }
            }
        }
    }
}

/// Channels per step of the fixed-size kernels: one AVX vector.
const LANES: usize = 8;

/// Calls a fixed-size kernel `Self::k::<L>(.., ch, ..)` over the channels `0..c`:
/// whole vectors of [`LANES`] first, then the rest one at a time.
macro_rules! by_lanes {
    ($c:expr, |$ch:ident| Self::$kernel:ident($($arg:expr),*)) => {{
        let mut $ch = 0;
        while $ch + LANES <= $c {
            Self::$kernel::<LANES>($($arg),*);
            $ch += LANES;
        }
        while $ch < $c {
            Self::$kernel::<1>($($arg),*);
            $ch += 1;
        }
    }};
}

/// F(4, R) (tile side `N = R + 3`) with its matrices as compile-time constants. The
/// loops below unroll completely, so every zero coefficient disappears and a whole
/// tile of one vector of channels stays in registers between the two stages: the
/// row-pass version ([`Transforms::input_tile_any`]) loads and stores its partial
/// sums once per coefficient, and that memory traffic, not the arithmetic, bounded it.
struct Fixed<const R: usize, const N: usize>;

/// `A × B` leading block of a row-major matrix with rows of `B`, as f32.
const fn block<const A: usize, const B: usize>(v: &[f64; MAX_N * MAX_N]) -> [[f32; B]; A] {
    let mut out = [[0.0f32; B]; A];
    let mut i = 0;
    while i < A {
        let mut j = 0;
        while j < B {
            out[i][j] = v[i * B + j] as f32;
            j += 1;
        }
        i += 1;
    }
    out
}

/// `s += k · x`, element by element with one rounding each, skipped when `k` is zero
/// (in the fixed-size kernels a constant, so the test vanishes). Both versions of the
/// transforms use it: that is what keeps their sums in the same order.
#[inline(always)]
fn axpy(k: f32, x: &[f32], s: &mut [f32]) {
    if k != 0.0 {
        for (s, &x) in s.iter_mut().zip(x) {
            *s = k.mul_add(x, *s);
        }
    }
}

impl<const R: usize, const N: usize> Fixed<R, N> {
    const RAW: Raw = cook_toom(4, R);
    const BT: [[f32; N]; N] = block::<N, N>(&Self::RAW.bt);
    const AT: [[f32; N]; 4] = block::<4, N>(&Self::RAW.at);

    fn input_tile(d: &[f32], c: usize, v: &mut [f32], stride: usize) {
        by_lanes!(c, |ch| Self::input_lanes(d, c, ch, v, stride));
    }

    /// Channels `ch..ch + L` of one input tile.
    #[inline(always)]
    fn input_lanes<const L: usize>(d: &[f32], c: usize, ch: usize, v: &mut [f32], stride: usize) {
        let bt = &Self::BT;
        // t[a][x] = Σ_y Bᵀ[a][y] d[y][x]
        let mut t = [[[0.0f32; L]; N]; N];
        for x in 0..N {
            let col: [&[f32; L]; N] =
                std::array::from_fn(|y| d[(y * N + x) * c + ch..][..L].try_into().unwrap());
            for a in 0..N {
                for y in 0..N {
                    axpy(bt[a][y], col[y], &mut t[a][x]);
                }
            }
        }
        // v[a][b] = Σ_x t[a][x] Bᵀ[b][x]
        for (a, ta) in t.iter().enumerate() {
            for b in 0..N {
                let mut s = [0.0f32; L];
                for x in 0..N {
                    axpy(bt[b][x], &ta[x], &mut s);
                }
                v[(a * N + b) * stride + ch..][..L].copy_from_slice(&s);
            }
        }
    }

    fn output_tile(mm: &[f32], f: usize, stride: usize, out: &mut [f32]) {
        by_lanes!(f, |ch| Self::output_lanes(mm, f, ch, stride, out));
    }

    /// Filters `ch..ch + L` of one output tile.
    #[inline(always)]
    fn output_lanes<const L: usize>(
        mm: &[f32],
        f: usize,
        ch: usize,
        stride: usize,
        out: &mut [f32],
    ) {
        let at = &Self::AT;
        // t[i][b] = Σ_a Aᵀ[i][a] M[a][b]
        let mut t = [[[0.0f32; L]; N]; 4];
        for b in 0..N {
            let col: [&[f32; L]; N] =
                std::array::from_fn(|a| mm[(a * N + b) * stride + ch..][..L].try_into().unwrap());
            for i in 0..4 {
                for a in 0..N {
                    axpy(at[i][a], col[a], &mut t[i][b]);
                }
            }
        }
        // out[i][j] = Σ_b t[i][b] Aᵀ[j][b]
        for (i, ti) in t.iter().enumerate() {
            for j in 0..4 {
                let mut s = [0.0f32; L];
                for b in 0..N {
                    axpy(at[j][b], &ti[b], &mut s);
                }
                out[(i * 4 + j) * f + ch..][..L].copy_from_slice(&s);
            }
        }
    }

    fn output_grad_tile(dy: &[f32], f: usize, dm: &mut [f32], stride: usize) {
        by_lanes!(f, |ch| Self::output_grad_lanes(dy, f, ch, dm, stride));
    }

    /// Filters `ch..ch + L` of one tile's `dM = A dY Aᵀ`.
    #[inline(always)]
    fn output_grad_lanes<const L: usize>(
        dy: &[f32],
        f: usize,
        ch: usize,
        dm: &mut [f32],
        stride: usize,
    ) {
        let at = &Self::AT;
        // t[a][j] = Σ_i Aᵀ[i][a] dY[i][j]
        let mut t = [[[0.0f32; L]; 4]; N];
        for j in 0..4 {
            let col: [&[f32; L]; 4] =
                std::array::from_fn(|i| dy[(i * 4 + j) * f + ch..][..L].try_into().unwrap());
            for (a, ta) in t.iter_mut().enumerate() {
                for i in 0..4 {
                    axpy(at[i][a], col[i], &mut ta[j]);
                }
            }
        }
        // dM[a][b] = Σ_j t[a][j] Aᵀ[j][b]
        for (a, ta) in t.iter().enumerate() {
            for b in 0..N {
                let mut s = [0.0f32; L];
                for j in 0..4 {
                    axpy(at[j][b], &ta[j], &mut s);
                }
                dm[(a * N + b) * stride + ch..][..L].copy_from_slice(&s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed-size kernels against the run-time-matrix versions, bit for bit, on
    /// channel counts that cross the vector width.
    #[test]
    fn fixed_size_kernels_match_the_general_transforms() {
        for r in 2..=5 {
            let t = Transforms::for_kernel(r).unwrap();
            let (m, n) = (t.m, t.n);
            for c in [1, 8, 11, 32] {
                let d: Vec<f32> = (0..n * n * c)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 29.0)
                    .collect();
                let stride = c + 3;
                let mut tmp = vec![0.0; n * n * c];
                let (mut fast, mut slow) = (vec![0.0; n * n * stride], vec![0.0; n * n * stride]);
                t.input_tile(&d, c, &mut tmp, &mut fast, stride);
                t.input_tile_any(&d, c, &mut tmp, &mut slow, stride);
                assert_eq!(fast, slow, "input transform, r = {r}, c = {c}");
                let (mut fast, mut slow) = (vec![0.0; m * m * c], vec![0.0; m * m * c]);
                t.output_tile(&d, c, c, &mut tmp, &mut fast);
                t.output_tile_any(&d, c, c, &mut tmp, &mut slow);
                assert_eq!(fast, slow, "output transform, r = {r}, c = {c}");
                let (mut fast, mut slow) = (vec![0.0; n * n * stride], vec![0.0; n * n * stride]);
                t.output_grad_tile(&d, c, &mut tmp, &mut fast, stride);
                t.output_grad_tile_any(&d, c, &mut tmp, &mut slow, stride);
                assert_eq!(fast, slow, "output gradient transform, r = {r}, c = {c}");
            }
        }
    }

    /// The gradient transforms are the adjoints of the forward ones:
    /// ⟨output_tile(M), dY⟩ = ⟨M, output_grad_tile(dY)⟩ and
    /// ⟨kernel(g), dU⟩ = ⟨g, kernel_grad(dU)⟩, in f64 up to f32 rounding.
    #[test]
    fn gradient_transforms_are_the_adjoints() {
        let val = |i: usize, s: usize| ((i * s % 103) as f32 - 51.0) / 37.0;
        let dot = |a: &[f32], b: &[f32]| -> f64 {
            a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
        };
        for r in 2..=5 {
            let t = Transforms::for_kernel(r).unwrap();
            let (m, n, f) = (t.m, t.n, 11);
            let mm: Vec<f32> = (0..n * n * f).map(|i| val(i, 37)).collect();
            let dy: Vec<f32> = (0..m * m * f).map(|i| val(i, 53)).collect();
            let mut tmp = vec![0.0; n * n * f];
            let mut y = vec![0.0; m * m * f];
            t.output_tile(&mm, f, f, &mut tmp, &mut y);
            let mut dm = vec![0.0; n * n * f];
            t.output_grad_tile(&dy, f, &mut tmp, &mut dm, f);
            let (lhs, rhs) = (dot(&y, &dy), dot(&mm, &dm));
            assert!(
                (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
                "A, r = {r}: {lhs} vs {rhs}"
            );

            let (c, fl) = (3, 5);
            let g: Vec<f32> = (0..r * r * c * fl).map(|i| val(i, 41)).collect();
            let du: Vec<f32> = (0..n * n * c * fl).map(|i| val(i, 59)).collect();
            let (mut u, mut tmp) = (Vec::new(), Vec::new());
            t.kernel(&g, c, fl, &mut u, &mut tmp);
            // kernel_grad adds onto what is there.
            let mut dg = vec![1.0; g.len()];
            t.kernel_grad(&du, c, fl, &mut dg, &mut tmp);
            dg.iter_mut().for_each(|v| *v -= 1.0);
            let (lhs, rhs) = (dot(&u, &du), dot(&g, &dg));
            assert!(
                (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
                "G, r = {r}: {lhs} vs {rhs}"
            );
        }
    }

    /// One-dimensional F(m, r) against the direct correlation, for every pair used.
    #[test]
    fn one_dimensional_transforms_compute_a_correlation() {
        // Sizes with no tile, or more points than it knows, are refused.
        for (m, r) in [(0, 3), (3, 0), (0, 0), (1, 1), (7, 5)] {
            assert!(Transforms::new(m, r).is_none(), "F({m},{r})");
        }
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
