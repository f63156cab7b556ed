//! Keras's `fit`: epochs of shuffled mini-batches, a progress bar or one line per
//! epoch, validation after each epoch, callbacks, and the history of it all.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::checkpoint::{TrainingState, save_checkpoint};
use super::progress::{Heartbeat, RunClock, human};
use crate::callbacks::{Callback, Control, EpochEnd};
use crate::data::Dataset;
use crate::data::augment::{Augmentation, AugmentedEpochs};
use crate::error::{Error, Result};
use crate::history::{EpochLog, History};
use crate::kernels::WarmWorkers;
use crate::model::Sequential;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// How much `fit` prints (Keras's `verbose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Nothing (verbose=0).
    Silent,
    /// A progress bar during each epoch, then the epoch's line (verbose=1).
    Bar,
    /// One line per epoch (verbose=2).
    Lines,
    /// `Bar` when standard error is a terminal, else `Lines`.
    Auto,
}

/// Settings of one `fit` call.
pub struct FitOptions<'a> {
    /// Passes over the training data.
    pub epochs: usize,
    /// Images per gradient step (Keras's default is 32).
    pub batch_size: usize,
    /// Shuffle the training data before each epoch.
    pub shuffle: bool,
    /// Seed of the shuffling.
    pub seed: u64,
    /// Data to evaluate after each epoch.
    pub validation: Option<&'a Dataset>,
    /// Validate after every this many epochs (Keras's `validation_freq`): epochs
    /// N, 2N, ...; the others log no val_* metrics, and callbacks that monitor one
    /// skip them. 1 validates after every epoch.
    pub validation_freq: usize,
    /// What to print.
    pub verbose: Verbosity,
    /// Print epoch lines to standard error instead of standard output (when standard
    /// output carries a machine-readable result).
    pub log_to_stderr: bool,
    /// Called after each epoch, in order.
    pub callbacks: Vec<Box<dyn Callback + 'a>>,
    /// When this flag becomes true (a Ctrl-C handler sets it), training stops after
    /// the current step, saving a checkpoint first if `checkpoint` is set.
    pub interrupt: Option<&'a AtomicBool>,
    /// Where the training state is saved after every epoch and on interruption, for
    /// `--resume` (see [`crate::train::checkpoint`]).
    pub checkpoint: Option<PathBuf>,
    /// With `checkpoint`: also save the state every this many steps inside an epoch
    /// (Keras's `BackupAndRestore(save_freq=N)`), so a kill loses at most N steps.
    pub save_freq: Option<usize>,
    /// A state to continue from, read by [`crate::train::checkpoint::load_checkpoint`]
    /// (the model must already hold that checkpoint's weights).
    pub resume: Option<TrainingState>,
    /// Random rotations, zooms and shifts of the training images, drawn anew each
    /// epoch from the seed, but for its last `clean_epochs` (validation images are
    /// never augmented).
    pub augment: Option<Augmentation>,
    /// With [`Verbosity::Lines`] (output to a log, not a terminal): a progress line
    /// at most this often during long epochs and validations, so a log shows life.
    pub progress_every: Duration,
}

impl Default for FitOptions<'_> {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: 32,
            shuffle: true,
            seed: 0,
            validation: None,
            validation_freq: 1,
            verbose: Verbosity::Auto,
            log_to_stderr: false,
            callbacks: Vec::new(),
            interrupt: None,
            checkpoint: None,
            save_freq: None,
            resume: None,
            augment: None,
            progress_every: super::progress::HEARTBEAT,
        }
    }
}

impl Sequential {
    /// Trains the model on `train` (Keras's `fit`). The model must be compiled.
    ///
    /// ```
    /// use scrawl::model::Sequential;
    /// use scrawl::train::{FitOptions, Verbosity};
    /// use scrawl::optim::OptimizerConfig;
    /// # fn main() -> scrawl::Result<()> {
    /// let mnist = scrawl::data::load_mnist(std::path::Path::new("../shared/data/mnist"))?;
    /// let mut model = Sequential::new(scrawl::presets::preset("mlp:64")?, 42)?;
    /// model.compile(&OptimizerConfig::adam(), Default::default())?;
    /// let history = model.fit(
    ///     &mnist.train.take(2_000),
    ///     FitOptions {
    ///         epochs: 2,
    ///         batch_size: 100,
    ///         validation: Some(&mnist.test),
    ///         verbose: Verbosity::Silent,
    ///         ..Default::default()
    ///     },
    /// )?;
    /// assert_eq!(history.epochs.len(), 2);
    /// assert!(history.epochs[1].loss < history.epochs[0].loss);
    /// assert!(history.epochs[1].val_accuracy.unwrap() > 0.8);
    /// # Ok(()) }
    /// ```
    pub fn fit(&mut self, train: &Dataset, opts: FitOptions<'_>) -> Result<History> {
        crate::kernels::on_warm_pool(|warm| self.fit_on_pool(train, opts, warm))
    }

