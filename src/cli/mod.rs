//! Command-line parsing and dispatch. Each subcommand lives in its own file and only
//! turns flags into library calls and results into text.

mod bench_cmd;
mod data_cmd;
mod ensemble_cmd;
mod inspect;
mod interop_cmd;
mod lr_find_cmd;
mod runs;
mod serve_cmd;
mod sweep_cmd;
mod train;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use scrawl::data::{self, Dataset, DatasetSpec};
use scrawl::model::{ModelConfig, Sequential};
use scrawl::presets;

/// Handwritten-digit recognition: load MNIST, train, evaluate, predict.
#[derive(Parser)]
#[command(name = "scrawl", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on MNIST, report its test accuracy and save it.
    Train(Box<train::TrainArgs>),
    /// Loss and accuracy of a saved model on the test set.
    Evaluate(inspect::EvaluateArgs),
    /// Test accuracy of several models together (their probabilities averaged).
    Ensemble(ensemble_cmd::EnsembleArgs),
    /// Class probabilities of one test image.
    Predict(inspect::PredictArgs),
    /// The layer table of a preset, a model config file or a saved model.
    Summary(inspect::SummaryArgs),
    /// List the model presets.
    Presets,
    /// Look at the data.
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
    /// Draw the loss and accuracy curves of one or more runs on one chart.
    Plot(runs::PlotArgs),
    /// List the runs with their best validation accuracy.
    Runs(runs::RunsArgs),
    /// Bring a model trained elsewhere into a scrawl model file (Keras, PyTorch through
    /// ONNX, the book's pickles, NumPy .npz).
    #[command(subcommand)]
    Import(interop_cmd::ImportCommand),
    /// Write a model in another format (NumPy .npz, ONNX, Keras .keras).
    Export(interop_cmd::ExportArgs),
    /// The learning-rate range test: the loss as the rate grows, a chart, and a
    /// suggested rate (leaves no run behind).
    LrFind(lr_find_cmd::LrFindArgs),
    /// Train one MLP per setting (hidden sizes, optimizer, lr, batch size) on one split
    /// and tabulate train and test accuracy.
    Sweep(sweep_cmd::SweepArgs),
    /// Training and inference speed of presets, against this machine's GEMM peak.
    Bench(bench_cmd::BenchArgs),
    /// A web page to draw a digit and see the prediction, and a JSON API.
    Serve(serve_cmd::ServeArgs),
    /// Print a shell completion script: `scrawl completions bash > /etc/bash_completion.d/scrawl`,
    /// or `source <(scrawl completions bash)`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// `--threads`, on the commands that compute (train, evaluate, predict, ensemble,
/// lr-find, sweep, bench) and nowhere else (`serve --threads` is its own: the
/// threads that handle connections).
#[derive(clap::Args, Clone, Copy, Default)]
struct Threads {
    /// Worker threads (default: one per core). Same seed + same threads = same weights.
    #[arg(long, value_parser = threads_arg)]
    threads: Option<usize>,
}

impl Command {
    /// The `--threads` given to a computing command; `None` for the others, which
    /// run on the default pool (they compute nothing worth sizing).
    fn threads(&self) -> Option<usize> {
        match self {
            Command::Train(a) => a.compute.threads,
            Command::Evaluate(a) => a.compute.threads,
            Command::Ensemble(a) => a.compute.threads,
            Command::Predict(a) => a.compute.threads,
            Command::LrFind(a) => a.compute.threads,
            Command::Sweep(a) => a.compute.threads,
            Command::Bench(a) => a.compute.threads,
            _ => None,
        }
    }
}

/// `--overwrite`, on the commands that write a file (or a report's files) the user
/// names: without it an existing file is never replaced, and the command stops before
/// doing any work.
#[derive(clap::Args, Clone, Copy, Default)]
struct Overwrite {
    /// Replace the output if it is already there (without this flag an existing file
    /// is never replaced).
    #[arg(long)]
    overwrite: bool,
}

impl Overwrite {
    /// Whether the output file `path` can be written, asked before the command works
    /// (so that a long run does not end in a failed save): its folder must exist, and
    /// [`Overwrite::check_existing`] must pass.
    fn check(self, path: &Path) -> anyhow::Result<()> {
        check_folder(path)?;
        self.check_existing(path)
    }

