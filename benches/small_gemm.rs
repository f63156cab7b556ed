//! `small_matmul`, the Winograd products' kernel, on one thread with its operands in
//! cache, at the shapes of `speedrun`'s and `cnn-best`'s Winograd layers (a band of
//! tiles × channels × filters; `dW` with `a` transposed and the tiles as `k`). Prints
//! GFLOP/s, to read against one core's peak: 32 FLOP a cycle under AVX2, 64 under
//! AVX-512 (run with `SCRAWL_ISA=avx2` to hold scrawl's kernels to AVX2).
//!
//! Each shape runs twice: its operands in L1 (one product over and over), and spread
//! over 36 products' operands in L2, as a band's `n²` products lie in the epoch. A
//! warm-up of half a second comes first: without it the first shapes ran at two
//! thirds of their rate (the core's clock still rising).
//!
//! Run: `cargo bench --bench small_gemm`.

use std::time::Instant;

use scrawl::kernels::{Dims, Operand, Store, small_matmul};

/// Buffers start on cache lines, as in the `scrawl` binary
/// (`scrawl::kernels::aligned`), so the figures are the command's.
#[global_allocator]
static ALLOCATOR: scrawl::kernels::CacheLineAligned = scrawl::kernels::CacheLineAligned;

fn main() {
    println!("instruction set: {}", scrawl::kernels::isa::isa());
    // (m, k, n, a transposed): forward and `dx` shapes, then `dW` shapes; the last
    // nine are `cnn-best`'s bands exactly (its 24×24, 10×10 and 8×8 outputs' forward,
    // `dx` and `dW`, `m` or `k` the tiles a band holds).
    let shapes = [
        (60, 24, 32, false),
        (96, 32, 32, false),
        (96, 64, 64, false),
        (96, 32, 24, false),
        (24, 120, 32, true),
        (32, 120, 32, true),
        (64, 120, 64, true),
        (54, 32, 32, false),
        (56, 32, 32, false),
        (26, 32, 64, false),
        (36, 64, 32, false),
        (28, 64, 64, false),
        (20, 64, 64, false),
        (32, 54, 32, true),
        (32, 26, 64, true),
        (64, 28, 64, true),
    ];
    let warm = Instant::now();
    while warm.elapsed().as_secs_f64() < 0.5 {
        gflops((96, 32, 32, false), 1);
    }
    for (m, k, n, transposed) in shapes {
        for (sets, place) in [(1, "L1"), (36, "L2")] {
            let rate = gflops((m, k, n, transposed), sets);
            println!(
                "m {m:3} k {k:3} n {n:3} a transposed {transposed:5}, in {place}: {rate:6.1} GFLOP/s"
            );
        }
    }
}

/// GFLOP/s of one shape at its best of three, its products' operands in `sets` copies
/// used in turn.
fn gflops((m, k, n, transposed): (usize, usize, usize, bool), sets: usize) -> f64 {
    let a: Vec<f32> = (0..sets * m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..sets * k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; sets * m * n];
    let flop = 2.0 * (m * k * n) as f64;
    let reps = ((2e9 / flop) as usize / sets).max(1);
    let store = if transposed {
        Store::Accumulate
    } else {
        Store::Overwrite
    };
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        for _ in 0..reps {
            for s in 0..sets {
                let a = &a[s * m * k..];
                let a = if transposed {
                    Operand::transposed(a)
                } else {
                    Operand::new(a)
                };
                let (b, c) = (&b[s * k * n..], &mut c[s * m * n..]);
                small_matmul(Dims { m, k, n }, a, b, c, store);
            }
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    flop * (reps * sets) as f64 / best / 1e9
}
