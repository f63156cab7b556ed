//! Training a [`Sequential`](crate::model::Sequential) over epochs: Keras's `fit`
//! (shuffled mini-batches, progress, validation, [callbacks](crate::callbacks)), and
//! the checkpoints that let a run stop anywhere and continue to the same bits; and the
//! learning-rate range test ([`lr_find()`]).
//!
//! Layers: [`crate::model`] (one step) < [`crate::history`] and [`crate::callbacks`]
//! < this module < [`crate::run`] (the run folder).

pub mod checkpoint;
mod fit;
pub mod lr_find;
pub mod progress;

pub use checkpoint::{TrainingState, load_checkpoint, save_checkpoint};
pub use fit::{FitOptions, Verbosity};
pub use lr_find::{LrFindOptions, LrFinding, lr_find};
pub use progress::{HEARTBEAT, Heartbeat};
