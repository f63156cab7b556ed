//! Which vector instructions scrawl's own kernels use, detected once at run time.
//!
//! A kernel is written once, as an `#[inline(always)]` generic function over its
//! vector width; each [`Isa`] gets a wrapper compiled with that instruction set
//! enabled (`#[target_feature]`), and the caller picks the wrapper by [`isa()`]. So
//! one binary runs AVX-512 code on CPUs that have it, AVX2 on the others, and
//! baseline x86-64 (or the target's own baseline elsewhere) on anything older.

use std::sync::OnceLock;

/// An instruction set scrawl has kernels for, widest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512 F/VL with FMA: 16 lanes of f32, 32 vector registers.
    Avx512,
    /// AVX2 with FMA: 8 lanes, 16 registers.
    Avx2,
    /// Whatever the compilation target guarantees (SSE2 on x86-64).
    Baseline,
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Isa::Avx512 => "AVX-512",
            Isa::Avx2 => "AVX2",
            Isa::Baseline => "baseline",
        })
    }
}

/// The widest instruction set this CPU has, detected on first call. Setting
/// `SCRAWL_ISA=avx2` or `SCRAWL_ISA=baseline` caps it (to compare kernels on one
/// machine); the result is the same bit for bit only within one instruction set.
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let cap = match std::env::var("SCRAWL_ISA").as_deref() {
            Ok("baseline") => Isa::Baseline,
            Ok("avx2") => Isa::Avx2,
            _ => Isa::Avx512,
        };
        detect().capped_at(cap)
    })
}

