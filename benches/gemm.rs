//! GEMM candidates at the shapes scrawl uses: the `gemm` crate (what scrawl calls,
//! through `scrawl::kernels::matmul`), and `matrixmultiply` with its threading.
//! Prints GFLOP/s per shape. Run: `cargo bench --bench gemm` (MATMUL_NUM_THREADS sets
//! matrixmultiply's threads; scrawl uses one per core).

use std::time::Instant;

#[allow(clippy::too_many_arguments)] // mirrors matmul's signature
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
                scrawl::kernels::matmul(m, k, n, &a, ta, &b, tb, &mut c, false)
            })
        });
        let x = time(flops, || mm(m, k, n, ta, tb, &a, &b, &mut c));
        println!("{name:32} {g:10.1} {x:15.1}");
    }
}
