//! `scrawl bench`: training and inference speed against this machine's GEMM peak.

use serde_json::json;

use super::DataArgs;
use scrawl::bench::{bench_model, gemm_peak};

/// Flags of `scrawl bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub compute: super::Threads,
    /// Presets to measure (repeat the flag); default mlp-512 and cnn.
    #[arg(long)]
    model: Vec<String>,
    /// Training batch size (default: 200 for MLPs, 128 for CNNs, as the tutorials).
    #[arg(long, value_parser = super::batch_size_arg)]
    batch_size: Option<usize>,
    /// Timed repetitions of each measurement (the median is reported).
    #[arg(long, default_value_t = 5, value_parser = super::repeats_arg)]
    repeats: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `scrawl bench`.
pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    let models = if a.model.is_empty() {
        vec!["mlp-512".to_string(), "cnn".to_string()]
    } else {
        a.model.clone()
    };
    for m in &models {
        scrawl::presets::preset(m)?;
    }
    if a.repeats == 0 || a.batch_size == Some(0) {
        anyhow::bail!("--repeats and --batch-size must be at least 1");
    }
    let sets = a.data.load()?;
    let train = sets.train()?;
    let threads = rayon::current_num_threads();
    let peak_before = gemm_peak();
    let mut results = Vec::new();
    for m in &models {
        let batch = a
            .batch_size
            .unwrap_or(if m.starts_with("mlp") || m == "dlfs" {
                200
            } else {
                128
            });
        if !a.json {
            eprintln!(
                "measuring {m} (batch {batch}, {} repetitions)...",
                a.repeats
            );
        }
        results.push(bench_model(m, train, batch, a.repeats)?);
    }
    let peak = peak_before.max(gemm_peak());
    if a.json {
        println!(
            "{}",
            json!({"threads": threads, "gemm_peak_gflops": peak, "models": results})
        );
        return Ok(());
    }
    println!("{threads} threads; GEMM peak (1536³ sgemm, same run, best of 5): {peak:.1} GFLOP/s");
    println!("medians of {} repetitions, [min-max]", a.repeats);
    println!(
        "inference GFLOP/s count the direct products' flops: skipped zero pixels and\n\
         Winograd convolutions do less arithmetic, so they can pass the GEMM peak\n"
    );
    for r in &results {
        let t = &r.train_images_per_s;
        let i = &r.infer_images_per_s;
        let l = &r.latency_ms;
        println!("{} ({} parameters)", r.model, r.params);
        println!(
            "  training, batch {:>4}: {:>9.0} images/s [{:.0}-{:.0}]  {:>6.2} s/epoch  {:>6.1} GFLOP/s  {:>4.0}% of peak",
            r.batch_size,
            t.median,
            t.min,
            t.max,
            r.epoch_seconds,
            r.train_gflops,
            100.0 * r.train_gflops / peak
        );
        println!(
            "  inference, batch 1000: {:>9.0} images/s [{:.0}-{:.0}]  {:>6.1} GFLOP/s  {:>4.0}% of peak",
            i.median,
            i.min,
            i.max,
            r.infer_gflops,
            100.0 * r.infer_gflops / peak
        );
        println!(
            "  inference, batch 1:    {:>9.3} ms/image [{:.3}-{:.3}]",
            l.median, l.min, l.max
        );
    }
    Ok(())
}