impl Isa {
    /// `self`, or `cap` when that is narrower.
    fn capped_at(self, cap: Isa) -> Isa {
        let rank = |i: Isa| match i {
            Isa::Avx512 => 2,
            Isa::Avx2 => 1,
            Isa::Baseline => 0,
        };
        if rank(cap) < rank(self) { cap } else { self }
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Isa {
    use std::arch::is_x86_feature_detected as has;
    if has!("avx512f") && has!("avx512vl") && has!("fma") && has!("avx2") {
        Isa::Avx512
    } else if has!("avx2") && has!("fma") {
        Isa::Avx2
    } else {
        Isa::Baseline
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Isa {
    Isa::Baseline
}

/// Defines `$name(args)`, which runs the `#[inline(always)]` generic function `$body`
/// compiled for the widest [`Isa`] the CPU has: `$body::<V>` with `V` the
/// [`Vector`] of that instruction set (`__m512` under AVX-512, `__m256` under AVX2,
/// [`Scalar8`] on the baseline).
macro_rules! dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $body:ident) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::x86_64::{__m256, __m512};
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn wide($($arg: $ty),*) {
                    $body::<__m512>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn narrow($($arg: $ty),*) {
                    $body::<__m256>($($arg),*)
                }
                match $crate::kernels::isa::isa() {
                    // SAFETY: isa() reported these instruction sets on this CPU.
                    $crate::kernels::isa::Isa::Avx512 => unsafe { wide($($arg),*) },
                    $crate::kernels::isa::Isa::Avx2 => unsafe { narrow($($arg),*) },
                    $crate::kernels::isa::Isa::Baseline => {
                        $body::<$crate::kernels::isa::Scalar8>($($arg),*)
                    }
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            $body::<$crate::kernels::isa::Scalar8>($($arg),*)
        }
    };
}
pub(crate) use dispatch;

/// A vector of f32 lanes, as the kernels use it. Loads and stores take slices of at
/// least [`Vector::LANES`] values (checked), so the kernels need no `unsafe`.
///
/// The x86 implementations call the instruction set's intrinsics; they are only
/// ever inlined into the functions `dispatch!` compiles with that instruction set
/// enabled, and only called after [`isa()`] found it on the CPU.
pub trait Vector: Copy {
    /// Lanes in one vector.
    const LANES: usize;
    /// All lanes zero.
    fn zero() -> Self;
    /// All lanes `v`.
    fn splat(v: f32) -> Self;
    /// The first `LANES` values of `s`.
    fn load(s: &[f32]) -> Self;
    /// Writes the lanes to the first `LANES` values of `s`.
    fn store(self, s: &mut [f32]);
    /// `self + a · b`, lane by lane (fused where the instruction set has FMA).
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// Adds the lanes to the first `LANES` values of `s`.
    fn add_to(self, s: &mut [f32]);
    /// `self + other`, lane by lane.
    fn add(self, other: Self) -> Self;
    /// `self` where it is greater than `other`, else `other` (so `other` where
    /// either is NaN), lane by lane: the x86 `max` instruction's rule.
    fn max(self, other: Self) -> Self;
    /// `self` where `gate > 0` (or is NaN), zero where `gate ≤ 0`: relu's derivative
    /// applied to a gradient, with `gate` relu's output.
    fn zero_where_nonpositive(self, gate: Self) -> Self;
    /// `self` split lane by lane into (where `a == b`, where `a != b`), zero in the
    /// other part: max pooling's backward routing a gradient to the cell that won.
    fn split_eq(self, a: Self, b: Self) -> (Self, Self);
    /// One step of a running maximum and where it was found, lane by lane:
    /// `(self, here)` where `self > best`, else `(best, at)`; the maximum follows
    /// [`Vector::max`]'s rule (`self.max(best)`), and `at` keeps the first position
    /// of a tie.
    fn running_max(self, best: Self, at: Self, here: Self) -> (Self, Self);
    /// A vector of 8 lanes (`Self` when it has 8), for what is left after the
    /// multiples of `LANES`.
    type Eight: Vector;
}

/// Work over one run of `W::LANES` consecutive channels from `start`, written once
/// for any vector width, so that [`over_lanes`] can cover a row of any length.
pub trait Lanes {
    /// Does the work for channels `start..start + W::LANES`.
    fn run<W: Vector>(&mut self, start: usize);
}

/// Runs `work` over the channels `0..len`: whole vectors `V` first, then vectors of
/// 8, then one channel at a time (so 24 channels under AVX-512 are one vector of 16
/// and one of 8, not a scalar loop).
#[inline(always)]
pub fn over_lanes<V: Vector>(len: usize, work: &mut impl Lanes) {
    let mut start = 0;
    while start + V::LANES <= len {
        work.run::<V>(start);
        start += V::LANES;
    }
    while start + 8 <= len {
        work.run::<V::Eight>(start);
        start += 8;
    }
    while start < len {
        work.run::<f32>(start);
        start += 1;
    }
}

/// Eight lanes in plain Rust, for CPUs without AVX2 (and other architectures).
#[derive(Clone, Copy)]
pub struct Scalar8([f32; 8]);

impl Vector for Scalar8 {
    const LANES: usize = 8;
    #[inline(always)]
    fn zero() -> Self {
        Scalar8([0.0; 8])
    }
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Scalar8([v; 8])
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        Scalar8(s[..8].try_into().expect("8 values"))
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        s[..8].copy_from_slice(&self.0);
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        Scalar8(std::array::from_fn(|i| self.0[i] + a.0[i] * b.0[i]))
    }
    #[inline(always)]
    fn add_to(self, s: &mut [f32]) {
        s[..8].iter_mut().zip(self.0).for_each(|(o, v)| *o += v);
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        Scalar8(std::array::from_fn(|i| self.0[i] + other.0[i]))
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        Scalar8(std::array::from_fn(|i| self.0[i].max_rule(other.0[i])))
    }
    #[inline(always)]
    fn zero_where_nonpositive(self, gate: Self) -> Self {
        Scalar8(std::array::from_fn(|i| {
            self.0[i].zero_where_nonpositive(gate.0[i])
        }))
    }
    #[inline(always)]
    fn split_eq(self, a: Self, b: Self) -> (Self, Self) {
        let parts: [(f32, f32); 8] = std::array::from_fn(|i| self.0[i].split_eq(a.0[i], b.0[i]));
        (Scalar8(parts.map(|p| p.0)), Scalar8(parts.map(|p| p.1)))
    }
    #[inline(always)]
    fn running_max(self, best: Self, at: Self, here: Self) -> (Self, Self) {
        let parts: [(f32, f32); 8] =
            std::array::from_fn(|i| self.0[i].running_max(best.0[i], at.0[i], here.0[i]));
        (Scalar8(parts.map(|p| p.0)), Scalar8(parts.map(|p| p.1)))
    }
    type Eight = Scalar8;
}

/// A vector `V` and an eight-lane vector side by side: `V::LANES + 8` lanes, 24 under
/// AVX-512. Where a row is 24 values long (`speedrun`'s 24 filters), it takes two
/// instructions a step instead of three eight-lane ones: Intel's AVX-512 cores run two
/// multiply-adds a cycle at either width, so the narrow vectors did a third less work
/// a cycle. Every lane's arithmetic is the same as in either part alone.
#[derive(Clone, Copy)]
pub struct WithEight<V: Vector>(V, V::Eight);

impl<V: Vector> Vector for WithEight<V> {
    const LANES: usize = V::LANES + 8;
    #[inline(always)]
    fn zero() -> Self {
        WithEight(V::zero(), V::Eight::zero())
    }
    #[inline(always)]
    fn splat(v: f32) -> Self {
        WithEight(V::splat(v), V::Eight::splat(v))
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        WithEight(V::load(s), V::Eight::load(&s[V::LANES..]))
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        self.0.store(s);
        self.1.store(&mut s[V::LANES..]);
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        WithEight(self.0.mul_add(a.0, b.0), self.1.mul_add(a.1, b.1))
    }
    #[inline(always)]
    fn add_to(self, s: &mut [f32]) {
        self.0.add_to(s);
        self.1.add_to(&mut s[V::LANES..]);
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        WithEight(self.0.add(other.0), self.1.add(other.1))
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        WithEight(self.0.max(other.0), self.1.max(other.1))
    }
    #[inline(always)]
    fn zero_where_nonpositive(self, gate: Self) -> Self {
        WithEight(
            self.0.zero_where_nonpositive(gate.0),
            self.1.zero_where_nonpositive(gate.1),
        )
    }
    #[inline(always)]
    fn split_eq(self, a: Self, b: Self) -> (Self, Self) {
        let (wide, eight) = (self.0.split_eq(a.0, b.0), self.1.split_eq(a.1, b.1));
        (WithEight(wide.0, eight.0), WithEight(wide.1, eight.1))
    }
    #[inline(always)]
    fn running_max(self, best: Self, at: Self, here: Self) -> (Self, Self) {
        let wide = self.0.running_max(best.0, at.0, here.0);
        let eight = self.1.running_max(best.1, at.1, here.1);
        (WithEight(wide.0, eight.0), WithEight(wide.1, eight.1))
    }
    type Eight = V::Eight;
}

/// One lane, for the values left over after the vectors. Its multiply-add is fused
/// (`f32::mul_add`), as the vector instruction sets' are.
impl Vector for f32 {
    const LANES: usize = 1;
    #[inline(always)]
    fn zero() -> Self {
        0.0
    }
    #[inline(always)]
    fn splat(v: f32) -> Self {
        v
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        s[0]
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        s[0] = self;
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        a.mul_add(b, self)
    }
    #[inline(always)]
    fn add_to(self, s: &mut [f32]) {
        s[0] += self;
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self + other
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        self.max_rule(other)
    }
    #[inline(always)]
    fn zero_where_nonpositive(self, gate: Self) -> Self {
        if gate <= 0.0 { 0.0 } else { self }
    }
    #[inline(always)]
    fn split_eq(self, a: Self, b: Self) -> (Self, Self) {
        if a == b { (self, 0.0) } else { (0.0, self) }
    }
    #[inline(always)]
    fn running_max(self, best: Self, at: Self, here: Self) -> (Self, Self) {
        if self > best {
            (self, here)
        } else {
            (best, at)
        }
    }
    type Eight = Scalar8;
}

/// The x86 `max` instruction's rule on one lane, which [`Vector::max`] follows on
/// every instruction set.
trait MaxRule {
    fn max_rule(self, other: Self) -> Self;
}

impl MaxRule for f32 {
    #[inline(always)]
    fn max_rule(self, other: f32) -> f32 {
        if self > other { self } else { other }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Vector;
    use std::arch::x86_64::*;

    // SAFETY (every block below): the slice holds at least LANES values (checked by
    // the indexing), and the instruction set is enabled where these are inlined.
    impl Vector for __m256 {
        const LANES: usize = 8;
        #[inline(always)]
        fn zero() -> Self {
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        fn splat(v: f32) -> Self {
            unsafe { _mm256_set1_ps(v) }
        }
        #[inline(always)]
        fn load(s: &[f32]) -> Self {
            unsafe { _mm256_loadu_ps(s[..8].as_ptr()) }
        }
        #[inline(always)]
        fn store(self, s: &mut [f32]) {
            unsafe { _mm256_storeu_ps(s[..8].as_mut_ptr(), self) }
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            unsafe { _mm256_fmadd_ps(a, b, self) }
        }
        #[inline(always)]
        fn add_to(self, s: &mut [f32]) {
            unsafe { _mm256_add_ps(Self::load(s), self) }.store(s)
        }
        #[inline(always)]
        fn add(self, other: Self) -> Self {
            unsafe { _mm256_add_ps(self, other) }
        }
        #[inline(always)]
        fn max(self, other: Self) -> Self {
            unsafe { _mm256_max_ps(self, other) }
        }
        #[inline(always)]
        fn zero_where_nonpositive(self, gate: Self) -> Self {
            unsafe {
                let off = _mm256_cmp_ps::<_CMP_LE_OQ>(gate, _mm256_setzero_ps());
                _mm256_andnot_ps(off, self)
            }
        }
        #[inline(always)]
        fn split_eq(self, a: Self, b: Self) -> (Self, Self) {
            unsafe {
                let eq = _mm256_cmp_ps::<_CMP_EQ_OQ>(a, b);
                (_mm256_and_ps(eq, self), _mm256_andnot_ps(eq, self))
            }
        }
        #[inline(always)]
        fn running_max(self, best: Self, at: Self, here: Self) -> (Self, Self) {
            unsafe {
                let gt = _mm256_cmp_ps::<_CMP_GT_OQ>(self, best);
                (
                    _mm256_blendv_ps(best, self, gt),
                    _mm256_blendv_ps(at, here, gt),
                )
            }
        }
        type Eight = __m256;
    }

    impl Vector for __m512 {
        const LANES: usize = 16;
        #[inline(always)]
        fn zero() -> Self {
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        fn splat(v: f32) -> Self {
            unsafe { _mm512_set1_ps(v) }
        }
        #[inline(always)]
        fn load(s: &[f32]) -> Self {
            unsafe { _mm512_loadu_ps(s[..16].as_ptr()) }
        }
        #[inline(always)]
        fn store(self, s: &mut [f32]) {
            unsafe { _mm512_storeu_ps(s[..16].as_mut_ptr(), self) }
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            unsafe { _mm512_fmadd_ps(a, b, self) }
        }
        #[inline(always)]
        fn add_to(self, s: &mut [f32]) {
            unsafe { _mm512_add_ps(Self::load(s), self) }.store(s)
        }
        #[inline(always)]
        fn add(self, other: Self) -> Self {
            unsafe { _mm512_add_ps(self, other) }
        }
        #[inline(always)]
        fn max(self, other: Self) -> Self {
            unsafe { _mm512_max_ps(self, other) }
        }
        #[inline(always)]
        fn zero_where_nonpositive(self, gate: Self) -> Self {
            unsafe {
                let on = _mm512_cmp_ps_mask::<_CMP_NLE_UQ>(gate, _mm512_setzero_ps());
                _mm512_maskz_mov_ps(on, self)
            }
        }
        #[inline(always)]
        fn split_eq(self, a: Self, b: Self) -> (Self, Self) {
            unsafe {
                let eq = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a, b);
                (
                    _mm512_maskz_mov_ps(eq, self),
                    _mm512_maskz_mov_ps(!eq, self),
                )
            }
        }
        #[inline(always)]
        fn running_max(self, best: Self, at: Self, here: Self) -> (Self, Self) {
            unsafe {
                let gt = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(self, best);
                (
                    _mm512_mask_mov_ps(best, gt, self),
                    _mm512_mask_mov_ps(at, gt, here),
                )
            }
        }
        type Eight = __m256;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lanes covering the edge cases of the element-wise operations: ties, signed
    /// zeros, NaNs, both signs.
    const A: [f32; 16] = [
        1.0,
        -2.0,
        0.0,
        -0.0,
        f32::NAN,
        3.0,
        5.0,
        -1.0,
        0.5,
        2.0,
        -0.0,
        7.0,
        f32::NAN,
        1.0,
        -3.0,
        0.0,
    ];
    const B: [f32; 16] = [
        1.0,
        2.0,
        -0.0,
        0.0,
        1.0,
        f32::NAN,
        -5.0,
        -1.0,
        0.25,
        2.0,
        0.0,
        -7.0,
        f32::NAN,
        4.0,
        -3.0,
        -1.0,
    ];

    /// The element-wise operations of one vector type, lane by lane, as bits.
    fn ops<V: Vector>() -> Vec<[u32; 7]> {
        let mut out = Vec::new();
        // A and B three times over: 48 lanes, a whole number of vectors of 1, 8, 16
        // and 24.
        let (a3, b3): (Vec<f32>, Vec<f32>) = (A.repeat(3), B.repeat(3));
        for i in (0..48).step_by(V::LANES) {
            let (a, b) = (V::load(&a3[i..]), V::load(&b3[i..]));
            let d = V::splat(0.75);
            let (won, rest) = d.split_eq(a, b);
            let (m, at) = a.running_max(b, V::splat(0.5), V::splat(1.5));
            let mut lanes = [[0.0f32; 24]; 7];
            a.add(b).store(&mut lanes[0]);
            a.max(b).store(&mut lanes[1]);
            d.zero_where_nonpositive(a).store(&mut lanes[2]);
            won.store(&mut lanes[3]);
            rest.store(&mut lanes[4]);
            m.store(&mut lanes[5]);
            at.store(&mut lanes[6]);
            out.extend((0..V::LANES).map(|l| std::array::from_fn(|k| lanes[k][l].to_bits())));
        }
        out
    }

    /// Every vector type computes the same bits as one plain lane: the kernels' results
    /// do not depend on which run of channels a value falls in.
    #[test]
    fn element_wise_operations_agree_across_widths() {
        let one = ops::<f32>();
        // The rules themselves, on one lane: max takes the second operand on NaN and
        // ties; the relu gate keeps NaN gates; split_eq routes only equal lanes.
        assert_eq!(f32::from_bits(one[4][1]), 1.0); // max(NaN, 1) = 1
        assert!(f32::from_bits(one[5][1]).is_nan()); // max(3, NaN) = NaN
        assert_eq!(one[3][1], 0.0f32.to_bits()); // max(-0, 0) = 0 (the second)
        assert_eq!(f32::from_bits(one[1][2]), 0.0); // gate -2: zero
        assert_eq!(f32::from_bits(one[4][2]), 0.75); // gate NaN: kept
        assert_eq!(f32::from_bits(one[3][2]), 0.0); // gate -0: zero
        assert_eq!((one[2][3], one[2][4]), (0.75f32.to_bits(), 0)); // 0 == -0: won
        assert_eq!((one[12][3], one[12][4]), (0, 0.75f32.to_bits())); // NaN: not won
        // running_max's maximum is max's, lane for lane; it moves only when larger.
        assert!(one.iter().all(|lane| lane[5] == lane[1]));
        assert_eq!(f32::from_bits(one[0][6]), 0.5); // 1 > 1: a tie keeps
        assert_eq!(f32::from_bits(one[6][6]), 1.5); // 5 > -5: moves
        assert_eq!(f32::from_bits(one[3][6]), 0.5); // -0 > 0: no
        assert_eq!(f32::from_bits(one[4][6]), 0.5); // NaN > 1: no
        assert_eq!(ops::<Scalar8>(), one);
        assert_eq!(ops::<WithEight<Scalar8>>(), one);
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            fn avx2() -> Vec<[u32; 7]> {
                ops::<std::arch::x86_64::__m256>()
            }
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            fn avx512() -> Vec<[u32; 7]> {
                ops::<std::arch::x86_64::__m512>()
            }
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            fn avx512_with_eight() -> Vec<[u32; 7]> {
                ops::<WithEight<std::arch::x86_64::__m512>>()
            }
            if isa() != Isa::Baseline {
                // SAFETY: isa() found AVX2 and FMA on this CPU.
                assert_eq!(unsafe { avx2() }, one);
            }
            if isa() == Isa::Avx512 {
                // SAFETY: isa() found AVX-512 F/VL on this CPU.
                assert_eq!(unsafe { avx512() }, one);
                // SAFETY: as above.
                assert_eq!(unsafe { avx512_with_eight() }, one);
            }
        }
    }

    #[test]
    fn a_cap_never_widens() {
        assert_eq!(Isa::Avx2.capped_at(Isa::Avx512), Isa::Avx2);
        assert_eq!(Isa::Avx512.capped_at(Isa::Avx2), Isa::Avx2);
        assert_eq!(Isa::Avx512.capped_at(Isa::Baseline), Isa::Baseline);
    }
}
