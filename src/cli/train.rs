//! `scrawl train`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::json;

use super::{DataArgs, model_config};
use scrawl::loss::Loss;
use scrawl::model::io::write_atomic;
use scrawl::model::{FitOptions, Sequential, Verbosity};
use scrawl::optim::OptimizerConfig;

/// Flags of `scrawl train`; absent ones take Keras's defaults.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// A preset (see `scrawl presets`), mlp:H1,H2,... or a model config .json file.
    #[arg(long, default_value = "mlp-512")]
    model: String,
    /// Passes over the training data.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Images per gradient step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// sgd, adam or rmsprop.
    #[arg(long, default_value = "rmsprop")]
    optimizer: String,
    /// Learning rate (default: the optimizer's Keras default).
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f32>,
    /// SGD momentum.
    #[arg(long, allow_negative_numbers = true)]
    momentum: Option<f32>,
    /// SGD with Nesterov momentum.
    #[arg(long)]
    nesterov: bool,
    /// Time-based learning-rate decay: lr / (1 + decay * step).
    #[arg(long, allow_negative_numbers = true)]
    decay: Option<f32>,
    /// Seed of the weights, shuffling and dropout.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Hold out this fraction of the training images, drawn at random with --seed (as
    /// scikit-learn's train_test_split(test_size=F, random_state=seed)), for validation
    /// instead of the test set.
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    validation_split: Option<f64>,
    /// With --validation-split: keep each class's share the same in both parts.
    #[arg(long, requires = "validation_split")]
    stratify: bool,
    /// Train on the first N training images only (quick experiments).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Run folder (default: runs/<timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON object with the results at the end (epoch lines go to stderr).
    #[arg(long)]
    json: bool,
    /// Print only the final result.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    data: DataArgs,
}

fn optimizer(a: &TrainArgs) -> anyhow::Result<OptimizerConfig> {
    let mut opt = OptimizerConfig::by_name(&a.optimizer)?;
    match &mut opt {
        OptimizerConfig::Sgd {
            learning_rate,
            momentum,
            nesterov,
            decay,
        } => {
            *learning_rate = a.lr.unwrap_or(*learning_rate);
            *momentum = a.momentum.unwrap_or(*momentum);
            *nesterov = a.nesterov;
            *decay = a.decay.unwrap_or(*decay);
            if a.nesterov && *momentum == 0.0 {
                bail!("--nesterov needs a momentum: add e.g. --momentum 0.9");
            }
        }
        OptimizerConfig::Adam {
            learning_rate,
            decay,
            ..
        }
        | OptimizerConfig::Rmsprop {
            learning_rate,
            decay,
            ..
        } => {
            *learning_rate = a.lr.unwrap_or(*learning_rate);
            *decay = a.decay.unwrap_or(*decay);
            if a.momentum.is_some() || a.nesterov {
                bail!("--momentum and --nesterov apply to --optimizer sgd only");
            }
        }
    }
    opt.build()?; // check the settings now, before any data is read
    Ok(opt)
}

/// Runs `scrawl train`.
pub fn run(a: TrainArgs) -> anyhow::Result<()> {
    if a.epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let config = model_config(&a.model)?;
    let opt = optimizer(&a)?;
    let mnist = a.data.load()?;
    let mut train = match a.limit {
        Some(0) => bail!("--limit must be at least 1"),
        Some(n) => mnist.train()?.take(n),
        None => mnist.train()?.clone(),
    };
    let validation = match a.validation_split {
        Some(f) => {
            let (t, v) = train.split(f, a.seed, a.stratify)?;
            train = t;
            Some(v)
        }
        None => mnist.test.clone(),
    };
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(chrono::Local::now().format("%Y%m%d-%H%M%S").to_string())
    });
    std::fs::create_dir_all(&out)
        .with_context(|| format!("creating the run folder {}", out.display()))?;

    let mut model = Sequential::new(config, a.seed)?;
    model.compile(&opt, Loss::default())?;
    if !a.quiet && !a.json {
        print!("{}", model.summary());
        println!(
            "Training on {} images, validating on {} ({}), {} threads",
            train.len(),
            validation.as_ref().map_or(0, |v| v.len()),
            if a.validation_split.is_some() {
                "held out from training"
            } else if validation.is_some() {
                "the test set"
            } else {
                "no labelled test set"
            },
            rayon::current_num_threads()
        );
    }
    let start = Instant::now();
    let history = model.fit(
        &train,
        FitOptions {
            epochs: a.epochs,
            batch_size: a.batch_size,
            shuffle: true,
            seed: a.seed,
            validation: validation.as_ref(),
            verbose: if a.quiet {
                Verbosity::Silent
            } else {
                Verbosity::Auto
            },
            log_to_stderr: a.json,
            callbacks: Vec::new(),
        },
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let test = match &mnist.test {
        Some(t) => Some(model.evaluate(t, a.batch_size.max(100))?),
        None => None,
    };

    let mut info = BTreeMap::new();
    info.insert("test_accuracy".to_string(), json!(test.map(|t| t.accuracy)));
    info.insert("test_loss".to_string(), json!(test.map(|t| t.loss)));
    info.insert("epochs".to_string(), json!(history.epochs.len()));
    info.insert("optimizer".to_string(), serde_json::to_value(&opt)?);
    info.insert("batch_size".to_string(), json!(a.batch_size));
    info.insert("seed".to_string(), json!(a.seed));
    info.insert("dataset".to_string(), json!(mnist.spec.name));
    info.insert("class_names".to_string(), json!(mnist.spec.class_names));
    let model_path = out.join("model.safetensors");
    model.save_with_info(&model_path, &info)?;
    write_atomic(&out.join("history.csv"), history.to_csv().as_bytes())?;
    write_atomic(
        &out.join("history.json"),
        serde_json::to_string_pretty(&history)?.as_bytes(),
    )?;
    let run = json!({
        "command": std::env::args().collect::<Vec<_>>(),
        "model": model.config(),
        "optimizer": opt,
        "epochs": a.epochs,
        "batch_size": a.batch_size,
        "seed": a.seed,
        "threads": rayon::current_num_threads(),
        "data": mnist.source,
        "dataset": mnist.spec.name,
        "train_images": train.len(),
        "validation_images": validation.as_ref().map_or(0, |v| v.len()),
    });
    write_atomic(
        &out.join("config.json"),
        serde_json::to_string_pretty(&run)?.as_bytes(),
    )?;

    if a.json {
        let result = json!({
            "test_accuracy": test.map(|t| t.accuracy),
            "test_loss": test.map(|t| t.loss),
            "epochs": history.epochs.len(),
            "seconds": seconds,
            "seconds_per_epoch": seconds / history.epochs.len() as f64,
            "model": model.config().name,
            "params": model.param_count(),
            "out": out,
            "history": history.epochs,
        });
        println!("{}", serde_json::to_string(&result)?);
    } else {
        match test {
            Some(t) => println!(
                "Test loss: {:.4} - test accuracy: {:.4} ({}/{})",
                t.loss, t.accuracy, t.correct, t.count
            ),
            None => println!("No labelled test set: the model was not tested"),
        }
        if !a.quiet {
            println!(
                "Saved the model to {} ({:.1}s of training)",
                model_path.display(),
                seconds
            );
        }
    }
    Ok(())
}
