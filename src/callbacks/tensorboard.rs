//! Keras's `TensorBoard` callback: event files `tensorboard --logdir` reads, laid out
//! as Keras lays them out.
//!
//! ```text
//! LOG_DIR/train/       epoch_loss, epoch_accuracy, epoch_learning_rate (step = epoch),
//!                      batch_loss every `update_freq` steps (step = global step),
//!                      a histogram of every weight tensor each epoch (dense/kernel, ...)
//! LOG_DIR/validation/  epoch_loss, epoch_accuracy of the validated epochs
//! ```
//!
//! Epochs are numbered from 1, as in `history.csv`. The run-level records (the
//! mistakes gallery, the hyperparameters) are written by [`crate::run::Run::finish`]
//! into `LOG_DIR` itself.

use std::path::PathBuf;

use super::{Callback, Control, EpochEnd};
use crate::error::Result;
use crate::model::Sequential;
use crate::tensorboard::{EventWriter, histogram, scalar};

/// Histogram buckets per weight tensor (as `tf.summary.histogram`'s default).
const BUCKETS: usize = 30;

/// Writes training's scalars and weight histograms for TensorBoard.
pub struct TensorBoard {
    log_dir: PathBuf,
    update_freq: Option<u64>,
    train: Option<EventWriter>,
    validation: Option<EventWriter>,
}

impl TensorBoard {
    /// Event files under `log_dir`; the batch loss every `update_freq` steps (`None`:
    /// per epoch only, Keras's `update_freq="epoch"`).
    pub fn new(log_dir: impl Into<PathBuf>, update_freq: Option<u64>) -> TensorBoard {
        TensorBoard {
            log_dir: log_dir.into(),
            update_freq: update_freq.filter(|&n| n > 0),
            train: None,
            validation: None,
        }
    }
}

impl Callback for TensorBoard {
    fn name(&self) -> &'static str {
        "tensorboard"
    }

    fn on_train_begin(&mut self, _model: &mut Sequential) -> Result<()> {
        // A resumed run gets new files beside the old ones; TensorBoard joins them.
        self.train = Some(EventWriter::create(&self.log_dir.join("train"))?);
        Ok(())
    }

    fn on_batch_end(&mut self, step: u64, loss: f64) -> Result<()> {
        if let (Some(n), Some(w)) = (self.update_freq, self.train.as_mut())
            && step.is_multiple_of(n)
        {
            w.scalar("batch_loss", step as i64, loss)?;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, model: &mut Sequential, end: &mut EpochEnd<'_>) -> Result<Control> {
        let log = end.log;
        let step = log.epoch as i64;
        if let Some(w) = self.train.as_mut() {
            let mut values = vec![
                scalar("epoch_loss", log.loss),
                scalar("epoch_accuracy", log.accuracy),
                scalar("epoch_learning_rate", log.learning_rate as f64),
            ];
            values.extend(
                model
                    .named_params()
                    .into_iter()
                    .map(|(name, p)| histogram(&name, &p.value, BUCKETS)),
            );
            w.summary(step, values)?;
            w.flush()?;
        }
        if let (Some(loss), Some(accuracy)) = (log.val_loss, log.val_accuracy) {
            if self.validation.is_none() {
                self.validation = Some(EventWriter::create(&self.log_dir.join("validation"))?);
            }
            if let Some(w) = self.validation.as_mut() {
                w.summary(
                    step,
                    vec![
                        scalar("epoch_loss", loss),
                        scalar("epoch_accuracy", accuracy),
                    ],
                )?;
                w.flush()?;
            }
        }
        Ok(Control::Continue)
    }

    fn on_train_end(
        &mut self,
        _model: &mut Sequential,
        _history: &crate::history::History,
    ) -> Result<()> {
        for w in [self.train.as_mut(), self.validation.as_mut()]
            .into_iter()
            .flatten()
        {
            w.flush()?;
        }
        Ok(())
    }
}
