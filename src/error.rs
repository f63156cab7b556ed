//! One error type for the whole library. Every variant says *what* went wrong and
//! *where* (a file, a byte offset, a layer, a flag), because the user has to act on it.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in scrawl.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error on a named file.
    // The OS error is part of the message and deliberately not `source()`: `{:#}`
    // printers (anyhow, the CLI) append sources, which would say it twice.
    #[error("{path}: {error}")]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// A file's contents are not what they claim to be.
    #[error("{path}: {msg}")]
    Format {
        /// The offending file.
        path: PathBuf,
        /// What is wrong, with the byte offset or line where known.
        msg: String,
    },
    /// The data set could not be found (or fetched).
    #[error("{0}")]
    DataNotFound(String),
    /// A download failed.
    #[error("download failed: {0}")]
    Download(String),
    /// A model, layer, optimizer or training setting is not valid.
    #[error("{0}")]
    Config(String),
    /// Arrays whose shapes do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// Training diverged (the loss became NaN or infinite).
    #[error("{0}")]
    Diverged(String),
    /// Training was interrupted (Ctrl-C, SIGTERM) and stopped cleanly.
    #[error("{0}")]
    Interrupted(String),
    /// Drawing a chart or image failed.
    #[error("drawing {path}: {msg}")]
    Plot {
        /// The image being drawn.
        path: PathBuf,
        /// What the drawing library said.
        msg: String,
    },
}

/// Result with scrawl's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            error: source,
        }
    }

    /// A format error in `path`.
    pub fn format(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }

    /// An invalid setting.
    pub fn config(msg: impl Into<String>) -> Self {
        Error::Config(msg.into())
    }
}
