//! Training-step throughput of a model (default: `cnn` at batch 128 with Adam), and
//! the machine's GEMM peak measured in the same run, so the achieved GFLOP/s can be
//! read as a fraction of what this CPU can do.
//!
//! Run: `cargo bench --bench train_step [-- MODEL BATCH STEPS]`, e.g.
//! `cargo bench --bench train_step -- convnet 128 100`.

mod common;

use std::time::Instant;

use scrawl::bench::gemm_peak;
use scrawl::kernels::on_pool;
use scrawl::loss::Loss;
use scrawl::model::Sequential;
use scrawl::optim::OptimizerConfig;

/// Buffers start on cache lines, as in the `scrawl` binary
/// (`scrawl::kernels::aligned`), so the figures are the command's.
#[global_allocator]
static ALLOCATOR: scrawl::kernels::CacheLineAligned = scrawl::kernels::CacheLineAligned;

fn main() {
    let args = common::args();
    let model_name = args.first().map_or("cnn", |s| s.as_str());
    let batch: usize = common::arg(&args, 1, 128, "BATCH");
    let steps: usize = common::arg(&args, 2, 40, "STEPS");
    let threads = scrawl::init_threads(None).unwrap();

    let data = common::mnist_train();
    let cfg = scrawl::presets::preset(model_name).unwrap();
    let mut model = Sequential::new(cfg, 1).unwrap();
    model
        .compile(&OptimizerConfig::by_name("adam").unwrap(), Loss::default())
        .unwrap();
    let flops = model.training_flops_per_item() as f64;

    let peak_before = gemm_peak();
    let secs = on_pool(|| {
        let batches: Vec<Vec<usize>> = (0..steps + 3)
            .map(|s| {
                ((s * batch)..((s + 1) * batch))
                    .map(|i| i % data.len())
                    .collect()
            })
            .collect();
        for b in &batches[..3] {
            model.train_on_batch(&data, b).unwrap();
        }
        let t = Instant::now();
        for b in &batches[3..] {
            model.train_on_batch(&data, b).unwrap();
        }
        t.elapsed().as_secs_f64()
    });
    let peak_after = gemm_peak();
    let peak = peak_before.max(peak_after);
    let imgs = (steps * batch) as f64 / secs;
    let gflops = imgs * flops / 1e9;
    println!("model {model_name}, batch {batch}, Adam, {threads} threads, {steps} steps");
    println!(
        "  training: {imgs:.0} images/s, {:.1} ms/step, {:.2} GFLOP per image step, {gflops:.1} GFLOP/s",
        secs / steps as f64 * 1e3,
        flops / 1e9
    );
    println!(
        "  GEMM peak (1536³, same run): {peak:.1} GFLOP/s (before {peak_before:.1}, after {peak_after:.1})"
    );
    println!(
        "  training step at {:.0}% of GEMM peak; one 60,000-image epoch ≈ {:.1} s",
        100.0 * gflops / peak,
        60000.0 / imgs
    );
}
