//! Runs: a training run as a folder the library owns, so that a run started from the
//! command line can be continued from Rust and the other way round.
//!
//! A [`Run`] is a locked folder with a [`RunSpec`] in `config.json`. [`Run::fit`]
//! builds the model (random weights, the weights of [`InitSpec`], or the last
//! checkpoint's), its optimizer and callbacks from the spec, and trains, saving the
//! training state to `checkpoint.safetensors` after every epoch; [`Run::finish`] tests
//! the model and writes `model.safetensors`, `history.csv`, `history.json` and the
//! curves. Opening the folder again ([`Run::open`]) and calling `fit` continues where
//! the checkpoint stands, bit for bit; [`Run::extend_to`] raises the epoch count of a
//! finished run first.
//!
//! ```no_run
//! use scrawl::run::{Folder, Run, RunOptions, RunSpec};
//! # fn main() -> scrawl::Result<()> {
//! let mnist = scrawl::data::load_mnist(&scrawl::data::find_mnist(None)?)?;
//! let spec = RunSpec::new(
//!     scrawl::presets::preset("mlp-512")?,
//!     scrawl::optim::OptimizerConfig::adam(),
//!     2,
//!     200,
//! );
//! let mut run = Run::create(spec, Folder::At("runs/mine".into()))?;
//! let mut trained = run.fit(&mnist.train, Some(&mnist.test), RunOptions::default())?;
//! run.finish(&mut trained, Some(&mnist.test))?;
//! drop(run);
//! // Later, perhaps in another process: two more epochs.
//! let mut run = Run::open("runs/mine".as_ref())?;
//! run.extend_to(4)?;
//! let mut trained = run.fit(&mnist.train, Some(&mnist.test), RunOptions::default())?;
//! run.finish(&mut trained, Some(&mnist.test))?;
//! # Ok(()) }
//! ```

pub mod folder;
mod spec;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;

pub use folder::RunLock;
pub use spec::{
    CallbackSpec, DataSpec, EarlyStoppingSpec, InitSpec, ReduceLrSpec, RunSpec, TensorBoardSpec,
};

use crate::callbacks::Schedule;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::history::History;
use crate::model::{Evaluation, Sequential};
use crate::train::checkpoint::{TrainingState, load_checkpoint};
use crate::train::{FitOptions, Verbosity};

/// The run's settings: its [`RunSpec`] and notes for people.
pub const CONFIG: &str = "config.json";
/// The trained model, written by [`Run::finish`].
pub const MODEL: &str = "model.safetensors";
/// The training state after the last finished epoch (or `save_freq` step).
pub const CHECKPOINT: &str = "checkpoint.safetensors";
/// The best epoch's model, with the `best` checkpoint setting.
pub const BEST: &str = "best.safetensors";
/// One row per epoch, rewritten after each.
pub const HISTORY_CSV: &str = "history.csv";
/// The history as JSON, written by [`Run::finish`].
pub const HISTORY_JSON: &str = "history.json";

/// Where [`Run::create`] puts a new run.
#[derive(Debug, Clone)]
pub enum Folder {
    /// A new folder under this one, named for the local time (`20261202-141503`, then
    /// `-2`, `-3`, ... when taken).
    NewUnder(PathBuf),
    /// This folder, which must not hold a run already.
    At(PathBuf),
    /// This folder, replacing the run files it holds (other files are left alone).
    Replace(PathBuf),
}

/// How [`Run::fit`] reports and when it stops.
#[derive(Debug, Default)]
pub struct RunOptions<'a> {
    /// What to print (default: a progress bar on a terminal, else a line an epoch).
    pub verbose: Option<Verbosity>,
    /// Epoch lines on standard error instead of standard output.
    pub log_to_stderr: bool,
    /// Set to true (by a Ctrl-C handler) to stop after the current step, saving the
    /// training state first.
    pub interrupt: Option<&'a AtomicBool>,
    /// Extra entries for the model files' metadata (the data set, class names).
    pub info: BTreeMap<String, serde_json::Value>,
    /// When the output is a log: a progress line at most this often during long
    /// epochs (default [`crate::train::HEARTBEAT`], 30 s).
    pub progress_every: Option<std::time::Duration>,
}

