//! `scrawl lr-find`: the learning-rate range test on a fresh model, drawn as a chart.
//! It trains a throwaway copy of the architecture, so it leaves no run folder and
//! changes no saved model.

use std::path::PathBuf;

use serde_json::json;

use super::{DataArgs, Overwrite, model_config};
use scrawl::model::Sequential;
use scrawl::optim::OptimizerConfig;
use scrawl::plot::{self, LrFinderChart};
use scrawl::train::{LrFindOptions, lr_find};

/// Flags of `scrawl lr-find`.
#[derive(clap::Args)]
pub struct LrFindArgs {
    #[command(flatten)]
    pub compute: super::Threads,
    /// The architecture: a preset, a stack or a model config .json.
    #[arg(long, default_value = "mlp-512")]
    model: String,
    /// sgd, adam, adamw or rmsprop (with its Keras defaults; the rate is swept).
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Images per step.
    #[arg(long, default_value_t = 64, value_parser = super::batch_size_arg)]
    batch_size: usize,
    /// The first step's learning rate.
    #[arg(long, default_value_t = 1e-7, value_parser = super::finite_f32)]
    start_lr: f32,
    /// The last step's learning rate (the test stops earlier when the loss diverges).
    #[arg(long, default_value_t = 10.0, value_parser = super::finite_f32)]
    end_lr: f32,
    /// Steps from the first rate to the last.
    #[arg(long, default_value_t = 100, value_parser = super::steps_arg)]
    steps: usize,
    /// Seed of the weights and of the batches' order.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The chart (.png or .svg).
    #[arg(long, default_value = "lr-find.png")]
    out: PathBuf,
    #[command(flatten)]
    overwrite: Overwrite,
    /// Print one JSON object (rates, losses, suggestion) instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `scrawl lr-find`.
pub fn run(a: LrFindArgs) -> anyhow::Result<()> {
    plot::Format::of(&a.out)?;
    a.overwrite.check(&a.out)?;
    let optimizer = OptimizerConfig::by_name(&a.optimizer)?;
    let opts = LrFindOptions {
        start_lr: a.start_lr,
        end_lr: a.end_lr,
        steps: a.steps,
        batch_size: a.batch_size,
        seed: a.seed,
    };
    opts.validate()?;
    let mut model = Sequential::new(model_config(&a.model)?, a.seed)?;
    model.compile(&optimizer, Default::default())?;
    let sets = a.data.load()?;
    let train = sets.train()?;
    let found = lr_find(&mut model, train, &opts)?;
    let chart = LrFinderChart {
        title: format!("{}, {} (batch {})", a.model, a.optimizer, a.batch_size),
        learning_rates: found.learning_rates.clone(),
        losses: found.losses.clone(),
        smoothed: found.smoothed.clone(),
        suggestion: found.suggestion,
    };
    plot::save(&chart, &a.out)?;
    let last = found.learning_rates.last().copied().unwrap_or(a.start_lr);
    if a.json {
        println!(
            "{}",
            json!({
                "suggestion": found.suggestion,
                "learning_rates": found.learning_rates,
                "losses": found.losses,
                "smoothed": found.smoothed,
                "chart": a.out,
            })
        );
        return Ok(());
    }
    println!(
        "{} steps from {:.1e} to {last:.1e}{}",
        found.losses.len(),
        a.start_lr,
        if found.losses.len() < a.steps {
            " (stopped: the loss diverged)"
        } else {
            ""
        }
    );
    match found.suggestion {
        Some(lr) => println!(
            "Suggested learning rate: {lr:.1e} (steepest descent of the smoothed loss): scrawl train --model {} --optimizer {} --lr {lr:.1e}",
            a.model, a.optimizer
        ),
        None => println!("No suggestion: too few steps before the loss diverged; lower --start-lr"),
    }
    println!("Wrote {}", a.out.display());
    Ok(())
}
