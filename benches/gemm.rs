//! GEMM candidates at the shapes scrawl uses: the `gemm` crate (what scrawl calls,
//! through `scrawl::kernels::matmul`), and `matrixmultiply` with its threading.
//! Prints GFLOP/s per shape. Run: `cargo bench --bench gemm` (MATMUL_NUM_THREADS sets
//! matrixmultiply's threads; scrawl uses one per core).

use std::time::Instant;

/// `x` as an operand of scrawl's product, transposed or not.
fn operand(x: &[f32], transposed: bool) -> scrawl::kernels::Operand<'_> {
    if transposed {
        scrawl::kernels::Operand::transposed(x)
    } else {
        scrawl::kernels::Operand::new(x)
    }
}

#[allow(clippy::too_many_arguments)] // matrixmultiply's own arguments
fn mm(m: usize, k: usize, n: usize, ta: bool, tb: bool, a: &[f32], b: &[f32], c: &mut [f32]) {
    let (rsa, csa) = if ta { (1, m as isize) } else { (k as isize, 1) };
    let (rsb, csb) = if tb { (1, k as isize) } else { (n as isize, 1) };
    // SAFETY: strides match the buffer sizes allocated below.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

fn time(flops: f64, mut f: impl FnMut()) -> f64 {
    let reps = ((10e9 / flops) as usize).clamp(3, 2000);
    for _ in 0..3 {
        f();
    }
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    flops / best / 1e9
}

/// Buffers start on cache lines, as in the `scrawl` binary
/// (`scrawl::kernels::aligned`), so the figures are the command's.
#[global_allocator]
static ALLOCATOR: scrawl::kernels::CacheLineAligned = scrawl::kernels::CacheLineAligned;

fn main() {
    let threads = scrawl::init_threads(None).unwrap();
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        // SAFETY: set before any other thread reads the environment.
        unsafe { std::env::set_var("MATMUL_NUM_THREADS", threads.to_string()) };
    }
    let shapes = [
        (200, 784, 512, false, false, "mlp-512 fwd  x·W      b200"),
        (784, 200, 512, true, false, "mlp-512 dW   xᵀ·dz    b200"),
        (200, 512, 784, false, true, "mlp-512 dx   dz·Wᵀ    b200"),
        (32, 784, 512, false, false, "mlp fwd               b32"),
        (784, 32, 512, true, false, "mlp dW 784x512        b32"),
        (32, 512, 512, false, true, "mlp dx 512x512        b32"),
        (1024, 1024, 1024, false, false, "square 1024"),
    ];
    println!("{threads} threads; GFLOP/s, best of 3 runs");
    println!(
        "{:32} {:>10} {:>15}",
        "shape (m×k×n)", "gemm", "matrixmultiply"
    );
    for (m, k, n, ta, tb, name) in shapes {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0f32; m * n];
        let flops = 2.0 * (m * k * n) as f64;
        let g = scrawl::kernels::on_pool(|| {
            time(flops, || {
                scrawl::kernels::matmul(
                    scrawl::kernels::Dims { m, k, n },
                    operand(&a, ta),
                    operand(&b, tb),
                    &mut c,
                    scrawl::kernels::Store::Overwrite,
                )
            })
        });
        let x = time(flops, || mm(m, k, n, ta, tb, &a, &b, &mut c));
        println!("{name:32} {g:10.1} {x:15.1}");
    }
    sparse_section();
}

/// The first Dense layer at inference (`scrawl::kernels::sparse_matmul`) against the
/// dense GEMM, on real MNIST images (when found) and on random inputs of set density.
/// GFLOP/s count the dense product's flops, so a figure above the GEMM's is the skip
/// of zeros at work.
fn sparse_section() {
    use scrawl::kernels::{Dims, Operand, Store, matmul, on_pool, sparse_matmul};
    let (m, k, n) = (1000, 784, 512);
    let flops = 2.0 * (m * k * n) as f64;
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 7919) % 1013) as f32 / 1013.0 - 0.5)
        .collect();
    let mut c = vec![0f32; m * n];
    let mut inputs: Vec<(String, Vec<f32>)> = Vec::new();
    let mnist = scrawl::data::find_mnist(None).and_then(|d| scrawl::data::load_mnist(&d));
    if let Ok(data) = mnist {
        let x: Vec<f32> = (0..m)
            .flat_map(|i| {
                data.train
                    .image(i)
                    .iter()
                    .map(|&p| p as f32 / 255.0)
                    .collect::<Vec<_>>()
            })
            .collect();
        let d = x.iter().filter(|&&v| v != 0.0).count() as f64 / x.len() as f64;
        inputs.push((format!("MNIST images (density {d:.2})"), x));
    }
    for density in [0.1, 0.2, 0.3, 0.5, 0.7] {
        let mut seed = 12345u32;
        let x: Vec<f32> = (0..m * k)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if ((seed >> 8) as f64 / (1u32 << 24) as f64) < density {
                    0.5
                } else {
                    0.0
                }
            })
            .collect();
        inputs.push((format!("random, density {density}"), x));
    }
    println!();
    println!("first Dense layer, 1000×784 · 784×512 (GFLOP/s of the dense product)");
    println!("{:32} {:>10} {:>10}", "input", "gemm", "sparse");
    for (name, x) in inputs {
        let (g, s) = on_pool(|| {
            let g = time(flops, || {
                matmul(
                    Dims { m, k, n },
                    Operand::new(&x),
                    Operand::new(&b),
                    &mut c,
                    Store::Overwrite,
                )
            });
            let s = time(flops, || sparse_matmul(m, k, n, &x, &b, &mut c));
            (g, s)
        });
        println!("{name:32} {g:10.1} {s:10.1}");
    }
}
