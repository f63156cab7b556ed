//! The optimizers' update alone, on `mlp-512-512`'s parameters (669,706 weights): the
//! part of a batch-32 training step that issue 29's `mlp-512-512` ratio turns on.
//! Prints microseconds a step for each optimizer, with its state and the weights warm
//! in cache (updates back to back) and cold (64 MiB streamed through the cache before
//! each update, as the rest of a step would do at worst). The first kernel's gradient
//! has the zero rows a batch of 32 MNIST images gives it. Run: `cargo bench --bench
//! optimizer`.

use std::time::Instant;

use scrawl::layers::Param;
use scrawl::optim::{Adam, Optimizer, RmsProp, Sgd};

/// `mlp-512-512`'s kernels and biases.
const SHAPES: [&[usize]; 6] = [&[784, 512], &[512], &[512, 512], &[512], &[512, 10], &[10]];

/// Makes a fresh optimizer of one kind.
type MakeOptimizer = fn() -> Box<dyn Optimizer>;

/// Steps timed per measurement.
const STEPS: usize = 500;

fn params() -> Vec<Param> {
    SHAPES
        .iter()
        .enumerate()
        .map(|(i, shape)| {
            let n: usize = shape.iter().product();
            let value = (0..n)
                .map(|j| ((i + j) % 17) as f32 * 0.01 - 0.08)
                .collect();
            Param::new("kernel", shape.to_vec(), value)
        })
        .collect()
}

/// Microseconds per step over [`STEPS`] steps; `evict` streams that buffer before each.
fn time(opt: &mut dyn Optimizer, params: &mut [Param], mut evict: Option<&mut Vec<f32>>) -> f64 {
    let mut total = 0.0;
    for step in 0..STEPS {
        // A gradient that changes from step to step, as a real one does, written
        // over the spent one as a backward pass writes it; the first kernel's rows
        // for pixels no image of a batch of 32 has (two fifths of them) are zeros.
        for (i, p) in params.iter_mut().enumerate() {
            let scale = 1e-3 * (1 + step % 5) as f32;
            for (j, g) in p.grad.iter_mut().enumerate() {
                let row = j / 512;
                let absent = i == 0 && (row * 7919 + step * 13) % 100 < 41;
                *g = if absent {
                    0.0
                } else {
                    ((j % 13) as f32 - 6.0) * scale
                };
            }
            p.grad_stale = false;
        }
        if let Some(buf) = evict.as_deref_mut() {
            buf.iter_mut().for_each(|v| *v += 1.0);
            std::hint::black_box(&buf);
        }
        let start = Instant::now();
        opt.begin_step();
        for (slot, p) in params.iter_mut().enumerate() {
            opt.apply_and_spend(slot, p);
        }
        total += start.elapsed().as_secs_f64();
    }
    total / STEPS as f64 * 1e6
}

/// Buffers start on cache lines, as in the `scrawl` binary
/// (`scrawl::kernels::aligned`), so the figures are the command's.
#[global_allocator]
static ALLOCATOR: scrawl::kernels::CacheLineAligned = scrawl::kernels::CacheLineAligned;

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool");
    let mut evict = vec![0.0f32; 16 << 20];
    println!("optimizer update of mlp-512-512's 669,706 weights, {threads} threads, µs a step");
    println!("{:<10} {:>10} {:>10}", "optimizer", "warm", "cold");
    pool.install(|| {
        let optimizers: [(&str, MakeOptimizer); 3] = [
            ("sgd", || Box::new(Sgd::new(0.01, 0.9, false, 0.0))),
            ("rmsprop", || Box::new(RmsProp::new(0.001, 0.9, 1e-7, 0.0))),
            ("adam", || Box::new(Adam::new(0.001, 0.9, 0.999, 1e-7, 0.0))),
        ];
        for (name, make) in optimizers {
            let mut params = params();
            let mut opt = make();
            time(opt.as_mut(), &mut params, None); // the state's first allocation
            let warm = time(opt.as_mut(), &mut params, None);
            let cold = time(opt.as_mut(), &mut params, Some(&mut evict));
            println!("{name:<10} {warm:>10.1} {cold:>10.1}");
        }
    });
}
