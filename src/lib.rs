//! # scrawl
//!
//! Handwritten-digit recognition in Rust, end to end: read MNIST ([`data`]), build a
//! Keras-style [`model::Sequential`] from [`layers`], train it with an [`optim`]
//! optimizer on the CPU at close to the machine's GEMM speed, evaluate, predict, and
//! save it as one safetensors file.
//!
//! ```no_run
//! use scrawl::{data, presets, model::Sequential, train::FitOptions, optim::OptimizerConfig, loss::Loss};
//! # fn main() -> scrawl::Result<()> {
//! let mnist = data::load_mnist(&data::find_mnist(None)?)?;
//! let mut model = Sequential::new(presets::preset("mlp-512")?, 42)?;
//! model.compile(&OptimizerConfig::adam(), Loss::default())?;
//! model.fit(&mnist.train, FitOptions { epochs: 10, batch_size: 200, validation: Some(&mnist.test), ..Default::default() })?;
//! println!("test accuracy {:.4}", model.evaluate(&mnist.test, 200)?.accuracy);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod activations;
#[doc(hidden)] // what `scrawl bench` and benches/ measure with; not an API to build on
pub mod bench;
pub mod callbacks;
pub mod data;
pub mod error;
pub mod files;
#[doc(hidden)] // entry points for fuzz/ and tests/suite/hostile.rs; not an API to build on
pub mod fuzz;
pub mod history;
pub mod interop;
pub mod kernels;
pub mod layers;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod optim;
#[cfg(feature = "plot")]
pub mod plot;
pub mod presets;
#[cfg(feature = "plot")]
pub mod report;
pub mod run;
#[cfg(feature = "serve")]
pub mod serve;
pub mod stack;
pub mod sweep;
pub mod tensor;
#[cfg(feature = "tensorboard")]
pub mod tensorboard;
pub mod train;

pub use error::{Error, Result};

/// Sets the number of worker threads used by every kernel (default: one per core).
/// Call once, before any training; results are bit-identical for a given seed and
/// thread count. Returns the number in use.
pub fn init_threads(threads: Option<usize>) -> Result<usize> {
    let n = match threads {
        Some(0) => return Err(Error::config("--threads must be at least 1")),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    match rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
    {
        Ok(()) => Ok(n),
        // Already initialised (a second call, or a test harness): keep what is there.
        Err(_) => Ok(rayon::current_num_threads()),
    }
}
