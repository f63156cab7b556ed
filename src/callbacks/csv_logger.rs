//! `CSVLogger`: the history as a CSV file, rewritten (atomically) after every epoch,
//! so a crash leaves every finished epoch on disk.

use std::path::PathBuf;

use super::{Callback, Control, EpochEnd};
use crate::error::Result;
use crate::model::Sequential;

/// Keras's `CSVLogger(filename)`.
#[derive(Debug, Clone)]
pub struct CsvLogger {
    path: PathBuf,
}

impl CsvLogger {
    /// Logs to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CsvLogger { path: path.into() }
    }
}

impl Callback for CsvLogger {
    fn name(&self) -> &'static str {
        "csv_logger"
    }

    fn on_epoch_end(&mut self, _model: &mut Sequential, end: &mut EpochEnd<'_>) -> Result<Control> {
        crate::files::write_atomic(&self.path, end.history.to_csv().as_bytes())?;
        Ok(Control::Continue)
    }
}
