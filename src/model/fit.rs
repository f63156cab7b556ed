//! Keras's `fit`: epochs of shuffled mini-batches, a progress bar or one line per
//! epoch, validation after each epoch, callbacks, and the history of it all.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::Sequential;
use crate::data::Dataset;
use crate::error::{Error, Result};

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

/// What `fit` decides after a callback has looked at an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on training.
    Continue,
    /// Stop after this epoch.
    Stop,
}

/// Hooks into the training loop (early stopping, checkpoints, loggers).
pub trait Callback: Send {
    /// Called after each epoch with its log; may stop training.
    fn on_epoch_end(&mut self, model: &mut Sequential, log: &EpochLog) -> Result<Control>;

    /// Called once when training ends, normally or by a stop.
    fn on_train_end(&mut self, _model: &mut Sequential, _history: &History) -> Result<()> {
        Ok(())
    }
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
    /// What to print.
    pub verbose: Verbosity,
    /// Print epoch lines to standard error instead of standard output (when standard
    /// output carries a machine-readable result).
    pub log_to_stderr: bool,
    /// Called after each epoch, in order.
    pub callbacks: Vec<Box<dyn Callback + 'a>>,
}

impl Default for FitOptions<'_> {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: 32,
            shuffle: true,
            seed: 0,
            validation: None,
            verbose: Verbosity::Auto,
            log_to_stderr: false,
            callbacks: Vec::new(),
        }
    }
}

/// What one epoch measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (weighted by their sizes).
    pub loss: f64,
    /// Training accuracy over the epoch.
    pub accuracy: f64,
    /// Validation loss after the epoch.
    pub val_loss: Option<f64>,
    /// Validation accuracy after the epoch.
    pub val_accuracy: Option<f64>,
    /// Base learning rate during the epoch.
    pub learning_rate: f32,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
}

impl EpochLog {
    /// The value of a metric by its Keras name (`loss`, `accuracy`, `val_loss`,
    /// `val_accuracy`).
    pub fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "loss" => Some(self.loss),
            "accuracy" | "acc" => Some(self.accuracy),
            "val_loss" => self.val_loss,
            "val_accuracy" | "val_acc" => self.val_accuracy,
            _ => None,
        }
    }

    /// The line Keras prints after an epoch:
    /// `Epoch 3/10 - 2.1s - loss: 0.0586 - accuracy: 0.9816 - val_loss: ...`.
    pub fn line(&self, epochs: usize) -> String {
        let mut s = format!(
            "Epoch {}/{} - {:.1}s - loss: {:.4} - accuracy: {:.4}",
            self.epoch, epochs, self.seconds, self.loss, self.accuracy
        );
        if let (Some(l), Some(a)) = (self.val_loss, self.val_accuracy) {
            s.push_str(&format!(" - val_loss: {l:.4} - val_accuracy: {a:.4}"));
        }
        s
    }
}

/// Every epoch's log, in order (Keras's `History.history`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One entry per epoch run.
    pub epochs: Vec<EpochLog>,
}

impl History {
    /// The history as CSV, one row per epoch.
    pub fn to_csv(&self) -> String {
        let mut s =
            String::from("epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds\n");
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
        for e in &self.epochs {
            s.push_str(&format!(
                "{},{},{},{},{},{},{:.3}\n",
                e.epoch,
                e.loss,
                e.accuracy,
                opt(e.val_loss),
                opt(e.val_accuracy),
                e.learning_rate,
                e.seconds
            ));
        }
        s
    }
}

impl Sequential {
    /// Trains the model on `train` (Keras's `fit`). The model must be compiled.
    pub fn fit(&mut self, train: &Dataset, opts: FitOptions<'_>) -> Result<History> {
        crate::kernels::on_pool(|| self.fit_on_pool(train, opts))
    }

    fn fit_on_pool(&mut self, train: &Dataset, mut opts: FitOptions<'_>) -> Result<History> {
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
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x5DEE_CE66_D1CE_5EED);
        let mut order: Vec<usize> = (0..train.len()).collect();
        let steps = train.len().div_ceil(opts.batch_size);
        let mut history = History::default();
        for epoch in 1..=opts.epochs {
            let start = Instant::now();
            if opts.shuffle {
                order.shuffle(&mut rng);
            }
            let bar = (verbose == Verbosity::Bar).then(|| progress_bar(epoch, opts.epochs, steps));
            let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
            for (step, batch) in order.chunks(opts.batch_size).enumerate() {
                let stats = self.train_on_batch(train, batch)?;
                if !stats.loss_sum.is_finite() {
                    if let Some(b) = &bar {
                        b.abandon();
                    }
                    return Err(Error::Diverged(format!(
                        "the loss became {} at epoch {epoch}, step {}/{steps}; the weights were not updated with it. \
                         Try a lower learning rate (now {}).",
                        stats.loss_sum,
                        step + 1,
                        self.optimizer
                            .as_ref()
                            .map_or(0.0, |o| o.config().learning_rate())
                    )));
                }
                loss_sum += stats.loss_sum;
                correct += stats.correct;
                seen += batch.len();
                if let Some(b) = &bar {
                    b.set_position(step as u64 + 1);
                    if step % 16 == 0 || step + 1 == steps {
                        b.set_message(format!(
                            "loss: {:.4} - accuracy: {:.4}",
                            loss_sum / seen as f64,
                            correct as f64 / seen as f64
                        ));
                    }
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            let (val_loss, val_accuracy) = match opts.validation {
                Some(v) => {
                    let e = self.evaluate(v, opts.batch_size)?;
                    (Some(e.loss), Some(e.accuracy))
                }
                None => (None, None),
            };
            let log = EpochLog {
                epoch,
                loss: loss_sum / seen as f64,
                accuracy: correct as f64 / seen as f64,
                val_loss,
                val_accuracy,
                learning_rate: self
                    .optimizer
                    .as_ref()
                    .map_or(0.0, |o| o.config().learning_rate()),
                seconds: start.elapsed().as_secs_f64(),
            };
            if verbose != Verbosity::Silent {
                let line = log.line(opts.epochs);
                if opts.log_to_stderr {
                    eprintln!("{line}");
                } else {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
            }
            history.epochs.push(log.clone());
            let mut stop = false;
            for cb in opts.callbacks.iter_mut() {
                stop |= cb.on_epoch_end(self, &log)? == Control::Stop;
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