    fn fit_on_pool(
        &mut self,
        train: &Dataset,
        mut opts: FitOptions<'_>,
        warm: &WarmWorkers,
    ) -> Result<History> {
        self.check_data(train)?;
        if let Some(v) = opts.validation {
            self.check_data(v)?;
        }
        if opts.batch_size == 0 {
            return Err(Error::config("batch size must be at least 1"));
        }
        if train.is_empty() {
            return Err(Error::config("the training set is empty"));
        }
        if opts.validation.is_some_and(|v| v.is_empty()) {
            return Err(Error::config(
                "the validation set is empty: an accuracy of 0/0 measures nothing",
            ));
        }
        // As Keras does, a batch larger than the training set is the whole set.
        opts.batch_size = opts.batch_size.min(train.len());
        self.check_batch(opts.batch_size, true)?;
        if self.optimizer.is_none() {
            return Err(Error::config(
                "compile the model (choose an optimizer) before fit",
            ));
        }
        let verbose = match opts.verbose {
            Verbosity::Auto if std::io::stderr().is_terminal() => Verbosity::Bar,
            Verbosity::Auto => Verbosity::Lines,
            v => v,
        };
        let say = |line: &str| {
            if verbose == Verbosity::Silent {
                return;
            }
            if opts.log_to_stderr {
                eprintln!("{line}");
            } else {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        };
        let steps = train.len().div_ceil(opts.batch_size);
        let mut at = Position::default();
        let mut history = History::default();
        if let Some(state) = opts.resume.take() {
            self.check_resume(&state, train, &opts)?;
            // A finished run continues only when it was given more epochs than it had.
            let done = state.finished && opts.epochs <= state.planned_epochs();
            self.restore_training(&state)?;
            for (cb, (name, cs)) in opts.callbacks.iter_mut().zip(state.callbacks) {
                if cb.name() != name {
                    return Err(Error::config(format!(
                        "the checkpoint's callbacks differ from this run's ({name} where {} is)",
                        cb.name()
                    )));
                }
                cb.restore(cs)?;
            }
            at = Position {
                epoch: state.epoch,
                step: state.step,
                loss_sum: state.loss_sum,
                correct: state.correct,
                seen: state.seen,
            };
            history = state.history;
            if done {
                return Ok(history);
            }
        }
        for cb in opts.callbacks.iter_mut() {
            cb.on_train_begin(self)?;
        }
        if let Some(a) = &opts.augment {
            a.check_epochs(opts.epochs)?;
        }
        let mut augmented = opts
            .augment
            .map(|a| AugmentedEpochs::new(train, a, opts.seed))
            .transpose()?;
        let mut order: Vec<usize> = Vec::with_capacity(train.len());
        let mut messages = Vec::new();
        let mut last_lr = history.epochs.last().map(|e| e.learning_rate);
        let mut clock = RunClock::start();
        let mut heartbeat = Heartbeat::new(opts.progress_every);
        let lines = verbose == Verbosity::Lines;
        for epoch in at.epoch + 1..=opts.epochs {
            let start = Instant::now();
            epoch_order(&mut order, train.len(), opts.seed, epoch, opts.shuffle);
            let data = match augmented.as_mut() {
                Some(a) => a.epoch(epoch, opts.epochs),
                None => train,
            };
            let bar = (verbose == Verbosity::Bar).then(|| progress_bar(epoch, opts.epochs, steps));
            for (step, batch) in order.chunks(opts.batch_size).enumerate().skip(at.step) {
                let global = self.optimizer.as_ref().map_or(0, |o| o.iterations());
                for cb in opts.callbacks.iter_mut() {
                    cb.on_batch_begin(self, global, steps);
                }
                warm.keep();
                let stats = self.train_on_batch(data, batch)?;
                if !stats.loss_sum.is_finite() {
                    if let Some(b) = &bar {
                        b.abandon();
                    }
                    let kept = match (&opts.checkpoint, epoch > 1) {
                        (Some(p), true) => format!(
                            " The checkpoint of epoch {} is kept in {}.",
                            epoch - 1,
                            p.display()
                        ),
                        _ => String::new(),
                    };
                    return Err(Error::Diverged(format!(
                        "the loss became {} at epoch {epoch}, step {}/{steps}; the weights were not updated with it. \
                         Try a lower learning rate (now {}).{kept}",
                        stats.loss_sum,
                        step + 1,
                        self.optimizer
                            .as_ref()
                            .map_or(0.0, |o| o.config().learning_rate())
                    )));
                }
                let done = self.optimizer.as_ref().map_or(0, |o| o.iterations());
                for cb in opts.callbacks.iter_mut() {
                    cb.on_batch_end(done, stats.loss_sum / batch.len() as f64)?;
                }
                at.step = step + 1;
                at.loss_sum += stats.loss_sum;
                at.correct += stats.correct;
                at.seen += batch.len();
                clock.step();
                let metrics = || {
                    format!(
                        "loss: {:.4} - accuracy: {:.4}",
                        at.loss_sum / at.seen as f64,
                        at.correct as f64 / at.seen as f64
                    )
                };
                // The whole run's ETA: this epoch's steps left and every later epoch's.
                let left_in_epoch = (steps - at.step) as u64;
                let run_eta = || {
                    let later = ((opts.epochs - epoch) * steps) as u64;
                    clock
                        .eta(left_in_epoch + later)
                        .map_or_else(String::new, |d| format!(" - run ETA {}", human(d)))
                };
                if let Some(b) = &bar {
                    b.set_position(step as u64 + 1);
                    if step % 16 == 0 || step + 1 == steps {
                        let whole = if opts.epochs > 1 {
                            run_eta()
                        } else {
                            String::new()
                        };
                        b.set_message(format!("{}{whole}", metrics()));
                    }
                } else if lines && at.step < steps && heartbeat.due() {
                    let eta = clock.eta(left_in_epoch).map(human).unwrap_or_default();
                    say(&format!(
                        "Epoch {epoch}/{} - step {}/{steps} - {} - ETA {eta}{}",
                        opts.epochs,
                        at.step,
                        metrics(),
                        run_eta()
                    ));
                }
                if let (Some(n), Some(path)) = (opts.save_freq, &opts.checkpoint)
                    && n > 0
                    && at.step < steps
                    && self
                        .optimizer
                        .as_ref()
                        .map_or(0, |o| o.iterations())
                        .is_multiple_of(n as u64)
                {
                    let state = self.training_state(&at, false, &history, &opts, train);
                    save_checkpoint(path, self, &state)?;
                }
                if opts.interrupt.is_some_and(|f| f.load(Ordering::SeqCst)) {
                    if let Some(b) = &bar {
                        b.abandon();
                    }
                    let saved = match &opts.checkpoint {
                        Some(path) => {
                            let state = self.training_state(&at, false, &history, &opts, train);
                            save_checkpoint(path, self, &state)?;
                            format!("; saved a checkpoint to {}", path.display())
                        }
                        None => String::new(),
                    };
                    return Err(Error::Interrupted(format!(
                        "interrupted at epoch {epoch}, step {}/{steps}{saved}",
                        step + 1
                    )));
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            let validate_now = epoch.is_multiple_of(opts.validation_freq.max(1));
            let (val_loss, val_accuracy) = match opts.validation.filter(|_| validate_now) {
                Some(v) => {
                    let e = self.evaluate_reporting(v, opts.batch_size, &mut |done, total| {
                        if lines && done < total && heartbeat.due() {
                            say(&format!(
                                "Epoch {epoch}/{} - validating: {done}/{total} images",
                                opts.epochs
                            ));
                        }
                    })?;
                    (Some(e.loss), Some(e.accuracy))
                }
                None => (None, None),
            };
            let lr = self
                .optimizer
                .as_ref()
                .map_or(0.0, |o| o.config().learning_rate());
            let log = EpochLog {
                epoch,
                loss: at.loss_sum / at.seen.max(1) as f64,
                accuracy: at.correct as f64 / at.seen.max(1) as f64,
                val_loss,
                val_accuracy,
                learning_rate: lr,
                seconds: start.elapsed().as_secs_f64(),
            };
            let mut line = log.line(opts.epochs);
            if last_lr.is_some_and(|l| l != lr) {
                let sci = crate::callbacks::format_number(lr as f64, ".4e").unwrap_or_default();
                line.push_str(&format!(" - learning_rate: {sci}"));
            }
            last_lr = Some(lr);
            say(&line);
            heartbeat.reset();
            history.epochs.push(log.clone());
            let mut stop = false;
            messages.clear();
            for cb in opts.callbacks.iter_mut() {
                let mut end = EpochEnd {
                    log: &log,
                    history: &history,
                    messages: &mut messages,
                    validation_skipped: opts.validation.is_some() && !validate_now,
                };
                stop |= cb.on_epoch_end(self, &mut end)? == Control::Stop;
            }
            for m in &messages {
                say(m);
            }
            at = Position {
                epoch,
                ..Position::default()
            };
            if let Some(path) = &opts.checkpoint {
                let finished = stop || epoch == opts.epochs;
                let state = self.training_state(&at, finished, &history, &opts, train);
                save_checkpoint(path, self, &state)?;
            }
            if stop {
                break;
            }
        }
        for cb in opts.callbacks.iter_mut() {
            cb.on_train_end(self, &history)?;
        }
        Ok(history)
    }

    fn check_resume(
        &self,
        state: &TrainingState,
        train: &Dataset,
        opts: &FitOptions<'_>,
    ) -> Result<()> {
        let differs = |what: &str, was: String, now: String| {
            Error::config(format!(
                "cannot resume: the checkpoint's {what} is {was} but this run's is {now}"
            ))
        };
        if state.batch_size != opts.batch_size {
            return Err(differs(
                "batch size",
                state.batch_size.to_string(),
                opts.batch_size.to_string(),
            ));
        }
        if state.seed != opts.seed {
            return Err(differs(
                "seed",
                state.seed.to_string(),
                opts.seed.to_string(),
            ));
        }
        if state.train_len != train.len() {
            return Err(differs(
                "training set size",
                state.train_len.to_string(),
                train.len().to_string(),
            ));
        }
        if state.epoch > opts.epochs {
            return Err(differs(
                "epoch",
                state.epoch.to_string(),
                format!("at most {} (its number of epochs)", opts.epochs),
            ));
        }
        if state.callbacks.len() != opts.callbacks.len() {
            return Err(differs(
                "number of callbacks",
                state.callbacks.len().to_string(),
                opts.callbacks.len().to_string(),
            ));
        }
        Ok(())
    }

    fn training_state(
        &self,
        at: &Position,
        finished: bool,
        history: &History,
        opts: &FitOptions<'_>,
        train: &Dataset,
    ) -> TrainingState {
        let opt = self.optimizer.as_ref().expect("fit checked the optimizer");
        TrainingState {
            epoch: at.epoch,
            step: at.step,
            loss_sum: at.loss_sum,
            correct: at.correct,
            seen: at.seen,
            finished,
            epochs: opts.epochs,
            history: history.clone(),
            seed: opts.seed,
            batch_size: opts.batch_size,
            train_len: train.len(),
            threads: rayon::current_num_threads(),
            optimizer: opt.config(),
            iterations: opt.iterations(),
            rng_states: self.rng_states(),
            callbacks: opts
                .callbacks
                .iter()
                .map(|c| (c.name().to_string(), c.state()))
                .collect(),
            optimizer_state: opt.state(),
        }
    }
}

/// Where training stands: epochs done, steps done in the next, and that epoch's sums.
#[derive(Debug, Clone, Default)]
struct Position {
    epoch: usize,
    step: usize,
    loss_sum: f64,
    correct: usize,
    seen: usize,
}

/// The order of epoch `epoch`'s images: a permutation that depends only on the seed
/// and the epoch, so a resumed run shuffles exactly as an uninterrupted one.
fn epoch_order(order: &mut Vec<usize>, n: usize, seed: u64, epoch: usize, shuffle: bool) {
    order.clear();
    order.extend(0..n);
    if shuffle {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5DEE_CE66_D1CE_5EED);
        rng.set_stream(epoch as u64);
        order.shuffle(&mut rng);
    }
}

fn progress_bar(epoch: usize, epochs: usize, steps: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "Epoch {epoch}/{epochs} {{pos:>5}}/{{len}} [{{bar:30}}] ETA {{eta}} - {{msg}}"
        ))
        .expect("static template")
        .progress_chars("=> "),
    );
    bar
}
