//! `scrawl evaluate`, `scrawl predict` and `scrawl summary`.

use std::path::{Path, PathBuf};

use anyhow::bail;
use serde_json::json;

use super::{DataArgs, load_model, model_config};
use scrawl::kernels::argmax;
use scrawl::model::Sequential;

/// Flags of `scrawl evaluate`.
#[derive(clap::Args)]
pub struct EvaluateArgs {
    /// A model file written by `scrawl train`.
    #[arg(long)]
    model: PathBuf,
    /// Images per forward pass.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Print JSON (`loss` and `accuracy` at full precision).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `scrawl evaluate`.
pub fn evaluate(a: EvaluateArgs) -> anyhow::Result<()> {
    let (mut model, _) = load_model(&a.model)?;
    let mnist = a.data.load()?;
    let e = model.evaluate(&mnist.test, a.batch_size)?;
    if a.json {
        println!(
            "{}",
            json!({"loss": e.loss, "accuracy": e.accuracy, "correct": e.correct, "count": e.count})
        );
    } else {
        println!(
            "Test loss: {:.4} - test accuracy: {:.4} ({}/{} right)",
            e.loss, e.accuracy, e.correct, e.count
        );
    }
    Ok(())
}

/// Flags of `scrawl predict`.
#[derive(clap::Args)]
pub struct PredictArgs {
    /// A model file written by `scrawl train`.
    #[arg(long)]
    model: PathBuf,
    /// Which image.
    #[arg(long)]
    index: usize,
    /// train or test.
    #[arg(long, default_value = "test")]
    split: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `scrawl predict`.
pub fn predict(a: PredictArgs) -> anyhow::Result<()> {
    let (mut model, _) = load_model(&a.model)?;
    let mnist = a.data.load()?;
    let set = super::data_cmd::split(&mnist, &a.split)?;
    if a.index >= set.len() {
        bail!(
            "--index {} is out of range: the {} set has {} images (0-{})",
            a.index,
            a.split,
            set.len(),
            set.len() - 1
        );
    }
    let one = set.select(&[a.index]);
    let probs = model.predict(&one, 1)?;
    let digit = argmax(&probs);
    let label = one.labels[0];
    if a.json {
        println!(
            "{}",
            json!({"index": a.index, "digit": digit, "label": label, "probabilities": probs})
        );
    } else {
        println!(
            "{} image {}: predicted {digit} (label {label})",
            a.split, a.index
        );
        for (c, p) in probs.iter().enumerate() {
            let bar = "#".repeat((p * 40.0).round() as usize);
            println!("  {c}: {p:.6} {bar}");
        }
    }
    Ok(())
}

/// Flags of `scrawl summary`.
#[derive(clap::Args)]
pub struct SummaryArgs {
    /// A preset, mlp:H1,H2,..., a model config .json or a saved .safetensors model.
    #[arg(long, default_value = "mlp-512")]
    model: String,
}

/// Runs `scrawl summary`.
pub fn summary(a: SummaryArgs) -> anyhow::Result<()> {
    let model = if a.model.ends_with(".safetensors")
        || (Path::new(&a.model).is_file() && !a.model.ends_with(".json"))
    {
        load_model(Path::new(&a.model))?.0
    } else {
        Sequential::new(model_config(&a.model)?, 0)?
    };
    print!("{}", model.summary());
    Ok(())
}
