//! `scrawl train`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::json;

use super::{DataArgs, model_config};
use scrawl::callbacks::{
    CsvLogger, EarlyStopping, LearningRateScheduler, Mode, ModelCheckpoint, ReduceLROnPlateau,
    Schedule,
};
use scrawl::data::augment::Augmentation;
use scrawl::files::write_atomic;
use scrawl::loss::Loss;
use scrawl::model::{Callback, FitOptions, History, Sequential, Verbosity, load_checkpoint};
use scrawl::optim::OptimizerConfig;
use scrawl::plot::{self, TrainingCurves};

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
    #[arg(long, default_value_t = 32, value_parser = super::batch_size_arg)]
    batch_size: usize,
    /// sgd, adam, adamw or rmsprop.
    #[arg(long, default_value = "rmsprop")]
    optimizer: String,
    /// AdamW's decoupled weight decay (Keras's default 0.004; kernels only).
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32, long, value_name = "F")]
    weight_decay: Option<f32>,
    /// Spread this fraction of each target's probability over all classes.
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32,
        long,
        value_name = "F",
        default_value_t = 0.0
    )]
    label_smoothing: f32,
    /// Randomly rotate, zoom and shift every training image, anew each epoch (by
    /// default up to 10 degrees, 10% and 10%; see the --*-range flags).
    #[arg(long)]
    augment: bool,
    /// With --augment: rotations up to this many degrees either way.
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32,
        long,
        value_name = "DEG",
        requires = "augment"
    )]
    rotation_range: Option<f32>,
    /// With --augment: zoom each axis by up to this fraction.
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32,
        long,
        value_name = "F",
        requires = "augment"
    )]
    zoom_range: Option<f32>,
    /// With --augment: shift by up to this fraction of the width and of the height.
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32,
        long,
        value_name = "F",
        requires = "augment"
    )]
    shift_range: Option<f32>,
    /// With --augment: elastic distortion of this strength α in pixels (Simard et al.
    /// used 34 on MNIST; 8-16 is milder).
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32,
        long,
        value_name = "ALPHA",
        requires = "augment"
    )]
    elastic: Option<f32>,
    /// With --elastic: smoothness σ of the distortion field in pixels [default: 4].
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32,
        long,
        value_name = "SIGMA",
        requires = "elastic"
    )]
    elastic_sigma: Option<f32>,
    /// Learning rate (default: the optimizer's Keras default).
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32, long)]
    lr: Option<f32>,
    /// SGD momentum.
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32, long)]
    momentum: Option<f32>,
    /// SGD with Nesterov momentum.
    #[arg(long)]
    nesterov: bool,
    /// Time-based learning-rate decay: lr / (1 + decay * step).
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32, long)]
    decay: Option<f32>,
    /// Seed of the weights, shuffling and dropout.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Hold out this fraction of the training images, drawn at random with --seed (as
    /// scikit-learn's train_test_split(test_size=F, random_state=seed)), for validation
    /// instead of the test set.
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f64, long, value_name = "F")]
    validation_split: Option<f64>,
    /// With --validation-split: keep each class's share the same in both parts.
    #[arg(long, requires = "validation_split")]
    stratify: bool,
    /// Train on the first N training images only (quick experiments).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Run folder (default: runs/<timestamp>, made anew). An existing run there is
    /// never replaced without --overwrite.
    #[arg(long)]
    out: Option<PathBuf>,
    /// With --out: replace the run already in that folder (its model, checkpoints and
    /// history; other files there are left alone).
    #[arg(long, requires = "out")]
    overwrite: bool,
    /// Also save the training state every N steps, not only after each epoch (Keras's
    /// BackupAndRestore(save_freq=N)), so a kill during a long epoch loses at most N
    /// steps.
    #[arg(long, value_name = "N", value_parser = super::steps_arg)]
    save_freq: Option<usize>,
    /// Print one JSON object with the results at the end (epoch lines go to stderr).
    #[arg(long)]
    json: bool,
    /// Print only the final result.
    #[arg(long)]
    quiet: bool,
    /// Keep the model of the best epoch by --monitor (`best`, saved as RUN/best.safetensors),
    /// of every epoch (`all`, RUN/checkpoints/epoch-NN.safetensors), or at a Keras-style
    /// path template such as `model/mnist-{epoch:02d}-{val_loss:.4f}.safetensors`
    /// (only the improvements are saved).
    #[arg(long, value_name = "best|all|TEMPLATE")]
    checkpoint: Option<String>,
    /// The metric --checkpoint, --early-stopping and --reduce-lr-on-plateau watch
    /// (default val_loss, or loss without validation data).
    #[arg(long, value_name = "METRIC")]
    monitor: Option<String>,
    /// Whether the monitored metric should go down (min) or up (max); auto: max for
    /// accuracies.
    #[arg(long, default_value = "auto")]
    mode: String,
    /// Stop when the monitored metric has not improved for this many epochs.
    #[arg(long, value_name = "PATIENCE")]
    early_stopping: Option<usize>,
    /// The smallest change that counts as an improvement for --early-stopping.
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f64, long, default_value_t = 0.0)]
    min_delta: f64,
    /// With --early-stopping: go back to the best epoch's weights when it stops.
    #[arg(long, requires = "early_stopping")]
    restore_best_weights: bool,
    /// Multiply the learning rate by --reduce-lr-factor when the monitored metric has not
    /// improved for this many epochs.
    #[arg(long, value_name = "PATIENCE", conflicts_with = "lr_schedule")]
    reduce_lr_on_plateau: Option<usize>,
    /// The factor of --reduce-lr-on-plateau.
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32, long, default_value_t = 0.1, requires = "reduce_lr_on_plateau")]
    reduce_lr_factor: f32,
    /// The learning rate never goes below this with --reduce-lr-on-plateau.
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32, long, default_value_t = 0.0, requires = "reduce_lr_on_plateau")]
    min_lr: f32,
    /// A learning-rate schedule over the run: step:EVERY:FACTOR, exponential:RATE, cosine,
    /// or one-cycle:MAX_LR.
    #[arg(long, value_name = "SCHEDULE")]
    lr_schedule: Option<String>,
    /// Continue an interrupted run from its folder (its own settings are used).
    #[arg(long, value_name = "RUN")]
    resume: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

