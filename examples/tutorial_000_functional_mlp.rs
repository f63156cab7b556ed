//! Tutorial 000: a 784-512-1024-256-10 MLP trained with plain SGD (lr 0.001) for 20
//! epochs, validated on the test set, with the loss and accuracy curves plotted.
//!
//! cargo run --release --example tutorial_000_functional_mlp

mod common;

use scrawl::activations::Activation;
use scrawl::data::one_hot;
use scrawl::layers::LayerConfig;
use scrawl::loss::Loss;
use scrawl::model::{ModelConfig, Sequential};
use scrawl::optim::OptimizerConfig;
use scrawl::plot::{LabelCountsChart, TrainingCurves, save};
use scrawl::train::{FitOptions, Verbosity};

fn main() -> scrawl::Result<()> {
    let mnist = common::mnist()?;
    let out = common::out_dir();
    // train_df.head(), x_train.shape: what was loaded.
    let (train, test) = (&mnist.train, &mnist.test);
    println!(
        "x_train {:?} y_train ({},)",
        [train.len(), train.sample_len()],
        train.len()
    );
    println!(
        "x_test  {:?} y_test  ({},)",
        [test.len(), test.sample_len()],
        test.len()
    );
    // sns.countplot(train_df['label'])
    let counts = LabelCountsChart {
        title: "MNIST labels".into(),
        class_names: (0..10).map(|c| c.to_string()).collect(),
        series: vec![("train".into(), train.label_counts())],
    };
    save(&counts, &out.join("tutorial_000_labels.png"))?;
    println!("label counts {:?}", train.label_counts());
    // OneHotEncoder: which column is which class.
    let y = one_hot(&train.labels[..1], 10);
    println!(
        "image 0 is a {}; one-hot {:?}; columns are classes 0..9",
        train.labels[0], y
    );

    let mut config = ModelConfig::new("functional-mlp", &[784]);
    config
        .add(LayerConfig::dense(512, Activation::Relu))
        .add(LayerConfig::dense(1024, Activation::Relu))
        .add(LayerConfig::dense(256, Activation::Relu))
        .add(LayerConfig::dense(10, Activation::Softmax));
    let mut model = Sequential::new(config, 42)?;
    let sgd = OptimizerConfig::Sgd {
        learning_rate: 0.001,
        momentum: 0.0,
        nesterov: false,
        decay: 0.0,
    };
    model.compile(&sgd, Loss::default())?;
    print!("{}", model.summary());
    let history = model.fit(
        train,
        FitOptions {
            epochs: common::epochs(20),
            batch_size: 32,
            validation: Some(test),
            verbose: Verbosity::Lines,
            ..Default::default()
        },
    )?;
    let curves = TrainingCurves {
        title: "784-512-1024-256-10, SGD(0.001)".into(),
        runs: vec![("sgd".into(), history)],
        mark: None,
    };
    save(&curves, &out.join("tutorial_000_curves.png"))?;
    println!(
        "curves in {}",
        out.join("tutorial_000_curves.png").display()
    );
    Ok(())
}
