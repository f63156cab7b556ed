//! What training measured: one [`EpochLog`] per epoch, the [`History`] of a run
//! (Keras's `History.history`), as CSV and JSON.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A loss for people: four decimals as Keras prints, but a small loss that four
/// decimals would show as `0.0000` (which reads as "perfect") in scientific form.
pub fn format_loss(v: f64) -> String {
    if v != 0.0 && v.abs() < 5e-5 {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
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
            "Epoch {}/{} - {:.1}s - loss: {} - accuracy: {:.4}",
            self.epoch,
            epochs,
            self.seconds,
            format_loss(self.loss),
            self.accuracy
        );
        if let (Some(l), Some(a)) = (self.val_loss, self.val_accuracy) {
            s.push_str(&format!(
                " - val_loss: {} - val_accuracy: {a:.4}",
                format_loss(l)
            ));
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
    /// Reads a history written by [`History::to_csv`] (a run's `history.csv`).
    pub fn from_csv_file(path: &std::path::Path) -> Result<History> {
        let text = crate::files::read_text_limited(path, 64 << 20, "a history")?;
        let mut history = History::default();
        for (i, line) in text.lines().enumerate().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let bad = || Error::format(path, format!("line {}: not a history row", i + 1));
            if f.len() != 7 {
                return Err(bad());
            }
            let num = |s: &str| s.parse::<f64>().map_err(|_| bad());
            let opt = |s: &str| {
                if s.is_empty() {
                    Ok(None)
                } else {
                    num(s).map(Some)
                }
            };
            history.epochs.push(EpochLog {
                epoch: f[0].parse().map_err(|_| bad())?,
                loss: num(f[1])?,
                accuracy: num(f[2])?,
                val_loss: opt(f[3])?,
                val_accuracy: opt(f[4])?,
                learning_rate: num(f[5])? as f32,
                seconds: num(f[6])?,
            });
        }
        Ok(history)
    }

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
