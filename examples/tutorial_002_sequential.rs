//! Tutorial 002: Keras's Sequential 784-512-512-10, compiled with the default optimizer
//! (RMSprop), fitted for 5 epochs at batch 32 with the test set as validation data,
//! then a prediction for one image.
//!
//! cargo run --release --example tutorial_002_sequential

mod common;

use scrawl::activations::Activation;
use scrawl::kernels::argmax;
use scrawl::layers::LayerConfig;
use scrawl::loss::Loss;
use scrawl::model::{ModelConfig, Sequential};
use scrawl::optim::OptimizerConfig;
use scrawl::train::{FitOptions, Verbosity};

fn main() -> scrawl::Result<()> {
    let mnist = common::mnist()?;
    let (x_train, x_valid) = (&mnist.train, &mnist.test);
    // The first image as numbers, the way the tutorial prints it.
    for row in x_train.image(0).chunks(28) {
        println!(
            "{}",
            row.iter()
                .map(|p| format!("{p:3}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    println!("label {}", x_train.labels[0]);

    let mut config = ModelConfig::new("sequential", &[784]);
    config
        .add(LayerConfig::dense(512, Activation::Relu))
        .add(LayerConfig::dense(512, Activation::Relu))
        .add(LayerConfig::dense(10, Activation::Softmax));
    let mut model = Sequential::new(config, 42)?;
    // model.compile(loss='categorical_crossentropy', metrics=['accuracy'])
    model.compile(&OptimizerConfig::rmsprop(), Loss::default())?;
    print!("{}", model.summary());
    model.fit(
        x_train,
        FitOptions {
            epochs: common::epochs(5),
            batch_size: 32,
            validation: Some(x_valid),
            verbose: Verbosity::Lines,
            ..Default::default()
        },
    )?;
    let probs = model.predict(&x_valid.take(1), 1)?;
    println!(
        "validation image 0: predicted {} (label {}), probabilities {:.3?}",
        argmax(&probs),
        x_valid.labels[0],
        probs
    );
    Ok(())
}
