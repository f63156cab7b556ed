//! Inference latency of a model on real MNIST images, for profiling (`perf record`):
//! predicts batches of `BATCH` images (default one) for about `SECONDS` seconds and
//! prints the time per batch and per image.
//!
//! Run: `cargo bench --bench infer [-- MODEL BATCH SECONDS]`, e.g.
//! `cargo bench --bench infer -- cnn 1 5`.

mod common;

use std::time::Instant;

use scrawl::model::Sequential;

/// Buffers start on cache lines, as in the `scrawl` binary
/// (`scrawl::kernels::aligned`), so the figures are the command's.
#[global_allocator]
static ALLOCATOR: scrawl::kernels::CacheLineAligned = scrawl::kernels::CacheLineAligned;

fn main() {
    let args = common::args();
    let model_name = args.first().map_or("cnn", |s| s.as_str());
    let batch: usize = common::arg(&args, 1, 1, "BATCH");
    let seconds: f64 = common::arg(&args, 2, 3.0, "SECONDS");
    let threads = scrawl::init_threads(None).unwrap();

    let data = common::mnist_train();
    let model = Sequential::new(scrawl::presets::preset(model_name).unwrap(), 1).unwrap();
    let x: Vec<f32> = (0..batch)
        .flat_map(|i| data.image(i).iter().map(|&p| p as f32 / 255.0))
        .collect();
    model.predict_values(&x).unwrap();
    let (t, mut calls) = (Instant::now(), 0usize);
    while t.elapsed().as_secs_f64() < seconds {
        model.predict_values(&x).unwrap();
        calls += 1;
    }
    let per_call = t.elapsed().as_secs_f64() / calls as f64;
    println!(
        "model {model_name}, batch {batch}, {threads} threads: {:.3} ms per batch, {:.4} ms per image ({calls} batches)",
        per_call * 1e3,
        per_call * 1e3 / batch as f64
    );
}
