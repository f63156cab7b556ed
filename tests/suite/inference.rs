//! Inference through `&self`: one model shared by many threads, each with a
//! workspace of its own or one the model lends, gives every thread the bits a lone
//! caller gets, and a change
//! of weights (which marks Conv2D's Winograd kernel stale) is seen by the next pass.

use std::collections::BTreeMap;

use scrawl::model::{Sequential, Workspace};
use scrawl::presets::preset;

use crate::common;

/// Inputs in [0, 1] for `n` items of `len` values, about a fifth of them zero (as
/// MNIST's pixels are mostly zero, which the sparse product exploits).
fn inputs(n: usize, len: usize, seed: u64) -> Vec<f32> {
    common::random_vec(n * len, seed)
        .into_iter()
        .map(|v| if v < -0.6 { 0.0 } else { (v + 1.0) / 2.0 })
        .collect()
}

#[test]
fn one_model_serves_many_threads_with_the_same_bits() {
    // mlp-512: Dense (sparse and GEMM paths); convnet: im2col then Winograd, pooling,
    // dropout; cnn-best: batch normalization's moving statistics too.
    for name in ["mlp-512", "convnet", "cnn-best"] {
        let model = Sequential::new(preset(name).unwrap(), 11).unwrap();
        let (len, k) = (model.input_len(), model.classes());
        let n = 9;
        let x = inputs(n, len, 3);
        let whole = model.predict_values(&x).unwrap();
        let single: Vec<Vec<f32>> = (0..n)
            .map(|i| model.predict_values(&x[i * len..(i + 1) * len]).unwrap())
            .collect();
        assert_eq!(whole.len(), n * k);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (model, x, whole, single) = (&model, &x, &whole, &single);
                s.spawn(move || {
                    let mut ws = Workspace::default();
                    for round in 0..3 {
                        // Batches of different sizes through one workspace.
                        let got = model.predict_with(x, &mut ws).unwrap();
                        assert_eq!(got, &whole[..], "{name}: thread {t}, round {round}");
                        let i = (t + round) % n;
                        let one = model.predict_with(&x[i * len..(i + 1) * len], &mut ws);
                        assert_eq!(one.unwrap(), &single[i][..], "{name}: item {i}");
                        // The model's own workspaces, lent to every thread in turn
                        // (`predict_values` keeps them between calls).
                        let lent = model.predict_values(&x[i * len..(i + 1) * len]);
                        assert_eq!(lent.unwrap(), single[i], "{name}: lent, item {i}");
                        assert_eq!(model.predict_values(x).unwrap(), *whole, "{name}: lent");
                    }
                });
            }
        });
    }
}

#[test]
fn a_shared_model_sees_its_new_weights() {
    let mut model = Sequential::new(preset("convnet").unwrap(), 4).unwrap();
    let x = inputs(5, model.input_len(), 8);
    let mut ws = Workspace::default();
    let before = model.predict_with(&x, &mut ws).unwrap().to_vec();
    // Every weight change goes through `for_each_param_mut`, as an optimizer's does.
    model.for_each_param_mut(|_, p| p.value.iter_mut().for_each(|v| *v *= 1.5));
    let after = model.predict_with(&x, &mut ws).unwrap().to_vec();
    assert_ne!(
        before, after,
        "the pass after the change used the old weights"
    );
    let bytes = model.to_bytes(&BTreeMap::new()).unwrap();
    let (fresh, _) = Sequential::from_bytes(&bytes).unwrap();
    assert_eq!(fresh.predict_values(&x).unwrap(), after);
}

/// `predict` runs each batch through the network in chunks that keep the widest
/// activation in cache (about 76 images for `speedrun`, whose first convolution
/// writes 55 KB an image): any batch size gives each image the probabilities it gets
/// alone, to rounding, and the same class.
#[test]
fn batches_cut_into_cache_sized_chunks_predict_what_single_images_do() {
    let m = common::mnist();
    let test = m.test.take(300);
    let model = Sequential::new(preset("speedrun").unwrap(), 4).unwrap();
    let alone: Vec<f32> = (0..test.len())
        .flat_map(|i| {
            let x: Vec<f32> = test
                .image(i)
                .iter()
                .map(|&p| (p as f64 / 255.0) as f32)
                .collect();
            model.predict_values(&x).unwrap()
        })
        .collect();
    for batch in [300, 100, 7] {
        let got = model.predict(&test, batch).unwrap();
        assert_eq!(got.len(), alone.len());
        for (i, (a, b)) in got.chunks_exact(10).zip(alone.chunks_exact(10)).enumerate() {
            let worst = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "batch {batch}, image {i}: differs by {worst}");
            assert_eq!(
                scrawl::kernels::argmax(a),
                scrawl::kernels::argmax(b),
                "batch {batch}, image {i}"
            );
        }
    }
}
