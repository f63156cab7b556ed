//! `scrawl bench`: how fast a model trains and infers on this machine, against the
//! machine's own GEMM peak measured in the same run. Every figure is the median of
//! several timed repetitions after a warm-up, with the spread (min-max).

use std::time::Instant;

use serde::Serialize;

use crate::data::Dataset;
use crate::error::Result;
use crate::kernels::{Dims, Operand, Store, matmul, on_pool};
use crate::loss::Loss;
use crate::model::Sequential;
use crate::optim::OptimizerConfig;
use crate::presets::preset;

/// A median with its spread.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stats {
    /// The median.
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Stats {
    /// Of a non-empty sample.
    pub fn of(mut v: Vec<f64>) -> Stats {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Stats {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// GFLOP/s of a 1536³ single-precision product through scrawl's GEMM on all threads,
/// best of five after a warm-up: the ceiling the other figures are read against.
pub fn gemm_peak() -> f64 {
    let n = 1536;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.1).collect();
    let b = a.clone();
    let mut c = vec![0.0f32; n * n];
    let flops = 2.0 * (n * n * n) as f64;
    on_pool(|| {
        matmul(
            Dims { m: n, k: n, n },
            Operand::new(&a),
            Operand::new(&b),
            &mut c,
            Store::Overwrite,
        );
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            matmul(
                Dims { m: n, k: n, n },
                Operand::new(&a),
                Operand::new(&b),
                &mut c,
                Store::Overwrite,
            );
            best = best.min(t.elapsed().as_secs_f64());
        }
        flops / best / 1e9
    })
}

/// One model's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ModelBench {
    /// The preset.
    pub model: String,
    /// Parameters.
    pub params: usize,
    /// Training batch size.
    pub batch_size: usize,
    /// Training images per second (Adam).
    pub train_images_per_s: Stats,
    /// Seconds per 60,000-image epoch at the median rate (training steps only).
    pub epoch_seconds: f64,
    /// GFLOP/s of training at the median rate.
    pub train_gflops: f64,
    /// Milliseconds to predict one image (batch 1).
    pub latency_ms: Stats,
    /// Inference images per second at batch 1000.
    pub infer_images_per_s: Stats,
    /// GFLOP/s of inference at batch 1000.
    pub infer_gflops: f64,
}

fn time_reps(reps: usize, mut f: impl FnMut()) -> Vec<f64> {
    f(); // warm-up: buffers grow to size, caches fill
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect()
}

/// Measures `model` (a preset name) on `data` (MNIST's training images): training at
/// `batch_size` with Adam, inference at batch 1 and 1000, `reps` repetitions each.
pub fn bench_model(
    name: &str,
    data: &Dataset,
    batch_size: usize,
    reps: usize,
) -> Result<ModelBench> {
    let mut model = Sequential::new(preset(name)?, 1)?;
    model.compile(&OptimizerConfig::adam(), Loss::default())?;
    let train_flops = model.training_flops_per_item() as f64;
    let infer_flops = model.inference_flops_per_item() as f64;
    let reps = reps.max(1);
    on_pool(|| -> Result<ModelBench> {
        // Enough steps per repetition for about half a second.
        let batch: Vec<usize> = (0..batch_size).map(|i| i % data.len()).collect();
        model.train_on_batch(data, &batch)?;
        let t = Instant::now();
        model.train_on_batch(data, &batch)?;
        let steps = ((0.5 / t.elapsed().as_secs_f64()) as usize).clamp(2, 400);
        let batches: Vec<Vec<usize>> = (0..steps)
            .map(|s| {
                (0..batch_size)
                    .map(|i| (s * batch_size + i) % data.len())
                    .collect()
            })
            .collect();
        let mut failed = None;
        let secs = time_reps(reps, || {
            for b in &batches {
                if let Err(e) = model.train_on_batch(data, b) {
                    failed = Some(e);
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        let train = Stats::of(
            secs.iter()
                .map(|s| (steps * batch_size) as f64 / s)
                .collect(),
        );

        let one: Vec<f32> = data.image(0).iter().map(|&p| p as f32 / 255.0).collect();
        let t = Instant::now();
        model.predict_values(&one)?;
        let singles = ((0.3 / t.elapsed().as_secs_f64().max(1e-6)) as usize).clamp(10, 5000);
        let lat = time_reps(reps, || {
            for _ in 0..singles {
                let _ = model.predict_values(&one);
            }
        });
        let latency = Stats::of(lat.iter().map(|s| s / singles as f64 * 1e3).collect());

        let thousand = data.take(1000);
        let inf = time_reps(reps, || {
            let _ = model.predict(&thousand, 1000);
        });
        let infer = Stats::of(inf.iter().map(|s| thousand.len() as f64 / s).collect());
        Ok(ModelBench {
            model: name.to_string(),
            params: model.param_count(),
            batch_size,
            train_images_per_s: train,
            epoch_seconds: 60000.0 / train.median,
            train_gflops: train.median * train_flops / 1e9,
            latency_ms: latency,
            infer_images_per_s: infer,
            infer_gflops: infer.median * infer_flops / 1e9,
        })
    })
}
