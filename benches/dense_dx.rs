//! A Dense layer's `dx = dz · Wᵀ` at `speedrun`'s kernel (800 × 256) over a range of
//! batch (chunk) sizes: `small_matmul_transposed_b` (`W` read in place) against the
//! `gemm` crate (which packs `W` on every call). Prints µs a call and GFLOP/s; the
//! crossover sets `SMALL_DX_BATCH` in `layers/dense.rs`.
//!
//! Run: `cargo bench --bench dense_dx`.

use std::time::Instant;

use scrawl::kernels::{Dims, Operand, Store, matmul, on_pool, small_matmul_transposed_b};

/// Buffers start on cache lines, as in the `scrawl` binary
/// (`scrawl::kernels::aligned`), so the figures are the command's.
#[global_allocator]
static ALLOCATOR: scrawl::kernels::CacheLineAligned = scrawl::kernels::CacheLineAligned;

fn main() {
    let threads = scrawl::init_threads(None).unwrap();
    println!("{threads} threads, W 800 x 256");
    let (k, u) = (800usize, 256usize);
    let w: Vec<f32> = (0..k * u)
        .map(|i| ((i * 7919) % 1013) as f32 / 1013.0 - 0.5)
        .collect();
    for n in [31usize, 64, 75, 96, 128, 160, 200, 256] {
        let dz: Vec<f32> = (0..n * u)
            .map(|i| ((i * 31) % 101) as f32 / 101.0 - 0.5)
            .collect();
        let mut dx = vec![0.0f32; n * k];
        let mut scratch = Vec::new();
        let dims = Dims { m: n, k: u, n: k };
        let gflops = |secs: f64| 2.0 * (n * k * u) as f64 / secs / 1e9;
        let reps = 1000;
        on_pool(|| {
            for _ in 0..50 {
                small_matmul_transposed_b(dims, &dz, &w, &mut dx, &mut scratch);
            }
            let t = Instant::now();
            for _ in 0..reps {
                small_matmul_transposed_b(dims, &dz, &w, &mut dx, &mut scratch);
            }
            let small = t.elapsed().as_secs_f64() / reps as f64;
            let t = Instant::now();
            for _ in 0..reps {
                let wt = Operand::transposed(&w);
                matmul(dims, Operand::new(&dz), wt, &mut dx, Store::Overwrite);
            }
            let gemm = t.elapsed().as_secs_f64() / reps as f64;
            println!(
                "batch {n:3}: small_matmul_transposed_b {:6.1} us ({:5.1} GFLOP/s), gemm {:6.1} us ({:5.1} GFLOP/s)",
                small * 1e6,
                gflops(small),
                gemm * 1e6,
                gflops(gemm)
            );
        });
    }
}