    /// Refuses `path` when it names a folder (never replaced), or when something
    /// else is already there (a file, a link) and `--overwrite` was not given.
    fn check_existing(self, path: &Path) -> anyhow::Result<()> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => anyhow::bail!(
                "{}: is a folder: give a file path inside it instead",
                path.display()
            ),
            Ok(_) if !self.overwrite => anyhow::bail!(
                "{} already exists: add --overwrite to replace it",
                path.display()
            ),
            _ => Ok(()),
        }
    }
}

/// Refuses an output file `path` whose folder is not there (or is not a folder),
/// before the command works rather than when it saves.
fn check_folder(path: &Path) -> anyhow::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(folder) if !folder.is_dir() => anyhow::bail!(
            "{}: {} {}",
            path.display(),
            folder.display(),
            if folder.exists() {
                "is not a folder"
            } else {
                "does not exist"
            }
        ),
        _ => Ok(()),
    }
}

/// Where the data comes from (shared by every command that reads images).
#[derive(clap::Args, Clone)]
struct DataArgs {
    /// Folder holding the IDX files (else $SCRAWL_DATA, ./data/NAME, ../shared/data/NAME,
    /// /usr/share/datasets/NAME).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Which data set in MNIST's IDX layout: mnist, fashion-mnist (with its class names),
    /// kmnist, or any folder name [default: mnist; for a saved model, the data set it
    /// was trained on].
    #[arg(long, value_name = "NAME")]
    dataset: Option<String>,
    /// Training images from a CSV file (any Kaggle layout, labelled) or a folder of PNGs
    /// (INDEX_LABEL.png files, or folders 0-9) instead of IDX.
    #[arg(long, value_name = "FILE", conflicts_with = "data")]
    train: Option<PathBuf>,
    /// Test images from a CSV file or a PNG folder instead of IDX (unlabelled CSVs can
    /// only be predicted).
    #[arg(long, value_name = "FILE", conflicts_with = "data")]
    test: Option<PathBuf>,
    /// Never download MNIST; fail if it is not found locally.
    #[arg(long)]
    no_download: bool,
}

/// The data a command works on: either part may be missing when it comes from CSV.
struct Sets {
    train: Option<Dataset>,
    test: Option<Dataset>,
    /// Where it was read from, for messages and the run's config.
    source: String,
    /// Which data set it is, with its class names.
    spec: DatasetSpec,
}

/// Why a command that trains cannot run without training images.
const NO_TRAINING_IMAGES: &str = "this needs labelled training images: give --train FILE (a labelled CSV), or use the MNIST IDX files";

impl Sets {
    fn train(&self) -> anyhow::Result<&Dataset> {
        self.train
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!(NO_TRAINING_IMAGES))
    }

    /// The training images, moved out of the sets.
    fn take_train(&mut self) -> anyhow::Result<Dataset> {
        self.train
            .take()
            .ok_or_else(|| anyhow::anyhow!(NO_TRAINING_IMAGES))
    }

    fn test(&self) -> anyhow::Result<&Dataset> {
        self.test
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("this needs labelled test images: give --test FILE (a labelled CSV), or use the MNIST IDX files"))
    }

    /// The `train` or `test` part.
    fn split(&self, name: &str) -> anyhow::Result<&Dataset> {
        match name {
            "train" => self.train(),
            "test" => self.test(),
            other => anyhow::bail!("--split must be train or test, not '{other}'"),
        }
    }
}