/// Parses a stored `scrawl train ...` command line back into its flags (for --resume).
#[derive(clap::Parser)]
#[command(name = "train")]
struct StoredTrain {
    #[arg(long, global = true, value_parser = super::threads_arg)]
    threads: Option<usize>,
    #[command(flatten)]
    args: TrainArgs,
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
        OptimizerConfig::Adamw {
            learning_rate,
            decay,
            weight_decay,
            ..
        } => {
            *learning_rate = a.lr.unwrap_or(*learning_rate);
            *decay = a.decay.unwrap_or(*decay);
            *weight_decay = a.weight_decay.unwrap_or(*weight_decay);
            if a.momentum.is_some() || a.nesterov {
                bail!("--momentum and --nesterov apply to --optimizer sgd only");
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
    if a.weight_decay.is_some() && opt.name() != "adamw" {
        bail!("--weight-decay applies to --optimizer adamw only");
    }
    opt.build()?; // check the settings now, before any data is read
    Ok(opt)
}

fn augmentation(a: &TrainArgs) -> anyhow::Result<Option<Augmentation>> {
    if !a.augment {
        return Ok(None);
    }
    let d = Augmentation::default();
    let shift = a.shift_range.unwrap_or(d.width_shift_range);
    let aug = Augmentation {
        rotation_range: a.rotation_range.unwrap_or(d.rotation_range),
        zoom_range: a.zoom_range.unwrap_or(d.zoom_range),
        width_shift_range: shift,
        height_shift_range: shift,
        elastic_alpha: a.elastic.unwrap_or(d.elastic_alpha),
        elastic_sigma: a.elastic_sigma.unwrap_or(d.elastic_sigma),
    };
    aug.validate()?;
    Ok(Some(aug))
}

fn loss(a: &TrainArgs) -> anyhow::Result<Loss> {
    let s = a.label_smoothing;
    if !(s.is_finite() && (0.0..1.0).contains(&s)) {
        bail!("--label-smoothing must be in [0, 1), got {s}");
    }
    Ok(Loss::CategoricalCrossentropy { label_smoothing: s })
}

/// Set by the Ctrl-C / SIGTERM handler; `fit` stops after the current step.
static INTERRUPT: AtomicBool = AtomicBool::new(false);

fn install_interrupt_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if INTERRUPT.swap(true, Ordering::SeqCst) {
                eprintln!("\nInterrupted twice: quitting without a checkpoint.");
                std::process::exit(130);
            }
            eprintln!(
                "\nStopping after this step and saving a checkpoint (Ctrl-C again to quit now)..."
            );
        });
    });
}

