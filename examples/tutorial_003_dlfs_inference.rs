//! Tutorial 003: inference with the pretrained network of "Deep Learning from
//! Scratch" (sample_weight.pkl: 784-50-100-10, sigmoid), one image at a time and then
//! in batches of 100. Both print Accuracy:0.9352 on the full test set.
//!
//! cargo run --release --example tutorial_003_dlfs_inference [-- PATH/sample_weight.pkl]

mod common;

use scrawl::interop::dlfs::import_dlfs;
use scrawl::kernels::argmax;

fn main() -> scrawl::Result<()> {
    let mnist = common::mnist()?;
    let pkl = std::env::args().nth(1).map_or_else(
        || {
            mnist
                .dir
                .parent()
                .unwrap_or(&mnist.dir)
                .join("dlfs/sample_weight.pkl")
        },
        std::path::PathBuf::from,
    );
    let network = import_dlfs(&pkl)?;
    let test = &mnist.test;
    let x = |i: usize| -> Vec<f32> { test.image(i).iter().map(|&p| p as f32 / 255.0).collect() };

    // for i in range(len(x)): y = predict(network, x[i])
    let mut accuracy_cnt = 0;
    for i in 0..test.len() {
        let y = network.predict_values(&x(i))?;
        accuracy_cnt += usize::from(argmax(&y) == test.labels[i] as usize);
    }
    println!("Accuracy:{}", accuracy_cnt as f64 / test.len() as f64);

    // for i in range(0, len(x), batch_size): y_batch = predict(network, x[i:i+batch_size])
    let batch_size = 100;
    let mut accuracy_cnt = 0;
    for start in (0..test.len()).step_by(batch_size) {
        let end = (start + batch_size).min(test.len());
        let batch: Vec<f32> = (start..end).flat_map(x).collect();
        let y = network.predict_values(&batch)?;
        for (row, label) in y.chunks(10).zip(&test.labels[start..end]) {
            accuracy_cnt += usize::from(argmax(row) == *label as usize);
        }
    }
    println!("Accuracy:{}", accuracy_cnt as f64 / test.len() as f64);
    Ok(())
}
