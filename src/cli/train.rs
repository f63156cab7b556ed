//! `scrawl train`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::bail;
use serde_json::json;

use super::{DataArgs, model_config};
use scrawl::data::Dataset;
use scrawl::data::augment::Augmentation;
use scrawl::loss::Loss;
use scrawl::model::Sequential;
use scrawl::optim::OptimizerConfig;
use scrawl::run::{
    CallbackSpec, DataSpec, EarlyStoppingSpec, Folder, InitSpec, ReduceLrSpec, Run, RunOptions,
    RunSpec, Start,
};
use scrawl::train::Verbosity;

/// Flags of `scrawl train`; absent ones take Keras's defaults.
#[derive(clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub compute: super::Threads,
    /// A preset (see `scrawl presets`), mlp:H1,H2,... or a model config .json file
    /// [default: mlp-512, or the architecture of --init].
    #[arg(long)]
    model: Option<String>,
    /// Start from the weights of this model file or run folder, with a fresh
    /// optimizer (fine-tuning; the architecture is the saved model's).
    #[arg(long, value_name = "MODEL_OR_RUN", conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// With --init: layers whose weights stay as they are (Keras's trainable = False),
    /// by the names `scrawl summary` prints, comma-separated.
    #[arg(
        long,
        value_name = "LAYER,...",
        value_delimiter = ',',
        requires = "init"
    )]
    freeze: Vec<String>,
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
    /// With --augment: train the last K epochs on the images as they are, so the
    /// model ends its run, at the schedule's small learning rates, on images like
    /// the test images (as ultralytics's close_mosaic does) [default: 0].
    #[arg(long, value_name = "K", requires = "augment", allow_hyphen_values = true,
        value_parser = super::clean_epochs_arg)]
    clean_epochs: Option<usize>,
    /// Learning rate (default: the optimizer's Keras default).
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32, long)]
    lr: Option<f32>,
    /// SGD momentum.
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32, long)]
    momentum: Option<f32>,
    /// SGD with Nesterov momentum.
    #[arg(long)]
    nesterov: bool,
    /// Adam's and AdamW's first-moment decay (Keras's beta_1, default 0.9).
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32, long = "beta-1", value_name = "F")]
    beta_1: Option<f32>,
    /// Adam's and AdamW's second-moment decay (Keras's beta_2, default 0.999).
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f32, long = "beta-2", value_name = "F")]
    beta_2: Option<f32>,
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
    /// Replace what is already there: with --out, the run in that folder (its model,
    /// checkpoints and history; other files there are left alone); with a --checkpoint
    /// template, files of an earlier run that the template names.
    #[arg(long)]
    overwrite: bool,
    /// Also save the training state every N steps, not only after each epoch (Keras's
    /// BackupAndRestore(save_freq=N)), so a kill during a long epoch loses at most N
    /// steps.
    #[arg(long, value_name = "N", value_parser = super::steps_arg)]
    save_freq: Option<usize>,
    /// Validate after every N epochs only (Keras's validation_freq): epochs N, 2N, ...
    /// Callbacks that watch a val_* metric skip the others.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = super::steps_arg)]
    validation_freq: usize,
    /// Print one JSON object with the results at the end (epoch lines go to stderr).
    #[arg(long)]
    json: bool,
    /// Print only the final result.
    #[arg(long)]
    quiet: bool,
    /// When the output is not a terminal (a log file, a pipe): print a progress line
    /// at most every S seconds during long epochs and validations.
    #[arg(long, value_name = "S", default_value_t = 30.0, value_parser = super::seconds_arg)]
    progress_every: f64,
    /// Keep the model of the best epoch by --monitor (`best`, saved as RUN/best.safetensors),
    /// of every epoch (`all`, RUN/checkpoints/epoch-NN.safetensors), or at a Keras-style
    /// path template such as `model/mnist-{epoch:02d}-{val_loss:.4f}.safetensors`
    /// (only the improvements are saved).
    #[arg(long, value_name = "best|all|TEMPLATE")]
    checkpoint: Option<String>,
    /// Write TensorBoard event files as Keras's TensorBoard callback does (per-epoch
    /// loss, accuracy and learning rate, weight histograms, the mistakes gallery, the
    /// settings): into DIR, or RUN/tensorboard when no DIR is given. View them with
    /// `tensorboard --logdir runs`.
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    #[allow(clippy::option_option)] // absent, given bare, given a folder
    tensorboard: Option<Option<PathBuf>>,
    /// With --tensorboard: also the batch loss every N steps (Keras's update_freq).
    #[arg(long, value_name = "N", requires = "tensorboard", value_parser = super::steps_arg)]
    tensorboard_update_freq: Option<usize>,
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
    /// Continue an interrupted run from its folder, with its own settings; with
    /// --epochs N, extend a run (finished or not) to N epochs.
    #[arg(long, value_name = "RUN")]
    resume: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

