//! Command-line parsing and dispatch. Each subcommand lives in its own file and only
//! turns flags into library calls and results into text.

mod data_cmd;
mod inspect;
mod train;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use scrawl::data::{self, Mnist};
use scrawl::model::{ModelConfig, Sequential};
use scrawl::presets;

/// Handwritten-digit recognition: load MNIST, train, evaluate, predict.
#[derive(Parser)]
#[command(name = "scrawl", version, about, long_about = None)]
struct Cli {
    /// Worker threads (default: one per core). Same seed + same threads = same weights.
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on MNIST, report its test accuracy and save it.
    Train(train::TrainArgs),
    /// Loss and accuracy of a saved model on the test set.
    Evaluate(inspect::EvaluateArgs),
    /// Class probabilities of one test image.
    Predict(inspect::PredictArgs),
    /// The layer table of a preset, a model config file or a saved model.
    Summary(inspect::SummaryArgs),
    /// List the model presets.
    Presets,
    /// Look at the data.
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
}

/// Where the data comes from (shared by every command that reads MNIST).
#[derive(clap::Args, Clone)]
struct DataArgs {
    /// Folder holding the MNIST IDX files (else $SCRAWL_DATA, ./data/mnist, ../shared/data/mnist).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Never download MNIST; fail if it is not found locally.
    #[arg(long)]
    no_download: bool,
}

impl DataArgs {
    fn load(&self) -> anyhow::Result<Mnist> {
        let dir = data::locate_or_download(self.data.as_deref(), !self.no_download)?;
        Ok(data::load_mnist(&dir)?)
    }
}

/// A model architecture from a preset name, `mlp:...`, or a config JSON file.
fn model_config(spec: &str) -> anyhow::Result<ModelConfig> {
    let path = Path::new(spec);
    if spec.ends_with(".json") || (path.is_file() && !spec.ends_with(".safetensors")) {
        return Ok(ModelConfig::from_json_file(path)?);
    }
    Ok(presets::preset(spec)?)
}

/// Loads a saved model file, with a hint when the user passed a preset name instead.
fn load_model(
    path: &Path,
) -> anyhow::Result<(
    Sequential,
    std::collections::BTreeMap<String, serde_json::Value>,
)> {
    if !path.exists() && presets::preset(&path.to_string_lossy()).is_ok() {
        anyhow::bail!(
            "{} is a preset name, not a model file: train it first (scrawl train --model {0})",
            path.display()
        );
    }
    Ok(Sequential::load_with_info(path)?)
}

/// Runs the command line; errors are printed as one message, never a panic.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = scrawl::init_threads(cli.threads) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Train(a) => train::run(a),
        Command::Evaluate(a) => inspect::evaluate(a),
        Command::Predict(a) => inspect::predict(a),
        Command::Summary(a) => inspect::summary(a),
        Command::Presets => {
            for (name, desc) in presets::PRESETS {
                println!("{name:<26}{desc}");
            }
            println!("{:<26}any relu MLP, e.g. mlp:256,128", "mlp:H1,H2,...");
            println!(
                "{:<26}a model config file (see docs/ARCHITECTURE.md)",
                "FILE.json"
            );
            Ok(())
        }
        Command::Data(c) => data_cmd::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
