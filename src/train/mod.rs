//! Training a [`Sequential`](crate::model::Sequential) over epochs: Keras's `fit`
//! (shuffled mini-batches, progress, validation, [callbacks](crate::callbacks)), and
//! the checkpoints that let a run stop anywhere and continue to the same bits.
//!
//! Layers: [`crate::model`] (one step) < [`crate::history`] and [`crate::callbacks`]
//! < this module < [`crate::run`] (the run folder).

pub mod checkpoint;
mod fit;

pub use checkpoint::{TrainingState, load_checkpoint, save_checkpoint};
pub use fit::{FitOptions, Verbosity};