fn optimizer(a: &TrainArgs) -> anyhow::Result<OptimizerConfig> {
    let mut opt = OptimizerConfig::by_name(&a.optimizer)?;
    let sgd_only = || -> anyhow::Result<()> {
        if a.momentum.is_some() || a.nesterov {
            bail!("--momentum and --nesterov apply to --optimizer sgd only");
        }
        Ok(())
    };
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
            beta_1,
            beta_2,
            ..
        } => {
            *learning_rate = a.lr.unwrap_or(*learning_rate);
            *decay = a.decay.unwrap_or(*decay);
            *weight_decay = a.weight_decay.unwrap_or(*weight_decay);
            *beta_1 = a.beta_1.unwrap_or(*beta_1);
            *beta_2 = a.beta_2.unwrap_or(*beta_2);
            sgd_only()?;
        }
        OptimizerConfig::Adam {
            learning_rate,
            decay,
            beta_1,
            beta_2,
            ..
        } => {
            *learning_rate = a.lr.unwrap_or(*learning_rate);
            *decay = a.decay.unwrap_or(*decay);
            *beta_1 = a.beta_1.unwrap_or(*beta_1);
            *beta_2 = a.beta_2.unwrap_or(*beta_2);
            sgd_only()?;
        }
        OptimizerConfig::Rmsprop {
            learning_rate,
            decay,
            ..
        } => {
            *learning_rate = a.lr.unwrap_or(*learning_rate);
            *decay = a.decay.unwrap_or(*decay);
            sgd_only()?;
        }
    }
    if a.weight_decay.is_some() && opt.name() != "adamw" {
        bail!("--weight-decay applies to --optimizer adamw only");
    }
    if (a.beta_1.is_some() || a.beta_2.is_some()) && !matches!(opt.name(), "adam" | "adamw") {
        bail!("--beta-1 and --beta-2 apply to --optimizer adam or adamw only");
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
        clean_epochs: a.clean_epochs.unwrap_or(d.clean_epochs),
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

/// Runs `scrawl train`: maps the flags to a [`RunSpec`] (or reads the spec of the run
/// to resume), trains it as a library [`Run`], and prints the result.
pub fn run(a: TrainArgs) -> anyhow::Result<()> {
    let (mut run, data, epochs_given) = match &a.resume {
        Some(dir) => resume(dir)?,
        None => {
            let spec = spec_of(&a)?;
            if let Some(template) = spec
                .callbacks
                .checkpoint
                .as_deref()
                .filter(|c| c.ends_with(".safetensors"))
                && !a.overwrite
                && let [first, more @ ..] =
                    &scrawl::callbacks::files_a_template_may_replace(template)[..]
            {
                let others = match more.len() {
                    0 => String::new(),
                    n => format!(" (and {n} more)"),
                };
                bail!(
                    "--checkpoint {template} would write over {}{others}, from an earlier run: add --overwrite to let it, or give another template",
                    first.display()
                );
            }
            let data = a.data.clone();
            let folder = match (&a.out, a.overwrite) {
                (None, _) => Folder::NewUnder(PathBuf::from("runs")),
                (Some(out), false) => Folder::At(out.clone()),
                (Some(out), true) => Folder::Replace(out.clone()),
            };
            // The data is read before the folder is made, so a missing file leaves
            // no empty run behind.
            let sets = load_data(&data, &spec)?;
            let mut notes = BTreeMap::new();
            notes.insert(
                "command".into(),
                json!(std::env::args().collect::<Vec<_>>()),
            );
            notes.insert("data".into(), json!(sets.0.source));
            notes.insert("train_images".into(), json!(sets.1.len()));
            notes.insert(
                "validation_images".into(),
                json!(sets.2.as_ref().map_or(0, |v| v.len())),
            );
            let run = Run::create_with_notes(spec, folder, notes)?;
            return train(run, sets, &a);
        }
    };
    if let Some(w) = run.thread_mismatch() {
        eprintln!("warning: {w}");
    }
    if epochs_given {
        super::check_epochs(a.epochs)?;
        run.extend_to(a.epochs)?;
    }
    let sets = load_data(&data, run.spec())?;
    train(run, sets, &a)
}

/// The flags a `--resume` may carry beside it: output, threads and a longer run.
fn resume(dir: &std::path::Path) -> anyhow::Result<(Run, DataArgs, bool)> {
    let mut others = Vec::new();
    let mut epochs_given = false;
    let mut skip_value = false;
    for arg in train_argv() {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        match arg.as_str() {
            "--resume" | "--threads" => skip_value = true,
            "--epochs" => (skip_value, epochs_given) = (true, true),
            s if s.starts_with("--epochs=") => epochs_given = true,
            "--quiet" | "--json" => {}
            s if ["--resume=", "--threads=", "--epochs="]
                .iter()
                .any(|p| s.starts_with(p)) => {}
            s => others.push(s.to_string()),
        }
    }
    if !others.is_empty() {
        bail!(
            "--resume RUN continues the run with its own settings: give no other training flags than --epochs N (got {})",
            others.join(" ")
        );
    }
    let run = Run::open(dir)?;
    let d = &run.spec().data;
    let data = DataArgs {
        data: d.dir.clone(),
        dataset: d.dataset.clone(),
        train: d.train_file.clone(),
        test: d.test_file.clone(),
        no_download: true,
    };
    Ok((run, data, epochs_given))
}

/// The spec of a new run, from the flags; every number is checked before any data is
/// read.
fn spec_of(a: &TrainArgs) -> anyhow::Result<RunSpec> {
    super::check_epochs(a.epochs)?;
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let init = a.init.as_ref().map(|from| InitSpec {
        from: from.clone(),
        freeze: a.freeze.clone(),
    });
    let model = match (&a.model, &a.init) {
        (Some(m), None) => model_config(m)?,
        (None, None) => model_config("mlp-512")?,
        (m, Some(from)) => {
            let path = scrawl::run::model_file(from)?;
            let saved = super::load_model(&path)?.0;
            if let Some(m) = m {
                let asked = model_config(m)?;
                if asked.layers != saved.config().layers {
                    bail!(
                        "--model {m} is another architecture than {}'s; leave --model out to fine-tune the saved one",
                        path.display()
                    );
                }
            }
            let model = saved.config().clone();
            // Checked here, before any data is read.
            let mut saved = saved;
            for name in &a.freeze {
                saved.freeze(name)?;
            }
            model
        }
    };
    if a.min_lr < 0.0 {
        bail!("--min-lr must be at least 0, got {}", a.min_lr);
    }
    if a.min_delta.is_nan() || a.min_delta < 0.0 {
        bail!("--min-delta must be at least 0, got {}", a.min_delta);
    }
    if let Some(f) = a.validation_split
        && !(f > 0.0 && f < 1.0)
    {
        bail!("--validation-split must be strictly between 0 and 1, got {f}");
    }
    if a.limit == Some(0) {
        bail!("--limit must be at least 1");
    }
    if let Some(c) = &a.checkpoint
        && !matches!(c.as_str(), "best" | "all")
        && !c.ends_with(".safetensors")
    {
        bail!(
            "--checkpoint must be best, all, or a path template ending in .safetensors, not '{c}'"
        );
    }
    if let Some(c) = a
        .checkpoint
        .as_ref()
        .filter(|c| c.ends_with(".safetensors"))
    {
        scrawl::callbacks::ModelCheckpoint::new(c, "loss", scrawl::callbacks::Mode::Auto, true)
            .map_err(|e| anyhow::anyhow!("--checkpoint: {e}"))?;
    }
    let spec = RunSpec {
        model,
        init,
        data: DataSpec {
            dataset: a.data.dataset.clone(),
            dir: a.data.data.clone(),
            train_file: a.data.train.clone(),
            test_file: a.data.test.clone(),
            limit: a.limit,
            validation_split: a.validation_split,
            stratify: a.stratify,
        },
        optimizer: optimizer(a)?,
        loss: loss(a)?,
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.seed,
        threads: rayon::current_num_threads(),
        augment: augmentation(a)?,
        callbacks: CallbackSpec {
            monitor: a.monitor.clone(),
            mode: Some(a.mode.clone()),
            checkpoint: a.checkpoint.clone(),
            early_stopping: a.early_stopping.map(|patience| EarlyStoppingSpec {
                patience,
                min_delta: a.min_delta,
                restore_best_weights: a.restore_best_weights,
            }),
            reduce_lr_on_plateau: a.reduce_lr_on_plateau.map(|patience| ReduceLrSpec {
                patience,
                factor: a.reduce_lr_factor,
                min_lr: a.min_lr,
            }),
            lr_schedule: a.lr_schedule.clone(),
            tensorboard: match &a.tensorboard {
                None => None,
                Some(dir) => Some(scrawl::run::TensorBoardSpec {
                    // Absolute, so that a run resumed from another folder writes
                    // to the same place.
                    log_dir: match dir {
                        None => None,
                        Some(dir) => Some(std::path::absolute(dir).map_err(|e| {
                            anyhow::anyhow!("--tensorboard {}: {e}", dir.display())
                        })?),
                    },
                    update_freq: a.tensorboard_update_freq.map(|n| n as u64),
                }),
            },
        },
        save_freq: a.save_freq,
        validation_freq: a.validation_freq,
    };
    spec.validate()?;
    Ok(spec)
}

/// A note when the model's BatchNormalization moving statistics, trained from their
/// starting values for `steps` steps, still hold more than 1% of those values
/// ([`Sequential::moving_statistics_start_share`]): a short run's validation and test
/// accuracy then fall far below its training accuracy, which reads like a broken
/// model unless something says why. The bar is low because a channel whose variance
/// is far below 1 is still normalized wrongly by a few percent of the starting
/// variance (`cnn-best` on 20,000 images at batch 128 validates at 0.21 after 298
/// steps, with 5% left, and at 0.855 after 447, with 1.1%; at 0.982 after 596).
fn moving_statistics_note(model: &Sequential, steps: u64) -> Option<String> {
    let share = model.moving_statistics_start_share(steps)?;
    (share > 0.01).then(|| {
        format!(
            "note: after {steps} training steps, the BatchNormalization layers' moving statistics still hold {:.1}% of their starting values (mean 0, variance 1); validation, evaluate and predict normalize by them, so they score this model below its training accuracy. Train for more steps (a smaller --batch-size makes more steps an epoch) or give the layers a lower momentum, e.g. BatchNormalization(momentum=0.9)",
            share * 100.0
        )
    })
}

/// The data of a run: what `--data`/`--train`/`--test` name, cut and split as the
/// spec says: the sets as read, the training part and the validation part.
type RunData = (super::Sets, Dataset, Option<Dataset>);

fn load_data(args: &DataArgs, spec: &RunSpec) -> anyhow::Result<RunData> {
    let d = &spec.data;
    let mut sets = args.load()?;
    // Moved out, not copied: the training images are the largest thing scrawl holds
    // and nothing after this reads them from `sets`.
    let full = sets.take_train()?;
    let mut train = match d.limit {
        Some(n) => full.take(n),
        None => full,
    };
    let validation = match d.validation_split {
        Some(f) => {
            let (t, v) = train.split(f, spec.seed, d.stratify)?;
            train = t;
            Some(v)
        }
        None => sets.test.clone(),
    };
    if sets.test.as_ref().is_some_and(|t| t.is_empty()) {
        bail!("the test set holds no images: an accuracy of 0/0 measures nothing");
    }
    Ok((sets, train, validation))
}

/// Trains `run` on its data and prints what Keras would, or one JSON line.
fn train(mut run: Run, (sets, train, validation): RunData, a: &TrainArgs) -> anyhow::Result<()> {
    let spec = run.spec().clone();
    let monitor = spec.callbacks.monitor(validation.is_some());
    if monitor.starts_with("val_") && validation.is_none() {
        bail!(
            "--monitor {monitor} needs validation data: add --validation-split F or a labelled test set"
        );
    }
    let mut info = BTreeMap::new();
    info.insert("dataset".to_string(), json!(sets.spec.name));
    info.insert("class_names".to_string(), json!(sets.spec.class_names));
    let out = run.dir().to_path_buf();
    let start = run.position()?;
    let steps_per_epoch = train
        .len()
        .div_ceil(spec.batch_size.min(train.len().max(1)));
    match start {
        Start::AlreadyFinished { epoch } => {
            println!(
                "The run in {} has finished already ({epoch} epochs); nothing to resume. Extend it with --epochs N",
                out.display()
            );
            return Ok(());
        }
        // On stderr, so it shows even with --quiet and never mixes into --json.
        Start::Resumed { epoch, step } => eprintln!(
            "Resuming {} at epoch {}, step {step}/{steps_per_epoch} ({epoch} epochs done)",
            out.display(),
            epoch + 1,
        ),
        Start::Fresh => {}
    }
    if !a.quiet && !a.json {
        if start == Start::Fresh {
            let mut model = Sequential::new(spec.model.clone(), spec.seed)?;
            if let Some(init) = &spec.init {
                for name in &init.freeze {
                    model.freeze(name)?;
                }
                println!("Starting from the weights of {}", init.from.display());
            }
            print!("{}", model.summary());
        }
        let validating = if validation.is_some() && spec.validation_freq > spec.epochs {
            "not validating during training (--validation-freq is above --epochs)".to_string()
        } else {
            format!(
                "validating on {} ({})",
                validation.as_ref().map_or(0, |v| v.len()),
                if spec.data.validation_split.is_some() {
                    "held out from training"
                } else if validation.is_some() {
                    "the test set"
                } else {
                    "no labelled test set"
                }
            )
        };
        println!(
            "Training on {} images, {validating}, {}",
            train.len(),
            super::count(rayon::current_num_threads(), "thread")
        );
    }
    install_interrupt_handler();
    let fitted = run.fit(
        &train,
        validation.as_ref(),
        RunOptions {
            verbose: Some(if a.quiet {
                Verbosity::Silent
            } else {
                Verbosity::Auto
            }),
            log_to_stderr: a.json,
            interrupt: Some(&INTERRUPT),
            info,
            progress_every: Some(std::time::Duration::from_secs_f64(a.progress_every)),
        },
    );
    let mut trained = match fitted {
        Ok(t) => t,
        Err(e @ scrawl::Error::Interrupted(_)) => {
            return Err(anyhow::Error::new(e).context(format!(
                "resume with: scrawl train --resume {}",
                out.display()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let test = run.finish(&mut trained, sets.test.as_ref())?;
    let model = &trained.model;
    let history = &trained.history;
    if spec.init.is_none() {
        let steps = (history.epochs.len() * steps_per_epoch) as u64;
        if let Some(note) = moving_statistics_note(model, steps) {
            eprintln!("{note}");
        }
    }
    let model_path = out.join(scrawl::run::MODEL);
    if a.json {
        let result = json!({
            "test_accuracy": test.map(|t| t.accuracy),
            "test_loss": test.map(|t| t.loss),
            "epochs": history.epochs.len(),
            "seconds": trained.seconds,
            "seconds_per_epoch": trained.seconds / history.epochs.len().max(1) as f64,
            "model": model.config().name,
            "params": model.param_count(),
            "out": out,
            "history": history.epochs,
        });
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    match test {
        Some(t) => println!(
            "Test loss: {} - test accuracy: {:.4} ({}/{})",
            scrawl::history::format_loss(t.loss),
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
            trained.seconds,
            out.join("curves.png").display()
        );
        let best = out.join(scrawl::run::BEST);
        if best.is_file() {
            println!("The best epoch's model is {}", best.display());
        }
    }
    Ok(())
}
