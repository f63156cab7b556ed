//! What every tutorial example shares: MNIST, cut down when a test asks.
//!
//! `SCRAWL_EXAMPLE_LIMIT=N` keeps the first N training and N test images, and
//! `SCRAWL_EXAMPLE_EPOCHS=E` caps the epochs, so tests/examples.rs runs every example
//! in seconds. Without them the examples do what the tutorials did.

#![allow(dead_code)]

use scrawl::data::{self, Mnist};

/// MNIST from `../shared/data/mnist`, `./data/mnist`, `$SCRAWL_DATA` or `--data`'s
/// usual places, limited by `SCRAWL_EXAMPLE_LIMIT`.
pub fn mnist() -> scrawl::Result<Mnist> {
    let mut mnist = data::load_mnist(&data::find_mnist(None)?)?;
    if let Some(n) = env_number("SCRAWL_EXAMPLE_LIMIT") {
        mnist.train = mnist.train.take(n);
        mnist.test = mnist.test.take(n);
    }
    Ok(mnist)
}

/// `epochs`, or fewer when `SCRAWL_EXAMPLE_EPOCHS` says so.
pub fn epochs(epochs: usize) -> usize {
    env_number("SCRAWL_EXAMPLE_EPOCHS").map_or(epochs, |e| e.min(epochs))
}

/// Where the examples write their pictures and models.
pub fn out_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("SCRAWL_EXAMPLE_OUT").map_or_else(
        || std::path::PathBuf::from("example-output"),
        std::path::PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("create the output folder");
    dir
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}
