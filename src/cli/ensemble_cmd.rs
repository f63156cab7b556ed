//! `scrawl ensemble`: several saved models voting with their probabilities.

use std::path::PathBuf;

use anyhow::bail;
use serde_json::json;

use super::{DataArgs, load_model};
use scrawl::model::ensemble::{average, check_members, predict_tta, score};

/// Flags of `scrawl ensemble`.
#[derive(clap::Args)]
pub struct EnsembleArgs {
    #[command(flatten)]
    pub compute: super::Threads,
    /// Model files written by `scrawl train` (at least two).
    #[arg(value_name = "MODEL", required = true, num_args = 1..)]
    models: Vec<PathBuf>,
    /// Also average each model over the test-time augmentations of `evaluate --tta`.
    #[arg(long)]
    tta: bool,
    /// Images per forward pass.
    #[arg(long, default_value_t = 500, value_parser = super::batch_size_arg)]
    batch_size: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `scrawl ensemble`.
pub fn run(a: EnsembleArgs) -> anyhow::Result<()> {
    if a.models.len() < 2 {
        bail!("an ensemble needs at least two models (for one, use scrawl evaluate)");
    }
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let mut models = Vec::with_capacity(a.models.len());
    let mut first_info = None;
    for path in &a.models {
        let (model, info) = load_model(path)?;
        first_info.get_or_insert(info);
        models.push(model);
    }
    let labels: Vec<String> = a.models.iter().map(|p| p.display().to_string()).collect();
    check_members(&models, &labels)?;
    let mnist = a
        .data
        .load_for_model(&a.models[0], &first_info.unwrap_or_default())?;
    let test = mnist.test()?;
    let mut members = Vec::new();
    let mut parts = Vec::new();
    for (path, model) in a.models.iter().zip(models.iter_mut()) {
        let probs = if a.tta {
            predict_tta(model, test, a.batch_size)?
        } else {
            model.predict(test, a.batch_size)?
        };
        let (accuracy, loss, _) = score(&probs, test);
        parts.push(probs);
        if !a.json {
            println!(
                "{:<50} test accuracy {accuracy:.4} - loss {loss:.4}",
                path.display().to_string()
            );
        }
        members.push(json!({"model": path, "accuracy": accuracy, "loss": loss}));
    }
    let (accuracy, loss, correct) = score(&average(&parts), test);
    if a.json {
        println!(
            "{}",
            json!({"members": members, "tta": a.tta, "accuracy": accuracy, "loss": loss, "correct": correct, "count": test.len()})
        );
    } else {
        println!(
            "Ensemble of {} models{}: test loss {loss:.4} - test accuracy {accuracy:.4} ({correct}/{} right)",
            models.len(),
            if a.tta {
                ", each with test-time augmentation"
            } else {
                ""
            },
            test.len()
        );
    }
    Ok(())
}
