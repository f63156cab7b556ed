//! Fine-tuning, as Keras users do with `load_model`, `layer.trainable = False` and
//! `fit`: a CNN trained only on the digits 0-4 cannot recognise 5-9; started again
//! from its weights, with its first convolution frozen, it learns all ten in one
//! epoch on a fresh optimizer.
//!
//! cargo run --release --example fine_tune

mod common;

use scrawl::data::Dataset;
use scrawl::optim::OptimizerConfig;
use scrawl::run::{Folder, InitSpec, Run, RunOptions, RunSpec};
use scrawl::train::Verbosity;

fn below_five(d: &Dataset) -> Dataset {
    let keep: Vec<usize> = (0..d.len()).filter(|&i| d.labels[i] < 5).collect();
    d.select(&keep)
}

fn main() -> scrawl::Result<()> {
    let mnist = common::mnist()?;
    let out = common::out_dir();
    let options = || RunOptions {
        verbose: Some(Verbosity::Lines),
        ..Default::default()
    };
    let spec = RunSpec::new(
        scrawl::presets::preset("convnet")?,
        OptimizerConfig::adam(),
        common::epochs(1),
        32,
    );

    let mut first = Run::create(spec.clone(), Folder::Replace(out.join("run-0-to-4")))?;
    let mut trained = first.fit(&below_five(&mnist.train), None, options())?;
    let before = first.finish(&mut trained, Some(&mnist.test))?;
    println!(
        "trained on 0-4: test accuracy on all ten {:.4}",
        before.map_or(0.0, |t| t.accuracy)
    );

    let mut tune = spec;
    tune.init = Some(InitSpec {
        from: first.dir().to_path_buf(),
        freeze: vec!["conv2d".into()],
    });
    let mut run = Run::create(tune, Folder::Replace(out.join("run-fine-tuned")))?;
    let mut tuned = run.fit(&mnist.train, None, options())?;
    let after = run.finish(&mut tuned, Some(&mnist.test))?;
    println!(
        "fine-tuned on all ten: test accuracy {:.4}",
        after.map_or(0.0, |t| t.accuracy)
    );
    Ok(())
}
