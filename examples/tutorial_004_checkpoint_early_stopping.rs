//! Tutorial 004: 784-512-10 with Adam, batch 200, up to 30 epochs, keeping the best
//! model by val_loss (`mnist-{epoch:02d}-{val_loss:.4f}`) and stopping after 10 epochs
//! without improvement.
//!
//! cargo run --release --example tutorial_004_checkpoint_early_stopping

mod common;

use scrawl::callbacks::Callback;
use scrawl::callbacks::{EarlyStopping, Mode, ModelCheckpoint};
use scrawl::loss::Loss;
use scrawl::model::Sequential;
use scrawl::optim::OptimizerConfig;
use scrawl::presets;
use scrawl::train::{FitOptions, Verbosity};

fn main() -> scrawl::Result<()> {
    let mnist = common::mnist()?;
    let folder = common::out_dir().join("model");
    std::fs::create_dir_all(&folder).map_err(|e| scrawl::Error::io(&folder, e))?;
    let template = folder.join("mnist-{epoch:02d}-{val_loss:.4f}.safetensors");
    let checkpoint =
        ModelCheckpoint::new(&template.to_string_lossy(), "val_loss", Mode::Auto, true)?;
    let early_stopping = EarlyStopping::new("val_loss", 10, 0.0, Mode::Auto)?;
    let callbacks: Vec<Box<dyn Callback>> = vec![Box::new(checkpoint), Box::new(early_stopping)];

    let mut model = Sequential::new(presets::preset("mlp-512")?, 42)?;
    model.compile(&OptimizerConfig::adam(), Loss::default())?;
    model.fit(
        &mnist.train,
        FitOptions {
            epochs: common::epochs(30),
            batch_size: 200,
            validation: Some(&mnist.test),
            verbose: Verbosity::Lines,
            callbacks,
            ..Default::default()
        },
    )?;
    println!(
        "\nAccuracy: {:.4}",
        model.evaluate(&mnist.test, 200)?.accuracy
    );
    let mut saved: Vec<_> = std::fs::read_dir(&folder)
        .map_err(|e| scrawl::Error::io(&folder, e))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    saved.sort();
    println!("saved: {}", saved.join(", "));
    Ok(())
}