/// Where a call to [`Run::fit`] started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// From the first epoch.
    Fresh,
    /// From a checkpoint: epochs done, and steps done in the next.
    Resumed {
        /// Epochs completed.
        epoch: usize,
        /// Steps completed in the next epoch.
        step: usize,
    },
    /// The checkpoint says the run is over; nothing was trained.
    AlreadyFinished {
        /// Epochs completed.
        epoch: usize,
    },
}

/// A model [`Run::fit`] trained, with its history.
#[derive(Debug)]
pub struct Trained {
    /// The model, weights as training left them.
    pub model: Sequential,
    /// Every epoch of the run, resumed ones included.
    pub history: History,
    /// Wall-clock seconds of this call's training.
    pub seconds: f64,
    /// Where this call started.
    pub start: Start,
    /// Entries the model files' metadata gets.
    pub info: BTreeMap<String, serde_json::Value>,
}

/// `config.json`: the spec, plus notes for people (the command line, the data's
/// source) that never change what the run computes.
#[derive(Serialize, Deserialize)]
struct ConfigFile {
    #[serde(flatten)]
    spec: RunSpec,
    #[serde(default)]
    notes: BTreeMap<String, serde_json::Value>,
}

/// A run folder this process holds, and the spec of its run.
#[derive(Debug)]
pub struct Run {
    lock: RunLock,
    spec: RunSpec,
    notes: BTreeMap<String, serde_json::Value>,
    /// Made by this process: no checkpoint is expected.
    created: bool,
}

impl Run {
    /// Makes the folder of a new run, locks it and writes its spec to `config.json`.
    pub fn create(spec: RunSpec, folder: Folder) -> Result<Run> {
        Self::create_with_notes(spec, folder, BTreeMap::new())
    }

    /// [`Run::create`] with notes for people in `config.json` (the command line).
    pub fn create_with_notes(
        spec: RunSpec,
        folder: Folder,
        notes: BTreeMap<String, serde_json::Value>,
    ) -> Result<Run> {
        spec.validate()?;
        // Check that the architecture is a classifier before any folder is made.
        crate::model::Output::of(&spec.model)?;
        let lock = match folder {
            Folder::NewUnder(parent) => {
                let stem = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
                folder::create_unique(&parent, &stem)?
            }
            Folder::At(dir) | Folder::Replace(dir) if dir.exists() && !dir.is_dir() => {
                return Err(Error::config(format!(
                    "{} is a file, not a folder",
                    dir.display()
                )));
            }
            Folder::At(dir) => {
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                let lock = folder::lock(&dir)?;
                let found = folder::existing_run_files(&dir);
                if !found.is_empty() {
                    return Err(Error::config(format!(
                        "{} already holds a run ({}): continue it with --resume {0}, pick another folder, or add --overwrite to replace it",
                        dir.display(),
                        found.join(", ")
                    )));
                }
                lock
            }
            Folder::Replace(dir) => {
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                let lock = folder::lock(&dir)?;
                folder::remove_run_files(&dir)?;
                lock
            }
        };
        let run = Run {
            lock,
            spec,
            notes,
            created: true,
        };
        run.write_config()?;
        Ok(run)
    }

