//! `small_matmul`, the Winograd products' kernel, on one thread with its operands in
//! cache, at the shapes of `speedrun`'s and `cnn-best`'s Winograd layers (a band of
//! tiles × channels × filters; `dW` with `a` transposed and the tiles as `k`). Prints
//! GFLOP/s, to read against one core's peak: 32 FLOP a cycle under AVX2, 64 under
//! AVX-512 (run with `SCRAWL_ISA=avx2` to hold scrawl's kernels to AVX2).
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
    // (m, k, n, a transposed): forward and `dx` shapes, then `dW` shapes.
    let shapes = [
        (60, 24, 32, false),
        (96, 32, 32, false),
        (96, 64, 64, false),
        (96, 32, 24, false),
        (24, 120, 32, true),
        (32, 120, 32, true),
        (64, 120, 64, true),
    ];
    for (m, k, n, transposed) in shapes {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
        let mut c = vec![0.0f32; m * n];
        let flop = 2.0 * (m * k * n) as f64;
        let reps = (2e9 / flop) as usize;
        let store = if transposed {
            Store::Accumulate
        } else {
            Store::Overwrite
        };
        let mut best = f64::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            for _ in 0..reps {
                let a = if transposed {
                    Operand::transposed(&a)
                } else {
                    Operand::new(&a)
                };
                small_matmul(Dims { m, k, n }, a, &b, &mut c, store);
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        let gflops = flop * reps as f64 / best / 1e9;
        println!("m {m:3} k {k:3} n {n:3} a transposed {transposed:5}: {gflops:6.1} GFLOP/s");
    }
}
