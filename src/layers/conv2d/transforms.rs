//! Winograd's minimal filtering F(m×m, r×r) for stride-1 convolutions:
//! each `m × m` block of outputs is computed from an `n × n` input tile (`n = m + r - 1`)
//! with `n²` multiplications per channel pair instead of `m²·r²` (F(4×4, 5×5): 64 for
//! 400; F(4×4, 3×3): 36 for 144; F(5×5, 3×3): 49 for 225).
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

use std::mem::MaybeUninit;

use crate::kernels::isa::{Vector, dispatch};

/// One input tile where it lies: `values[y · row + x · c + channel]` for its `n × n`
/// pixels. A tile gathered into a buffer of its own has `row = n · c`; one read in
/// place from an image, the image's row length.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    /// From the tile's first value on.
    pub values: &'a [f32],
    /// Values from one row of the tile to the next.
    pub row: usize,
}

/// Where one output tile goes: `values[i · row + j · f + filter]` for its `m × m`
/// pixels. A buffer of its own has `row = m · f`; a tile written straight into an
/// image's rows, the image's row length.
#[derive(Debug)]
pub struct WindowMut<'a> {
    /// From the tile's first value on.
    pub values: &'a mut [f32],
    /// Values from one row of the tile to the next.
    pub row: usize,
}

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

    /// F(4, `r`) for an `r × r` kernel: 4 outputs a side, the largest tile whose f32
    /// rounding stays near the direct product's for the kernels scrawl meets (3 and 5).
    pub fn for_kernel(r: usize) -> Option<Self> {
        if !(2..=5).contains(&r) {
            return None;
        }
        Self::new(4, r)
    }

    /// The transforms for an `r × r` kernel over an output of `rows × cols`: F(4, r),
    /// or for a 3×3 kernel F(5, 3) when its tiles need at most nine tenths of the
    /// products (`tiles · n²`). A 10×10 output (`speedrun`'s second convolution)
    /// takes 4 tiles of 7×7 instead of 9 of 6×6, the third of which computes 4
    /// outputs a side for 2: 196 products for 324. F(5, 3) uses one more
    /// interpolation point (1/2) than F(4, 3), which F(4, 5) already uses.
    pub fn for_output(r: usize, rows: usize, cols: usize) -> Option<Self> {
        let four = Self::for_kernel(r)?;
        let products = |m: usize| rows.div_ceil(m) * cols.div_ceil(m) * (m + r - 1).pow(2);
        if r == 3 && products(5) * 10 <= products(4) * 9 {
            return Self::new(5, 3);
        }
        Some(four)
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

    /// `V = Bᵀ d B` for one tile `d` (`n` rows of `n × c` values, channels innermost),
    /// written to `v[ξ · stride ..][..c]` for each of the `n²` positions ξ. `tmp` holds
    /// `n² · c` (used only by tile sizes without a fixed-size kernel).
    pub fn input_tile(&self, d: Window, c: usize, tmp: &mut [f32], v: &mut [f32], stride: usize) {
        match (self.m, self.r) {
            (m, r) if has_fixed(m, r) => input_tile_fixed((m, r), d.values, d.row, c, v, stride),
            _ => self.input_tile_any(d, c, tmp, v, stride),
        }
    }

    /// [`Self::input_tile`] for any size, the matrices read at run time: each stage a
    /// pass of whole rows. The fixed-size kernels sum in the same order, so they give
    /// the same bits.
    fn input_tile_any(&self, d: Window, c: usize, tmp: &mut [f32], v: &mut [f32], stride: usize) {
        let n = self.n;
        // tmp[a][x] = Σ_y Bᵀ[a][y] d[y][x]
        for a in 0..n {
            let row = &mut tmp[a * n * c..][..n * c];
            row.fill(0.0);
            for y in 0..n {
                let bv = self.bt[a * n + y];
                axpy(bv, &d.values[y * d.row..][..n * c], row);
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
    /// to `out`. `tmp` holds `m · n · f` (used only by tile sizes without a
    /// fixed-size kernel).
    pub fn output_tile(
        &self,
        mm: &[f32],
        f: usize,
        stride: usize,
        tmp: &mut [f32],
        out: WindowMut,
    ) {
        match (self.m, self.r) {
            (m, r) if has_fixed(m, r) => {
                output_tile_fixed((m, r), mm, f, stride, out.values, out.row)
            }
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
        out: WindowMut,
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
                let dst = &mut out.values[i * out.row + j * f..][..f];
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
            (m, r) if has_fixed(m, r) => output_grad_tile_fixed((m, r), dy, f, dm, stride),
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

dispatch!(
    /// [`Transforms::input_tile`] for the (`m`, `r`) pairs of [`has_fixed`].
    fn input_tile_fixed(mr: (usize, usize), d: &[f32], row: usize, c: usize, v: &mut [f32], stride: usize)
        => input_tile_body
);

dispatch!(
    /// [`Transforms::output_tile`] for the (`m`, `r`) pairs of [`has_fixed`].
    fn output_tile_fixed(mr: (usize, usize), mm: &[f32], f: usize, stride: usize, out: &mut [f32], row: usize)
        => output_tile_body
);

dispatch!(
    /// [`Transforms::output_grad_tile`] for the (`m`, `r`) pairs of [`has_fixed`].
    fn output_grad_tile_fixed(mr: (usize, usize), dy: &[f32], f: usize, dm: &mut [f32], stride: usize)
        => output_grad_tile_body
);

/// Whether F(`m`, `r`) has fixed-size kernels: F(4, 2..=5) and F(5, 3).
fn has_fixed(m: usize, r: usize) -> bool {
    matches!((m, r), (4, 2..=5) | (5, 3))
}

/// Picks the fixed-size kernel for (`m`, `r`) (the callers pass [`has_fixed`] pairs
/// only).
macro_rules! by_kernel_size {
    ($mr:expr, $kernel:ident::<$v:ty>($($arg:expr),*)) => {
        match $mr {
            (4, 2) => Fixed::<4, 2, 5>::$kernel::<$v>($($arg),*),
            (4, 3) => Fixed::<4, 3, 6>::$kernel::<$v>($($arg),*),
            (4, 4) => Fixed::<4, 4, 7>::$kernel::<$v>($($arg),*),
            (4, _) => Fixed::<4, 5, 8>::$kernel::<$v>($($arg),*),
            _ => Fixed::<5, 3, 7>::$kernel::<$v>($($arg),*),
        }
    };
}

#[inline(always)]
fn input_tile_body<V: Vector>(
    mr: (usize, usize),
    d: &[f32],
    row: usize,
    c: usize,
    v: &mut [f32],
    stride: usize,
) {
    by_kernel_size!(mr, input_tile::<V>(d, row, c, v, stride))
}

#[inline(always)]
fn output_tile_body<V: Vector>(
    mr: (usize, usize),
    mm: &[f32],
    f: usize,
    stride: usize,
    out: &mut [f32],
    row: usize,
) {
    by_kernel_size!(mr, output_tile::<V>(mm, f, stride, out, row))
}

#[inline(always)]
fn output_grad_tile_body<V: Vector>(
    mr: (usize, usize),
    dy: &[f32],
    f: usize,
    dm: &mut [f32],
    stride: usize,
) {
    by_kernel_size!(mr, output_grad_tile::<V>(dy, f, dm, stride))
}

/// Calls `Self::k::<W>(.., ch, ..)` over the channels `0..c`: whole vectors `V` first,
/// then vectors of 8, then one channel at a time.
macro_rules! by_vectors {
    ($v:ty, $c:expr, |$ch:ident| Self::$kernel:ident($($arg:expr),*)) => {{
        let mut $ch = 0;
        while $ch + <$v>::LANES <= $c {
            Self::$kernel::<$v>($($arg),*);
            $ch += <$v>::LANES;
        }
        while $ch + 8 <= $c {
            Self::$kernel::<<$v as Vector>::Eight>($($arg),*);
            $ch += 8;
        }
        while $ch < $c {
            Self::$kernel::<f32>($($arg),*);
            $ch += 1;
        }
    }};
}

/// F(M, R) (tile side `N = M + R - 1`) with its matrices as compile-time constants, over
/// explicit vectors of channels. Each transform is two passes of small matrix-vector
/// products ([`mat_vec`]): one per column of the tile, its `N` results kept on the
/// stack, then one per row. The products unroll completely, so the zero coefficients
/// disappear and each pass holds its vectors in registers. (Written as one nest of
/// loops over a whole tile of `[f32; 8]` arrays, LLVM kept the loops, loaded every
/// coefficient and tested it at run time: a tenth of a `cnn` training step.)
///
/// The first pass's results (20-64 vectors) live in an array of `MaybeUninit` rows,
/// each written once before the second pass reads it. Built by `std::array::from_fn`,
/// the array came out of a frame of `from_fn`'s own and was copied (`memmove`); zeroed
/// first, it was `memset` every tile: together 3-5% of an AVX2 `cnn-best` epoch.
struct Fixed<const M: usize, const R: usize, const N: usize>;

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

/// The transpose of an `A × B` matrix.
const fn transpose<const A: usize, const B: usize>(m: [[f32; B]; A]) -> [[f32; A]; B] {
    let mut out = [[0.0f32; A]; B];
    let mut i = 0;
    while i < A {
        let mut j = 0;
        while j < B {
            out[j][i] = m[i][j];
            j += 1;
        }
        i += 1;
    }
    out
}

/// `s += k · x`, element by element with one rounding each, skipped when `k` is zero.
/// The run-time-matrix transforms use it; [`mat_vec`] sums in the same order, so the
/// two give the same bits.
#[inline(always)]
fn axpy(k: f32, x: &[f32], s: &mut [f32]) {
    if k != 0.0 {
        for (s, &x) in s.iter_mut().zip(x) {
            *s = k.mul_add(x, *s);
        }
    }
}

/// `y[a] = Σ_j mat[a][j] · x[j]` for vectors `x[j]`, summed in `j` order from zero with
/// one rounding a term, zero coefficients skipped (`mat` is a constant, so the tests
/// vanish when this is inlined).
#[inline(always)]
fn mat_vec<V: Vector, const J: usize, const A: usize>(mat: &[[f32; J]; A], x: &[V; J]) -> [V; A] {
    let mut y = [V::zero(); A];
    for (s, row) in y.iter_mut().zip(mat) {
        for (&k, &xj) in row.iter().zip(x) {
            if k != 0.0 {
                *s = s.mul_add(V::splat(k), xj);
            }
        }
    }
    y
}

impl<const M: usize, const R: usize, const N: usize> Fixed<M, R, N> {
    const RAW: Raw = cook_toom(M, R);
    const BT: [[f32; N]; N] = block::<N, N>(&Self::RAW.bt);
    const AT: [[f32; N]; M] = block::<M, N>(&Self::RAW.at);
    const A: [[f32; M]; N] = transpose(Self::AT);

    #[inline(always)]
    fn input_tile<V: Vector>(d: &[f32], row: usize, c: usize, v: &mut [f32], stride: usize) {
        by_vectors!(V, c, |ch| Self::input_channels(d, row, c, ch, v, stride));
    }

    /// Channels `ch..ch + W::LANES` of one input tile (rows `row` values apart):
    /// `V = Bᵀ d B`.
    #[inline(always)]
    fn input_channels<W: Vector>(
        d: &[f32],
        row: usize,
        c: usize,
        ch: usize,
        v: &mut [f32],
        stride: usize,
    ) {
        // t[x][a] = Σ_y Bᵀ[a][y] d[y][x], each row written once
        // before it is read (see [`Fixed`]).
        let mut t = [MaybeUninit::<[W; N]>::uninit(); N];
        for (x, tx) in t.iter_mut().enumerate() {
            let col: [W; N] = std::array::from_fn(|y| W::load(&d[y * row + x * c + ch..]));
            tx.write(mat_vec(&Self::BT, &col));
        }
        // v[a][b] = Σ_x t[x][a] Bᵀ[b][x]
        for a in 0..N {
            // SAFETY: the loop above wrote every row of `t`.
            let row: [W; N] = std::array::from_fn(|x| unsafe { t[x].assume_init_ref()[a] });
            for (b, s) in mat_vec(&Self::BT, &row).into_iter().enumerate() {
                s.store(&mut v[(a * N + b) * stride + ch..]);
            }
        }
    }

    #[inline(always)]
    fn output_tile<V: Vector>(mm: &[f32], f: usize, stride: usize, out: &mut [f32], row: usize) {
        by_vectors!(V, f, |ch| Self::output_channels(
            mm, f, ch, stride, out, row
        ));
    }

    /// Filters `ch..ch + W::LANES` of one output tile: `Y = Aᵀ M A`.
    #[inline(always)]
    fn output_channels<W: Vector>(
        mm: &[f32],
        f: usize,
        ch: usize,
        stride: usize,
        out: &mut [f32],
        row: usize,
    ) {
        // t[b][i] = Σ_a Aᵀ[i][a] M[a][b]
        let mut t = [MaybeUninit::<[W; M]>::uninit(); N];
        for (b, tb) in t.iter_mut().enumerate() {
            let col: [W; N] = std::array::from_fn(|a| W::load(&mm[(a * N + b) * stride + ch..]));
            tb.write(mat_vec(&Self::AT, &col));
        }
        // out[i][j] = Σ_b t[b][i] Aᵀ[j][b]
        for i in 0..M {
            // SAFETY: the loop above wrote every row of `t`.
            let across: [W; N] = std::array::from_fn(|b| unsafe { t[b].assume_init_ref()[i] });
            for (j, s) in mat_vec(&Self::AT, &across).into_iter().enumerate() {
                s.store(&mut out[i * row + j * f + ch..]);
            }
        }
    }

    #[inline(always)]
    fn output_grad_tile<V: Vector>(dy: &[f32], f: usize, dm: &mut [f32], stride: usize) {
        by_vectors!(V, f, |ch| Self::output_grad_channels(dy, f, ch, dm, stride));
    }

    /// Filters `ch..ch + W::LANES` of one tile's `dM = A dY Aᵀ`.
    #[inline(always)]
    fn output_grad_channels<W: Vector>(
        dy: &[f32],
        f: usize,
        ch: usize,
        dm: &mut [f32],
        stride: usize,
    ) {
        // t[j][a] = Σ_i Aᵀ[i][a] dY[i][j]
        let mut t = [MaybeUninit::<[W; N]>::uninit(); M];
        for (j, tj) in t.iter_mut().enumerate() {
            let col: [W; M] = std::array::from_fn(|i| W::load(&dy[(i * M + j) * f + ch..]));
            tj.write(mat_vec(&Self::A, &col));
        }
        // dM[a][b] = Σ_j t[j][a] Aᵀ[j][b]
        for a in 0..N {
            // SAFETY: the loop above wrote every row of `t`.
            let row: [W; M] = std::array::from_fn(|j| unsafe { t[j].assume_init_ref()[a] });
            for (b, s) in mat_vec(&Self::A, &row).into_iter().enumerate() {
                s.store(&mut dm[(a * N + b) * stride + ch..]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed-size kernels against the run-time-matrix versions on channel counts
    /// that cross the vector widths (16, 8, 1): bit for bit where the vectors' multiply-add
    /// is fused like `f32::mul_add` (AVX2, AVX-512), to rounding on the baseline's
    /// plain-Rust vectors.
    #[test]
    fn fixed_size_kernels_match_the_general_transforms() {
        let fused = crate::kernels::isa::isa() != crate::kernels::isa::Isa::Baseline;
        let same = |fast: &[f32], slow: &[f32], what: &str| {
            if fused {
                assert_eq!(fast, slow, "{what}");
            } else {
                for (a, b) in fast.iter().zip(slow) {
                    assert!(
                        (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                        "{what}: {a} vs {b}"
                    );
                }
            }
        };
        for (m, r) in [(4, 2), (4, 3), (4, 4), (4, 5), (5, 3)] {
            assert!(has_fixed(m, r));
            let t = Transforms::new(m, r).unwrap();
            let n = t.n;
            for c in [1, 8, 11, 16, 24, 32, 43] {
                let d: Vec<f32> = (0..n * n * c)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 29.0)
                    .collect();
                let stride = c + 3;
                let mut tmp = vec![0.0; n * n * c];
                let (mut fast, mut slow) = (vec![0.0; n * n * stride], vec![0.0; n * n * stride]);
                let tile = Window {
                    values: &d,
                    row: n * c,
                };
                t.input_tile(tile, c, &mut tmp, &mut fast, stride);
                t.input_tile_any(tile, c, &mut tmp, &mut slow, stride);
                same(&fast, &slow, &format!("input transform, r = {r}, c = {c}"));
                // Written with a row length longer than the tile's, as into an image.
                let row = m * c + 5;
                let (mut fast, mut slow) = (vec![0.0; m * row], vec![0.0; m * row]);
                let out = |values| WindowMut { values, row };
                t.output_tile(&d, c, c, &mut tmp, out(&mut fast));
                t.output_tile_any(&d, c, c, &mut tmp, out(&mut slow));
                same(&fast, &slow, &format!("output transform, r = {r}, c = {c}"));
                let (mut fast, mut slow) = (vec![0.0; n * n * stride], vec![0.0; n * n * stride]);
                t.output_grad_tile(&d, c, &mut tmp, &mut fast, stride);
                t.output_grad_tile_any(&d, c, &mut tmp, &mut slow, stride);
                same(
                    &fast,
                    &slow,
                    &format!("output gradient transform, r = {r}, c = {c}"),
                );
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
        for (m, r) in [(4, 2), (4, 3), (4, 4), (4, 5), (5, 3)] {
            let t = Transforms::new(m, r).unwrap();
            let (n, f) = (t.n, 11);
            let mm: Vec<f32> = (0..n * n * f).map(|i| val(i, 37)).collect();
            let dy: Vec<f32> = (0..m * m * f).map(|i| val(i, 53)).collect();
            let mut tmp = vec![0.0; n * n * f];
            let mut y = vec![0.0; m * m * f];
            let row = m * f;
            t.output_tile(
                &mm,
                f,
                f,
                &mut tmp,
                WindowMut {
                    values: &mut y,
                    row,
                },
            );
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

    /// F(5, 3) where its tiles save a tenth of the products or more, else F(4, r).
    #[test]
    fn the_tile_is_chosen_by_the_output_size() {
        let m = |r, rows, cols| Transforms::for_output(r, rows, cols).unwrap().m;
        // 10: 4 tiles of 49 against 9 of 36; 14: 9 of 49 against 16 of 36.
        assert_eq!((m(3, 10, 10), m(3, 14, 14), m(3, 5, 5)), (5, 5, 5));
        // 24: 1,225 against 1,296 (not a tenth); 12, 8, 26, 28: F(4) as few or fewer.
        for side in [24, 12, 8, 26, 28] {
            assert_eq!(m(3, side, side), 4, "{side}");
        }
        assert_eq!((m(5, 10, 10), m(2, 10, 10)), (4, 4));
        assert!(Transforms::for_output(7, 10, 10).is_none());
    }

    /// One-dimensional F(m, r) against the direct correlation, for every pair used.
    #[test]
    fn one_dimensional_transforms_compute_a_correlation() {
        // Sizes with no tile, or more points than it knows, are refused.
        for (m, r) in [(0, 3), (3, 0), (0, 0), (1, 1), (7, 5)] {
            assert!(Transforms::new(m, r).is_none(), "F({m},{r})");
        }
        for (m, r) in [(2, 3), (4, 3), (2, 5), (4, 5), (3, 2), (4, 4), (5, 3)] {
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
