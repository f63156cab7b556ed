//! Tutorial 001: scikit-learn's MLPClassifier over seven hidden-layer lists (30% held
//! out, seed 42), then Keras: a 784-1024-512-256-128-32-10 MLP (Adam, 20 epochs, batch
//! 500) and the two CNNs (10 epochs, batch 500) on an 80/20 split with seed 42.
//!
//! cargo run --release --example tutorial_001_sweep_and_cnns

mod common;

use scrawl::loss::Loss;
use scrawl::model::Sequential;
use scrawl::optim::OptimizerConfig;
use scrawl::train::{FitOptions, Verbosity};
use scrawl::{presets, sweep};

fn main() -> scrawl::Result<()> {
    let mnist = common::mnist()?;

    // MLPClassifier(hidden_layer_sizes=h, activation='relu', solver='adam')
    let hidden: Vec<Vec<usize>> = vec![
        vec![10, 10],
        vec![10, 20, 10],
        vec![10, 80, 240, 80, 10],
        vec![10, 20, 40, 80, 40, 20, 10],
        vec![10, 20, 40, 80, 160, 80, 40, 20, 10],
        vec![10, 80, 240, 960, 240, 80, 10],
        vec![10, 80, 240, 480, 960, 480, 240, 80, 10],
    ];
    let points = sweep::grid(
        &hidden,
        &["adam".to_string()],
        &[None],
        &[200],
        (common::epochs(10), 42, 0.3),
    );
    let (fit_part, held_out) = mnist.train.split(0.3, 42, false)?;
    let mut rows = Vec::new();
    for point in &points {
        let row = sweep::run_point(point, &fit_part, &held_out)?;
        println!(
            "hidden_layer_size: {:?}\ntrain accuracy: {:.2}%, test accuracy: {:.2}%\n-----------------",
            point.hidden,
            100.0 * row.train_accuracy,
            100.0 * row.test_accuracy
        );
        rows.push(row);
    }
    print!("{}", sweep::to_markdown(&rows));

    // The Keras models, on train_test_split(test_size=0.2, random_state=42).
    let (train, test) = mnist.train.split(0.2, 42, false)?;
    for (name, epochs) in [
        ("mlp-1024-512-256-128-32", 20),
        ("cnn", 10),
        ("cnn-deep", 10),
    ] {
        let mut model = Sequential::new(presets::preset(name)?, 42)?;
        model.compile(&OptimizerConfig::adam(), Loss::default())?;
        model.fit(
            &train,
            FitOptions {
                epochs: common::epochs(epochs),
                batch_size: 500,
                verbose: Verbosity::Lines,
                ..Default::default()
            },
        )?;
        let on_train = model.evaluate(&train, 128)?;
        let on_test = model.evaluate(&test, 128)?;
        println!(
            "{name}: train, loss and metric: [{:.4}, {:.4}]",
            on_train.loss, on_train.accuracy
        );
        println!(
            "{name}: test, loss and metric: [{:.4}, {:.4}]",
            on_test.loss, on_test.accuracy
        );
    }
    Ok(())
}