impl DataArgs {
    /// The data for a saved model: by default the data set it was trained on (its
    /// file records it), so a Fashion-MNIST model is never scored on digits by
    /// accident; naming another one explicitly is allowed, with a warning.
    fn load_for_model(
        &self,
        model: &Path,
        info: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> anyhow::Result<Sets> {
        let trained_on = info.get("dataset").and_then(|v| v.as_str());
        let uses_idx = self.train.is_none() && self.test.is_none();
        match (&self.dataset, trained_on) {
            (None, Some(name)) if uses_idx => {
                let mut args = self.clone();
                args.dataset = Some(name.to_string());
                return args.load();
            }
            (Some(asked), Some(name)) if asked != name => eprintln!(
                "warning: {} was trained on {name}; using {asked} as asked (--dataset)",
                model.display()
            ),
            _ => {}
        }
        self.load()
    }

    fn load(&self) -> anyhow::Result<Sets> {
        let name = self.dataset.as_deref().unwrap_or("mnist");
        data::catalog::check_name(name)?;
        let spec = DatasetSpec::named(name);
        if self.train.is_none() && self.test.is_none() {
            let dir = data::locate_dataset(self.data.as_deref(), name, !self.no_download)?;
            let m = data::load_mnist(&dir)?;
            let shown = if spec.is_mnist() { "MNIST" } else { &spec.name };
            return Ok(Sets {
                train: Some(m.train),
                test: Some(m.test),
                source: format!("{shown} from {}", m.dir.display()),
                spec,
            });
        }
        let mut sources = Vec::new();
        let mut read = |path: &Option<PathBuf>, what: &str| -> anyhow::Result<Option<Dataset>> {
            let Some(path) = path else { return Ok(None) };
            if path.is_dir() {
                let set = data::png::read_png_dir(path)?;
                sources.push(format!(
                    "{} (folder of PNG images, {} images)",
                    path.display(),
                    set.len()
                ));
                return Ok(Some(set));
            }
            let csv = data::csv::read_csv(path)?;
            sources.push(format!(
                "{} ({}, {} rows)",
                path.display(),
                csv.layout.describe(),
                csv.dataset.len()
            ));
            if !csv.labelled() {
                if what == "train" {
                    anyhow::bail!(
                        "{} has no labels, so it cannot be trained on (it is a {} file)",
                        path.display(),
                        csv.layout.describe()
                    );
                }
                return Ok(None);
            }
            Ok(Some(csv.dataset))
        };
        let train = read(&self.train, "train")?;
        let test = read(&self.test, "test")?;
        Ok(Sets {
            train,
            test,
            source: sources.join(", "),
            spec,
        })
    }
}

/// Parses a float flag, refusing NaN and infinities: `--min-lr NaN` would otherwise be
/// taken, and every comparison with it is false, so the learning rate never drops.
fn finite_f64(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{}' is not a number", scrawl::files::clip(s, 40)))?;
    if !v.is_finite() {
        return Err(format!("'{s}' is not a finite number"));
    }
    Ok(v)
}

/// [`finite_f64`] for single-precision flags (a value that overflows f32 is refused).
fn finite_f32(s: &str) -> Result<f32, String> {
    let v = finite_f64(s)? as f32;
    if !v.is_finite() {
        return Err(format!("'{s}' is too large"));
    }
    Ok(v)
}

/// Parses a whole number in `1..=max`, saying the range when it is not.
fn count_in(s: &str, max: usize) -> Result<usize, String> {
    let v: u128 = s.trim().parse().map_err(|_| {
        format!(
            "'{}' is not a whole number from 1 to {max}",
            scrawl::files::clip(s, 40)
        )
    })?;
    if v == 0 || v > max as u128 {
        return Err(format!("{v} is not reasonable: give 1 to {max}"));
    }
    Ok(v as usize)
}

/// The largest batch a command accepts (a batch larger than the data is clamped to
/// it anyway, as Keras does; this refuses typos that would overflow counts).
const MAX_BATCH: usize = 1 << 24;

/// `--batch-size`: 1 to [`MAX_BATCH`].
fn batch_size_arg(s: &str) -> Result<usize, String> {
    count_in(s, MAX_BATCH)
}

/// A number of steps (`--save-freq`): 1 to 2^32 - 1.
fn steps_arg(s: &str) -> Result<usize, String> {
    count_in(s, u32::MAX as usize)
}

/// `--clean-epochs`: 0 (none) to `u32::MAX`; more than the run's epochs is refused
/// with the run's other settings.
fn clean_epochs_arg(s: &str) -> Result<usize, String> {
    match s.trim().parse::<u32>() {
        Ok(v) => Ok(v as usize),
        Err(_) => Err(format!(
            "'{}' is not a whole number from 0 to {}",
            scrawl::files::clip(s, 40),
            u32::MAX
        )),
    }
}

/// The most worker threads (far more than any machine scrawl runs on has cores; each
/// thread costs a stack).
const MAX_THREADS: usize = 256;

/// `--threads`: 1 to [`MAX_THREADS`].
fn threads_arg(s: &str) -> Result<usize, String> {
    count_in(s, MAX_THREADS)
}

/// A duration flag in seconds: more than 0 and at most a day.
fn seconds_arg(s: &str) -> Result<f64, String> {
    let v = finite_f64(s)?;
    if !(v > 0.0 && v <= 86_400.0) {
        return Err(format!(
            "{v} is not reasonable: give more than 0 and at most 86400 seconds"
        ));
    }
    Ok(v)
}

/// `--repeats` and other repetition counts: 1 to 1000.
fn repeats_arg(s: &str) -> Result<usize, String> {
    count_in(s, 1000)
}

/// The most epochs a command accepts: far beyond any useful MNIST run, but a typo such
/// as `--epochs 100000000` is refused instead of training for a year.
const MAX_EPOCHS: usize = 100_000;

/// Refuses an `--epochs` of 0 or over [`MAX_EPOCHS`].
fn check_epochs(epochs: usize) -> anyhow::Result<()> {
    if epochs == 0 {
        anyhow::bail!("--epochs must be at least 1");
    }
    if epochs > MAX_EPOCHS {
        anyhow::bail!("--epochs {epochs} is not reasonable: give 1 to {MAX_EPOCHS}");
    }
    Ok(())
}

/// A model architecture from a preset name, `mlp:...`, or a config JSON file.
/// `1 thread`, `2 threads`: a count with its noun, singular or plural.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn model_config(spec: &str) -> anyhow::Result<ModelConfig> {
    let path = Path::new(spec);
    let names_a_file = path.exists() && !path.is_dir();
    if spec.ends_with(".json") || (names_a_file && !spec.ends_with(".safetensors")) {
        let config = ModelConfig::from_json_file(path)?;
        // Build it once here so that an architecture that does not fit together is
        // reported against the file it came from, not as a bare layer error later.
        if let Err(e) = Sequential::new(config.clone(), 0) {
            return Err(scrawl::Error::format(path, e.to_string()).into());
        }
        return Ok(config);
    }
    let config = presets::preset(spec)?;
    // Whether it can be a classifier at all, before any data is read.
    scrawl::model::Output::of(&config)?;
    Ok(config)
}