    /// Opens the run in `dir` to continue it: locks the folder and reads its spec.
    pub fn open(dir: &Path) -> Result<Run> {
        let path = dir.join(CONFIG);
        if !dir.is_dir() {
            return Err(Error::config(format!(
                "{} is not a run folder (no such folder)",
                dir.display()
            )));
        }
        let lock = folder::lock(dir)?;
        let text = crate::files::read_text_limited(&path, 16 << 20, "a run config")?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::format(&path, format!("not valid JSON: {e}")))?;
        if value.get("train_args").is_some() {
            return Err(Error::format(
                &path,
                "written by a scrawl before 0.2, whose runs cannot be continued; start a new run from its model with --init",
            ));
        }
        let file: ConfigFile = serde_json::from_value(value).map_err(|e| {
            Error::format(
                &path,
                format!("not a run spec scrawl can continue ({e}); start the run again"),
            )
        })?;
        // Anyone's file: its numbers are checked as a new run's are.
        file.spec
            .validate()
            .map_err(|e| Error::format(&path, e.to_string()))?;
        Ok(Run {
            lock,
            spec: file.spec,
            notes: file.notes,
            created: false,
        })
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        self.lock.dir()
    }

    /// The run's spec.
    pub fn spec(&self) -> &RunSpec {
        &self.spec
    }

    /// A path inside the run folder.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir().join(file)
    }

    /// A warning when this process computes with another thread count than the run
    /// did (the result then is not bit-identical to an uninterrupted run).
    pub fn thread_mismatch(&self) -> Option<String> {
        let now = rayon::current_num_threads();
        (self.spec.threads != now).then(|| {
            format!(
                "the run used {} threads and this process uses {now}: the result will not be bit-identical to an uninterrupted run (pass --threads {})",
                self.spec.threads, self.spec.threads
            )
        })
    }

    /// Raises the run's epoch count to `epochs` (it may be finished), so that the
    /// next [`Run::fit`] trains the epochs in between. Schedules that stretch over the
    /// whole run (cosine, one-cycle) would change what the earlier epochs were
    /// trained with, so a run with one cannot be extended.
    pub fn extend_to(&mut self, epochs: usize) -> Result<()> {
        if epochs < self.spec.epochs {
            return Err(Error::config(format!(
                "{} is a run of {} epochs: it can be extended, not shortened (asked for {epochs})",
                self.dir().display(),
                self.spec.epochs
            )));
        }
        if epochs == self.spec.epochs {
            return Ok(());
        }
        if let Some(s @ (Schedule::Cosine | Schedule::OneCycle { .. })) =
            self.spec.callbacks.schedule()?
        {
            let name = if s == Schedule::Cosine {
                "cosine"
            } else {
                "one-cycle"
            };
            return Err(Error::config(format!(
                "{} follows a {name} learning-rate schedule over its {} epochs; over {epochs} it would have been another schedule from the start. Start a new run from its model instead: --init {0}",
                self.dir().display(),
                self.spec.epochs
            )));
        }
        self.spec.epochs = epochs;
        self.write_config()
    }

    fn write_config(&self) -> Result<()> {
        let file = ConfigFile {
            spec: self.spec.clone(),
            notes: self.notes.clone(),
        };
        let text = serde_json::to_string_pretty(&file)
            .map_err(|e| Error::config(format!("the run spec: {e}")))?;
        write_atomic(&self.path(CONFIG), text.as_bytes())
    }

    /// Where [`Run::fit`] will start: [`Start::Fresh`] for a new run, else where its
    /// checkpoint stands (read from disk).
    pub fn position(&self) -> Result<Start> {
        let checkpoint = self.path(CHECKPOINT);
        if self.created || !checkpoint.is_file() {
            return Ok(Start::Fresh);
        }
        let (_, s) = load_checkpoint(&checkpoint)?;
        Ok(self.start_of(&s))
    }

    fn start_of(&self, s: &TrainingState) -> Start {
        if s.finished && self.spec.epochs <= s.planned_epochs() {
            Start::AlreadyFinished { epoch: s.epoch }
        } else {
            Start::Resumed {
                epoch: s.epoch,
                step: s.step,
            }
        }
    }

    /// The model a fresh run starts from: random weights from the seed, or the
    /// weights of `init` (which must have the spec's architecture).
    fn initial_model(&self) -> Result<Sequential> {
        let Some(init) = &self.spec.init else {
            return Sequential::new(self.spec.model.clone(), self.spec.seed);
        };
        let path = model_file(&init.from)?;
        let saved = Sequential::load(&path)?;
        if saved.config().layers != self.spec.model.layers
            || saved.config().input_shape != self.spec.model.input_shape
        {
            return Err(Error::config(format!(
                "{} holds another architecture than the run's model",
                path.display()
            )));
        }
        // Built from this run's seed (its dropout streams), then given the weights.
        let mut model = Sequential::new(self.spec.model.clone(), self.spec.seed)?;
        crate::callbacks::set_weights(&mut model, &crate::callbacks::weights_of(&saved))?;
        Ok(model)
    }

    /// Trains the run from where it stands: from the start when the folder was just
    /// created, else from its checkpoint. `train` and `validation` must be the data
    /// the spec describes (a different training set size is refused).
    pub fn fit(
        &mut self,
        train: &Dataset,
        validation: Option<&Dataset>,
        opts: RunOptions<'_>,
    ) -> Result<Trained> {
        let checkpoint = self.path(CHECKPOINT);
        let (mut model, state) = if self.created {
            (self.initial_model()?, None)
        } else if checkpoint.is_file() {
            let (model, state) = load_checkpoint(&checkpoint)?;
            if model.config() != &self.spec.model {
                return Err(Error::format(
                    &checkpoint,
                    "holds another architecture than the run's config.json",
                ));
            }
            (model, Some(state))
        } else {
            return Err(Error::config(no_checkpoint_message(self.dir())));
        };
        if let Some(init) = &self.spec.init {
            for name in &init.freeze {
                model.freeze(name)?;
            }
        }
        model.compile(&self.spec.optimizer, self.spec.loss)?;
        let start = state.as_ref().map_or(Start::Fresh, |s| self.start_of(s));
        let mut info = opts.info.clone();
        info.insert("seed".into(), json!(self.spec.seed));
        info.insert("batch_size".into(), json!(self.spec.batch_size));
        info.insert(
            "optimizer".into(),
            serde_json::to_value(&self.spec.optimizer).unwrap_or_default(),
        );
        let steps = train
            .len()
            .div_ceil(self.spec.batch_size.min(train.len().max(1)));
        let callbacks = self.spec.callbacks.build(
            self.dir(),
            validation.is_some(),
            (steps * self.spec.epochs) as u64,
            &info,
        )?;
        // From here on the folder holds this run's training: a second call continues
        // from the checkpoint this one leaves.
        self.created = false;
        let clock = Instant::now();
        let fitted = model.fit(
            train,
            FitOptions {
                epochs: self.spec.epochs,
                batch_size: self.spec.batch_size,
                shuffle: true,
                seed: self.spec.seed,
                validation,
                validation_freq: self.spec.validation_freq,
                verbose: opts.verbose.unwrap_or(Verbosity::Auto),
                log_to_stderr: opts.log_to_stderr,
                callbacks,
                interrupt: opts.interrupt,
                checkpoint: Some(checkpoint.clone()),
                save_freq: self.spec.save_freq,
                resume: state,
                augment: self.spec.augment,
                progress_every: opts.progress_every.unwrap_or(crate::train::HEARTBEAT),
            },
        );
        let history = match fitted {
            Ok(h) => h,
            Err(e) => {
                // Whatever finished is on disk (the last checkpoint, history.csv): draw
                // the curves of it so the user can see what happened.
                if let Ok((_, s)) = load_checkpoint(&checkpoint) {
                    let _ = self.write_curves(&s.history);
                }
                return Err(e);
            }
        };
        Ok(Trained {
            model,
            history,
            seconds: clock.elapsed().as_secs_f64(),
            start,
            info,
        })
    }

    /// Tests the trained model on `test` (when given) and writes the run's results:
    /// `model.safetensors` (with the test accuracy in its metadata), `history.csv`,
    /// `history.json` and the curves.
    pub fn finish(
        &self,
        trained: &mut Trained,
        test: Option<&Dataset>,
    ) -> Result<Option<Evaluation>> {
        let batch = self.spec.batch_size.max(100);
        let evaluation = test.map(|t| trained.model.evaluate(t, batch)).transpose()?;
        let mut info = trained.info.clone();
        info.insert(
            "test_accuracy".into(),
            json!(evaluation.map(|t| t.accuracy)),
        );
        info.insert("test_loss".into(), json!(evaluation.map(|t| t.loss)));
        info.insert("epochs".into(), json!(trained.history.epochs.len()));
        trained.model.save_with_info(&self.path(MODEL), &info)?;
        write_atomic(&self.path(HISTORY_CSV), trained.history.to_csv().as_bytes())?;
        let json = serde_json::to_string_pretty(&trained.history)
            .map_err(|e| Error::config(format!("the history: {e}")))?;
        write_atomic(&self.path(HISTORY_JSON), json.as_bytes())?;
        self.write_curves(&trained.history)?;
        self.write_tensorboard_summary(trained, test)?;
        Ok(evaluation)
    }

    /// With a `TensorBoard` callback: the run's hyperparameters, and (with the `plot`
    /// feature and a test set) the gallery of its test mistakes, in the log folder.
    #[cfg(feature = "tensorboard")]
    fn write_tensorboard_summary(&self, trained: &Trained, test: Option<&Dataset>) -> Result<()> {
        use crate::tensorboard::{EventWriter, Kind, hparams, session_end};
        let Some(t) = &self.spec.callbacks.tensorboard else {
            return Ok(());
        };
        let s = &self.spec;
        let mut settings = crate::tensorboard::HParams::new();
        let text = |v: &str| Kind::Text(v.to_string());
        settings.insert("model".into(), text(&s.model.name));
        settings.insert("optimizer".into(), text(s.optimizer.name()));
        settings.insert(
            "learning_rate".into(),
            Kind::Number(s.optimizer.learning_rate() as f64),
        );
        settings.insert("batch_size".into(), Kind::Number(s.batch_size as f64));
        settings.insert("epochs".into(), Kind::Number(s.epochs as f64));
        settings.insert("seed".into(), Kind::Number(s.seed as f64));
        settings.insert("threads".into(), Kind::Number(s.threads as f64));
        settings.insert("augment".into(), Kind::Flag(s.augment.is_some()));
        if let Some(sched) = &s.callbacks.lr_schedule {
            settings.insert("lr_schedule".into(), text(sched));
        }
        let name = self
            .dir()
            .file_name()
            .map_or_else(|| "run".to_string(), |n| n.to_string_lossy().into_owned());
        let mut w = EventWriter::create(&t.log_dir(self.dir()))?;
        let step = trained.history.epochs.len() as i64;
        w.summary(0, vec![hparams(&name, &settings)])?;
        #[cfg(feature = "plot")]
        if let Some(test) = test {
            let probs = trained.model.predict(test, self.spec.batch_size.max(100))?;
            let (_, mistakes) =
                crate::report::find_mistakes(&probs, &test.labels, trained.model.classes());
            let names: Vec<String> = (0..trained.model.classes())
                .map(|c| c.to_string())
                .collect();
            let names = match trained.info.get("class_names") {
                Some(v) => serde_json::from_value(v.clone()).unwrap_or(names),
                None => names,
            };
            if let Some(grid) = crate::report::mistakes_gallery(&mistakes, test, &names) {
                use crate::plot::Figure;
                let (width, height) = grid.size();
                let png = crate::plot::render(&grid, crate::plot::Format::Png).map_err(|msg| {
                    Error::Plot {
                        path: w.path().to_path_buf(),
                        msg,
                    }
                })?;
                w.summary(
                    step,
                    vec![crate::tensorboard::image("mistakes", png, width, height)],
                )?;
            }
        }
        #[cfg(not(feature = "plot"))]
        let _ = test;
        w.summary(step, vec![session_end()])?;
        w.flush()
    }

    #[cfg(not(feature = "tensorboard"))]
    fn write_tensorboard_summary(&self, _: &Trained, _: Option<&Dataset>) -> Result<()> {
        Ok(())
    }

    /// Writes `curves.png` and `curves.svg` (with the `plot` feature; without it, a
    /// run has no pictures).
    #[cfg(not(feature = "plot"))]
    fn write_curves(&self, _history: &History) -> Result<()> {
        Ok(())
    }

    /// Writes `curves.png` and `curves.svg`.
    #[cfg(feature = "plot")]
    fn write_curves(&self, history: &History) -> Result<()> {
        use crate::plot::{self, TrainingCurves};
        if history.epochs.is_empty() {
            return Ok(());
        }
        let name = self.spec.model.name.clone();
        // The best epoch by the metric the callbacks watch (val_loss when there is
        // validation, else loss), as ModelCheckpoint's `best` would pick it.
        let validated = history.epochs.iter().any(|e| e.val_loss.is_some());
        let monitor = self.spec.callbacks.monitor(validated);
        let mode = self
            .spec
            .callbacks
            .mode()
            .unwrap_or(crate::callbacks::Mode::Auto);
        let max = mode.resolve(&monitor) == crate::callbacks::Mode::Max;
        let best = history
            .epochs
            .iter()
            .filter_map(|e| {
                e.metric(&monitor)
                    .filter(|v| v.is_finite())
                    .map(|v| (e.epoch, v))
            })
            .reduce(|a, b| match (max, b.1.total_cmp(&a.1)) {
                (true, std::cmp::Ordering::Greater) | (false, std::cmp::Ordering::Less) => b,
                _ => a,
            });
        let fig = TrainingCurves {
            title: format!("{name}: {}", self.dir().display()),
            runs: vec![(name, history.clone())],
            mark: best.map(|(epoch, _)| (epoch, format!("best {monitor}"))),
        };
        plot::save(&fig, &self.path("curves.png"))?;
        plot::save(&fig, &self.path("curves.svg"))
    }
}