/// The train arguments as typed, without the global flags before `train`.
fn train_argv() -> Vec<String> {
    let argv: Vec<String> = std::env::args().collect();
    match argv.iter().position(|a| a == "train") {
        Some(i) => argv[i + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// Runs `scrawl train`.
pub fn run(a: TrainArgs) -> anyhow::Result<()> {
    let Some(run_dir) = a.resume.clone() else {
        return train(a, train_argv(), None);
    };
    // --resume RUN and at most --quiet, --json and --threads N beside it.
    let argv = train_argv();
    let mut others = 0;
    let mut skip_value = false;
    for arg in &argv {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        match arg.as_str() {
            "--resume" | "--threads" => skip_value = true,
            "--quiet" | "--json" => {}
            s if s.starts_with("--resume=") || s.starts_with("--threads=") => {}
            _ => others += 1,
        }
    }
    if others > 0 {
        bail!("--resume RUN continues the run with its own settings: give no other training flags");
    }
    let config_path = run_dir.join("config.json");
    let text = scrawl::files::read_text_limited(&config_path, 16 << 20, "a run config")
        .with_context(|| {
            format!(
                "{} is not a run folder scrawl can resume (reading config.json)",
                run_dir.display()
            )
        })?;
    let config: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", config_path.display()))?;
    let stored: Vec<String> = serde_json::from_value(config["train_args"].clone())
        .with_context(|| format!("{} has no train_args", config_path.display()))?;
    let checkpoint = run_dir.join(CHECKPOINT);
    if !checkpoint.is_file() {
        bail!("{}", no_checkpoint_message(&run_dir));
    }
    let parsed = <StoredTrain as clap::Parser>::try_parse_from(
        std::iter::once("train".to_string()).chain(stored.iter().cloned()),
    )
    .with_context(|| {
        format!(
            "the command stored in {} no longer parses",
            config_path.display()
        )
    })?;
    let mut resumed = parsed.args;
    resumed.out = Some(run_dir.clone());
    resumed.quiet |= a.quiet;
    resumed.json |= a.json;
    if let Some(t) = config["threads"].as_u64()
        && t as usize != rayon::current_num_threads()
    {
        eprintln!(
            "warning: the run used {t} threads and this resume uses {}: the result will not be bit-identical to an uninterrupted run (pass --threads {t})",
            rayon::current_num_threads()
        );
    }
    train(resumed, stored, Some(checkpoint))
}

/// The training-state file in a run folder.
const CHECKPOINT: &str = "checkpoint.safetensors";

/// Why a run folder without a checkpoint cannot be resumed, saying what it does hold.
fn no_checkpoint_message(run_dir: &std::path::Path) -> String {
    let epochs = scrawl::model::History::from_csv_file(&run_dir.join("history.csv"))
        .map_or(0, |h| h.epochs.len());
    let mut msg = format!(
        "{} has no {CHECKPOINT}, so there is no training state to continue from",
        run_dir.display()
    );
    if epochs > 0 {
        msg.push_str(&format!(
            ": history.csv records {epochs} finished epoch{}, but the run was stopped before their checkpoint was written",
            if epochs == 1 { "" } else { "s" }
        ));
        if run_dir.join("best.safetensors").is_file() {
            msg.push_str(" (best.safetensors holds its best model so far)");
        }
    } else {
        msg.push_str(": the run was stopped before its first checkpoint was written");
    }
    msg.push_str(". Start it again; --save-freq N also saves the state every N steps");
    msg
}

fn train(a: TrainArgs, argv: Vec<String>, resume: Option<PathBuf>) -> anyhow::Result<()> {
    super::check_epochs(a.epochs)?;
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let config = model_config(&a.model)?;
    let opt = optimizer(&a)?;
    let augment = augmentation(&a)?;
    let loss = loss(&a)?;
    let mode = Mode::parse(&a.mode)?;
    let schedule = a.lr_schedule.as_deref().map(Schedule::parse).transpose()?;
    if let Some(m) = &a.monitor {
        scrawl::callbacks::check_monitor(m)?;
    }
    if a.min_lr < 0.0 {
        bail!("--min-lr must be at least 0, got {}", a.min_lr);
    }
    if a.min_delta.is_nan() || a.min_delta < 0.0 {
        bail!("--min-delta must be at least 0, got {}", a.min_delta);
    }
    let mnist = a.data.load()?;
    let mut train = match a.limit {
        Some(0) => bail!("--limit must be at least 1"),
        Some(n) => mnist.train()?.take(n),
        None => mnist.train()?.clone(),
    };
    let validation = match a.validation_split {
        Some(f) => {
            if !(f > 0.0 && f < 1.0) {
                bail!("--validation-split must be strictly between 0 and 1, got {f}");
            }
            let (t, v) = train.split(f, a.seed, a.stratify)?;
            train = t;
            Some(v)
        }
        None => mnist.test.clone(),
    };
    let monitor = a.monitor.clone().unwrap_or_else(|| {
        if validation.is_some() {
            "val_loss"
        } else {
            "loss"
        }
        .to_string()
    });
    if monitor.starts_with("val_") && validation.is_none() {
        bail!(
            "--monitor {monitor} needs validation data: add --validation-split F or a labelled test set"
        );
    }
    if mnist.test.as_ref().is_some_and(|t| t.is_empty()) {
        bail!("the test set holds no images: an accuracy of 0/0 measures nothing");
    }
    let run_lock = open_run_folder(&a, resume.is_some())?;
    let out = run_lock.dir().to_path_buf();

    let mut info = BTreeMap::new();
    info.insert("dataset".to_string(), json!(mnist.spec.name));
    info.insert("class_names".to_string(), json!(mnist.spec.class_names));

    let steps_per_epoch = train.len().div_ceil(a.batch_size);
    let mut callbacks: Vec<Box<dyn Callback>> = Vec::new();
    let best_path = out.join("best.safetensors");
    if let Some(c) = &a.checkpoint {
        let (template, best_only) = match c.as_str() {
            "best" => (best_path.to_string_lossy().into_owned(), true),
            "all" => (
                out.join("checkpoints")
                    .join("epoch-{epoch:02d}.safetensors")
                    .to_string_lossy()
                    .into_owned(),
                false,
            ),
            t if t.ends_with(".safetensors") => (t.to_string(), true),
            other => bail!(
                "--checkpoint must be best, all, or a path template ending in .safetensors, not '{other}'"
            ),
        };
        callbacks.push(Box::new(
            ModelCheckpoint::new(&template, &monitor, mode, best_only)
                .map_err(|e| anyhow::anyhow!("--checkpoint: {e}"))?
                .with_info(info.clone()),
        ));
    }
    if let Some(p) = a.early_stopping {
        callbacks.push(Box::new(
            EarlyStopping::new(&monitor, p, a.min_delta, mode)?
                .restore_best_weights(a.restore_best_weights),
        ));
    }
    if let Some(p) = a.reduce_lr_on_plateau {
        callbacks.push(Box::new(
            ReduceLROnPlateau::new(&monitor, p)?
                .factor(a.reduce_lr_factor)?
                .min_lr(a.min_lr),
        ));
    }
    if let Some(s) = schedule {
        callbacks.push(Box::new(LearningRateScheduler::new(
            s,
            (steps_per_epoch * a.epochs) as u64,
        )));
    }
    callbacks.push(Box::new(CsvLogger::new(out.join("history.csv"))));

    let (mut model, state) = match &resume {
        Some(path) => {
            let (m, s) = load_checkpoint(path)?;
            if m.config() != &config {
                bail!(
                    "{} holds a different architecture than the run's --model",
                    path.display()
                );
            }
            (m, Some(s))
        }
        None => (Sequential::new(config, a.seed)?, None),
    };
    model.compile(&opt, loss)?;
    if let Some(s) = state.as_ref().filter(|s| s.finished) {
        println!(
            "The run in {} has finished already ({} epochs); nothing to resume",
            out.display(),
            s.epoch
        );
        return Ok(());
    }
    let run = json!({
        "command": std::env::args().collect::<Vec<_>>(),
        "train_args": argv,
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
        "monitor": monitor,
        "checkpoint": a.checkpoint,
        "early_stopping": a.early_stopping,
        "reduce_lr_on_plateau": a.reduce_lr_on_plateau,
        "lr_schedule": a.lr_schedule,
        "augment": augment,
        "label_smoothing": a.label_smoothing,
    });
    if resume.is_none() {
        write_atomic(
            &out.join("config.json"),
            serde_json::to_string_pretty(&run)?.as_bytes(),
        )?;
    }
    if let Some(s) = &state {
        // On stderr, so it shows even with --quiet and never mixes into --json.
        eprintln!(
            "Resuming {} at epoch {}, step {}/{} ({} epochs done)",
            out.display(),
            s.epoch + 1,
            s.step,
            steps_per_epoch,
            s.epoch
        );
    }
    if !a.quiet && !a.json {
        if state.is_none() {
            print!("{}", model.summary());
        }
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
    install_interrupt_handler();
    let checkpoint_path = out.join(CHECKPOINT);
    let start = Instant::now();
    let fitted = model.fit(
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
            callbacks,
            interrupt: Some(&INTERRUPT),
            checkpoint: Some(checkpoint_path.clone()),
            save_freq: a.save_freq,
            resume: state,
            augment,
        },
    );
    let history = match fitted {
        Ok(h) => h,
        Err(e) => {
            // Whatever finished is on disk: the last checkpoint, history.csv; draw the
            // curves of what there is so the user can see what happened.
            if let Ok((_, s)) = load_checkpoint(&checkpoint_path) {
                let _ = write_curves(&out, &s.history, &model.config().name);
            }
            if matches!(e, scrawl::Error::Interrupted(_)) {
                return Err(anyhow::Error::new(e).context(format!(
                    "resume with: scrawl train --resume {}",
                    out.display()
                )));
            }
            return Err(e.into());
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let test = match &mnist.test {
        Some(t) => Some(model.evaluate(t, a.batch_size.max(100))?),
        None => None,
    };

    info.insert("test_accuracy".to_string(), json!(test.map(|t| t.accuracy)));
    info.insert("test_loss".to_string(), json!(test.map(|t| t.loss)));
    info.insert("epochs".to_string(), json!(history.epochs.len()));
    info.insert("optimizer".to_string(), serde_json::to_value(&opt)?);
    info.insert("batch_size".to_string(), json!(a.batch_size));
    info.insert("seed".to_string(), json!(a.seed));
    let model_path = out.join("model.safetensors");
    model.save_with_info(&model_path, &info)?;
    write_atomic(&out.join("history.csv"), history.to_csv().as_bytes())?;
    write_atomic(
        &out.join("history.json"),
        serde_json::to_string_pretty(&history)?.as_bytes(),
    )?;
    write_curves(&out, &history, &model.config().name)?;

    if a.json {
        let result = json!({
            "test_accuracy": test.map(|t| t.accuracy),
            "test_loss": test.map(|t| t.loss),
            "epochs": history.epochs.len(),
            "seconds": seconds,
            "seconds_per_epoch": seconds / history.epochs.len().max(1) as f64,
            "model": model.config().name,
            "params": model.param_count(),
            "out": out,
            "history": history.epochs,
        });
        println!("{}", serde_json::to_string(&result)?);
    } else {
        match test {
            Some(t) => println!(
                "Test loss: {} - test accuracy: {:.4} ({}/{})",
                scrawl::model::format_loss(t.loss),
                t.accuracy,
                t.correct,
                t.count
            ),
            None => println!("No labelled test set: the model was not tested"),
        }
        if !a.quiet {
            println!(
                "Saved the model to {} ({:.1}s of training); curves in {}",
                model_path.display(),
                seconds,
                out.join("curves.png").display()
            );
            if best_path.is_file() {
                println!("The best epoch's model is {}", best_path.display());
            }
        }
    }
    Ok(())
}

/// The run folder, locked for this process: a new `runs/<timestamp>[-N]`, or
/// `--out`, which must not hold another run unless resuming it or told to overwrite.
fn open_run_folder(a: &TrainArgs, resuming: bool) -> anyhow::Result<scrawl::run_dir::RunLock> {
    use scrawl::run_dir;
    let Some(out) = &a.out else {
        let stem = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
        return Ok(run_dir::create_unique(std::path::Path::new("runs"), &stem)?);
    };
    if out.exists() && !out.is_dir() {
        bail!("--out {} is a file, not a folder", out.display());
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("creating the run folder {}", out.display()))?;
    let lock = run_dir::lock(out)?;
    if resuming {
        return Ok(lock);
    }
    let found = run_dir::existing_run_files(out);
    if !found.is_empty() {
        if !a.overwrite {
            bail!(
                "{} already holds a run ({}): continue it with --resume {0}, pick another --out, or add --overwrite to replace it",
                out.display(),
                found.join(", ")
            );
        }
        run_dir::remove_run_files(out)?;
    }
    Ok(lock)
}

/// Writes `curves.png` and `curves.svg` into the run folder.
fn write_curves(out: &std::path::Path, history: &History, name: &str) -> anyhow::Result<()> {
    if history.epochs.is_empty() {
        return Ok(());
    }
    let fig = TrainingCurves {
        title: format!("{name}: {}", out.display()),
        runs: vec![(name.to_string(), history.clone())],
    };
    plot::save(&fig, &out.join("curves.png"))?;
    plot::save(&fig, &out.join("curves.svg"))?;
    Ok(())
}