/// Loads a saved model file, or a run folder's model, with a hint when the user
/// passed a preset name instead.
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
    let path = scrawl::run::model_file(path)?;
    Ok(Sequential::load_with_info(&path)?)
}

/// Runs the command line; errors are printed as one message, never a panic.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = scrawl::init_threads(cli.command.threads()) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Train(a) => train::run(*a),
        Command::Evaluate(a) => inspect::evaluate(a),
        Command::Predict(a) => inspect::predict(a),
        Command::Ensemble(a) => ensemble_cmd::run(a),
        Command::Summary(a) => inspect::summary(a),
        Command::Presets => {
            for (name, desc) in presets::PRESETS {
                println!("{name:<26}{desc}");
            }
            println!("{:<26}any relu MLP, e.g. mlp:256,128", "mlp:H1,H2,...");
            println!(
                "{:<26}a model config file, scrawl's or Keras's to_json() (see README)",
                "FILE.json"
            );
            Ok(())
        }
        Command::Data(c) => data_cmd::run(c),
        Command::Plot(a) => runs::plot_runs(a),
        Command::Runs(a) => runs::list(a),
        Command::Import(c) => interop_cmd::import(c),
        Command::Export(a) => interop_cmd::export(a),
        Command::LrFind(a) => lr_find_cmd::run(a),
        Command::Sweep(a) => sweep_cmd::run(a),
        Command::Bench(a) => bench_cmd::run(a),
        Command::Serve(a) => serve_cmd::serve(a),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "scrawl", &mut std::io::stdout());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // 130 = 128 + SIGINT, what a shell reports for a program stopped by Ctrl-C.
            let interrupted = e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<scrawl::Error>(),
                    Some(scrawl::Error::Interrupted(_))
                )
            });
            if interrupted {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
