//! Why small-batch training cuts every phase by the same rows (`kernels/owned.rs`):
//! the optimizer's update of `mlp-512-512`'s 669,706 weights (RMSprop's arithmetic,
//! each thread on its own half), after a stand-in for the step before it that touched
//! the same memory either the way scrawl did before row ownership (both threads read
//! all of the weights, as a forward pass split by images does, and each wrote the
//! other's half of the gradient) or as it does now (each thread only its own half).
//! Also prints the machine's cache-line round trip between the pool's two threads:
//! about 60 ns when the host keeps the two virtual CPUs close, about 350 ns when it
//! has put them far apart, which is when the shared pattern costs most.
//!
//! Run: `cargo bench --bench ownership` (µs an update, median of 5 runs of 200), or
//! `cargo bench --bench ownership -- round-trip` for the round trip alone.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

/// `mlp-512-512`'s parameters.
const N: usize = 669_706;

/// Updates timed per run.
const STEPS: usize = 200;

/// Nanoseconds for a cache line to go from thread 0 to thread 1 and back.
fn round_trip(pool: &rayon::ThreadPool) -> f64 {
    const TRIPS: u32 = 100_000;
    let flag = AtomicU32::new(0);
    let times = Mutex::new(0.0);
    pool.broadcast(|ctx| match ctx.index() {
        0 => {
            let start = Instant::now();
            for i in 0..TRIPS {
                flag.store(2 * i + 1, Ordering::Release);
                while flag.load(Ordering::Acquire) != 2 * i + 2 {
                    std::hint::spin_loop();
                }
            }
            *times.lock().unwrap() = start.elapsed().as_secs_f64() * 1e9 / TRIPS as f64;
        }
        1 => {
            for i in 0..TRIPS {
                while flag.load(Ordering::Acquire) != 2 * i + 1 {
                    std::hint::spin_loop();
                }
                flag.store(2 * i + 2, Ordering::Release);
            }
        }
        _ => {}
    });
    times.into_inner().unwrap()
}

/// RMSprop's update of one thread's part.
fn update(w: &mut [f32], g: &[f32], s: &mut [f32]) {
    for ((w, g), s) in w.iter_mut().zip(g).zip(s.iter_mut()) {
        *s = 0.9 * *s + 0.1 * *g * *g;
        *w -= 0.001 * *g / (*s + 1e-7).sqrt();
    }
}

/// Microseconds an update, after a step that touched the memory `shared`ly or not.
fn run(pool: &rayon::ThreadPool, shared: bool) -> f64 {
    let half = N / 2 / 16 * 16;
    let mut w = vec![0.01f32; N];
    let mut g = vec![0.001f32; N];
    let mut s = vec![0.0f32; N];
    let mut total = 0.0;
    for step in 0..STEPS {
        {
            let (g0, g1) = g.split_at_mut(half);
            let halves = [Mutex::new(Some(g0)), Mutex::new(Some(g1))];
            let w = &w;
            pool.broadcast(|ctx| {
                let t = ctx.index();
                if t > 1 {
                    return;
                }
                // The forward pass: all of `w`, or this thread's half.
                let mine = if t == 0 { 0..half } else { half..N };
                let read = if shared { &w[..] } else { &w[mine] };
                let sum: f32 = read.iter().step_by(16).sum();
                // The gradient: the other thread's half, or this thread's.
                let which = if shared { 1 - t } else { t };
                if let Some(part) = halves[which].lock().unwrap().take() {
                    let v = 0.001 + sum * 1e-30 + step as f32 * 1e-9;
                    part.iter_mut().for_each(|x| *x = v);
                }
            });
        }
        let start = Instant::now();
        let (w0, w1) = w.split_at_mut(half);
        let (g0, g1) = g.split_at(half);
        let (s0, s1) = s.split_at_mut(half);
        let parts = [
            Mutex::new(Some((w0, g0, s0))),
            Mutex::new(Some((w1, g1, s1))),
        ];
        pool.broadcast(|ctx| {
            let part = parts
                .get(ctx.index())
                .and_then(|p| p.lock().unwrap().take());
            if let Some((w, g, s)) = part {
                update(w, g, s);
            }
        });
        total += start.elapsed().as_secs_f64();
    }
    std::hint::black_box(&w);
    total / STEPS as f64 * 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Buffers start on cache lines, as in the `scrawl` binary
/// (`scrawl::kernels::aligned`), so the figures are the command's.
#[global_allocator]
static ALLOCATOR: scrawl::kernels::CacheLineAligned = scrawl::kernels::CacheLineAligned;

fn main() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a thread pool of 2");
    let only_round_trip = std::env::args().any(|a| a == "round-trip");
    println!(
        "round trip between the two threads: {:.0} ns",
        round_trip(&pool)
    );
    if only_round_trip {
        return;
    }
    for shared in [true, false] {
        let mut times = Vec::new();
        for _ in 0..5 {
            times.push(run(&pool, shared));
        }
        let name = if shared {
            "read by both, gradient by the other"
        } else {
            "each thread its own rows"
        };
        let all: Vec<String> = times.iter().map(|t| format!("{t:.0}")).collect();
        println!(
            "{name:<38} {:>6.0} µs an update (runs: {})",
            median(times.clone()),
            all.join(" / ")
        );
    }
    println!(
        "round trip between the two threads: {:.0} ns",
        round_trip(&pool)
    );
}
