//! A run as the library keeps it: train 784-512-10 for a few epochs into a run folder,
//! then, as if in another session, open the folder again and extend the run by two
//! epochs. The extended run ends with the weights an uninterrupted run of that many
//! epochs would have (same seed and thread count). Keras users know this as
//! `BackupAndRestore` plus calling `fit` again with a larger `epochs`.
//!
//! cargo run --release --example resume_a_run

mod common;

use scrawl::optim::OptimizerConfig;
use scrawl::run::{Folder, Run, RunOptions, RunSpec};
use scrawl::train::Verbosity;

fn main() -> scrawl::Result<()> {
    let mnist = common::mnist()?;
    let dir = common::out_dir().join("run-mlp-512");
    let options = || RunOptions {
        verbose: Some(Verbosity::Lines),
        ..Default::default()
    };

    let epochs = common::epochs(3);
    let mut spec = RunSpec::new(
        scrawl::presets::preset("mlp-512")?,
        OptimizerConfig::adam(),
        epochs,
        200,
    );
    spec.callbacks.checkpoint = Some("best".into());
    let mut run = Run::create(spec, Folder::Replace(dir.clone()))?;
    let mut trained = run.fit(&mnist.train, Some(&mnist.test), options())?;
    let test = run.finish(&mut trained, Some(&mnist.test))?;
    println!(
        "after {epochs} epochs: test accuracy {:.4}",
        test.map_or(0.0, |t| t.accuracy)
    );
    drop(run); // releases the folder's lock, as the end of a process would

    let mut run = Run::open(&dir)?;
    run.extend_to(epochs + 2)?;
    println!("resuming {} at {:?}", dir.display(), run.position()?);
    let mut trained = run.fit(&mnist.train, Some(&mnist.test), options())?;
    let test = run.finish(&mut trained, Some(&mnist.test))?;
    println!(
        "after {} epochs: test accuracy {:.4}",
        trained.history.epochs.len(),
        test.map_or(0.0, |t| t.accuracy)
    );
    Ok(())
}