/// The model file a path names: the path itself, or a run folder's
/// `model.safetensors`.
pub fn model_file(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let model = path.join(MODEL);
    if model.is_file() {
        return Ok(model);
    }
    let mut msg = format!(
        "{} is a folder without a {MODEL}: not a finished run",
        path.display()
    );
    if path.join(CHECKPOINT).is_file() {
        msg.push_str(&format!(
            "; it holds a {CHECKPOINT}: finish the run with scrawl train --resume {}",
            path.display()
        ));
    } else if path.join(BEST).is_file() {
        msg.push_str(&format!(
            "; its best model so far is {}",
            path.join(BEST).display()
        ));
    }
    Err(Error::config(msg))
}

/// Why a run folder without a checkpoint cannot be continued, saying what it holds.
fn no_checkpoint_message(dir: &Path) -> String {
    let epochs = History::from_csv_file(&dir.join(HISTORY_CSV)).map_or(0, |h| h.epochs.len());
    let mut msg = format!(
        "{} has no {CHECKPOINT}, so there is no training state to continue from",
        dir.display()
    );
    if epochs > 0 {
        msg.push_str(&format!(
            ": history.csv records {epochs} finished epoch{}, but the run was stopped before their checkpoint was written",
            if epochs == 1 { "" } else { "s" }
        ));
        if dir.join(BEST).is_file() {
            msg.push_str(" (best.safetensors holds its best model so far)");
        }
    } else {
        msg.push_str(": the run was stopped before its first checkpoint was written");
    }
    msg.push_str(". Start it again; --save-freq N also saves the state every N steps");
    msg
}
