//! ONNX files scrawl writes, run by an ONNX runtime scrawl did not write (tract):
//! the same probabilities within 1e-5 and the same class for every image, for an MLP,
//! the book's network, the tutorial CNN on all 10,000 test images, and a network with
//! every layer kind; and each file imported back by `scrawl::interop::onnx::import_onnx`
//! predicts what tract runs, to the same bounds.
//!
//! This crate exists so that tract, a large dependency, is compiled only by the full
//! test tier (`cargo test --release -p scrawl-onnx-check`), never by a library user, an
//! example or README's fast test command.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::Path;

use scrawl::interop::onnx;
use scrawl::model::Sequential;
use scrawl::presets::preset;

/// Runs an ONNX file with tract on `n` test images, 500 at a time, and returns the
/// probabilities.
fn run_tract(path: &Path, images: &[f32], item_shape: &[usize], n: usize) -> Vec<f32> {
    use tract_onnx::prelude::*;
    let chunk = n.min(500);
    assert!(n.is_multiple_of(chunk));
    let mut shape = vec![chunk];
    shape.extend_from_slice(item_shape);
    let plan = tract_onnx::onnx()
        .model_for_path(path)
        .unwrap()
        .with_input_fact(0, f32::fact(&shape).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let per = images.len() / n;
    let mut out = Vec::new();
    for part in images.chunks(chunk * per) {
        let input = tract_ndarray::ArrayD::from_shape_vec(shape.clone(), part.to_vec()).unwrap();
        let res = plan.run(tvec!(Tensor::from(input).into())).unwrap();
        out.extend(res[0].to_plain_array_view::<f32>().unwrap().iter().copied());
    }
    out
}

/// Trains `name` briefly (so predictions mean something), then [`same_in_tract`].
fn onnx_agrees(name: &str, n: usize) {
    let m = common::mnist();
    let mut model = common::trained(preset(name).unwrap(), 1, &m.train, 1000);
    same_in_tract(&mut model, &m.test, name, n);
}

/// Exports `model` and compares tract's probabilities with scrawl's on the first `n`
/// images of `test`: within 1e-5, and the same class for each.
fn same_in_tract(model: &mut Sequential, test: &scrawl::data::Dataset, name: &str, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    onnx::export_onnx(model, &path).unwrap();
    let test = test.take(n);
    let ours = model.predict(&test, 100).unwrap();
    let images: Vec<f32> = test
        .images
        .iter()
        .map(|&p| (p as f64 / 255.0) as f32)
        .collect();
    let theirs = run_tract(&path, &images, &model.config().input_shape, n);
    assert_eq!(ours.len(), theirs.len());
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-5, "{name}: largest difference {worst}");
    let argmax = |v: &[f32]| scrawl::kernels::argmax(v);
    for (i, (a, b)) in ours.chunks(10).zip(theirs.chunks(10)).enumerate() {
        assert_eq!(argmax(a), argmax(b), "{name}: image {i}");
    }
    // And the file imported back (`scrawl import onnx`) predicts what tract runs.
    let imported = onnx::import_onnx(&path).unwrap();
    let back = imported.predict(&test, 100).unwrap();
    let worst = back
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 1e-5,
        "{name} imported: largest difference {worst} from tract"
    );
    for (i, (a, b)) in back.chunks(10).zip(theirs.chunks(10)).enumerate() {
        assert_eq!(argmax(a), argmax(b), "{name} imported: image {i}");
    }
}

#[test]
fn onnx_mlp_runs_the_same_in_tract() {
    onnx_agrees("mlp-512", 1000);
    onnx_agrees("dlfs", 200);
}

#[test]
fn onnx_cnn_runs_the_same_in_tract() {
    // The bar: the same predictions on all 10,000 test images.
    onnx_agrees("cnn", 10_000);
    // A Rescaling first (the standardization, as Mul and Add).
    onnx_agrees("speedrun", 1000);
}

#[test]
fn onnx_every_layer_kind_runs_the_same_in_tract() {
    // Zero padding, strides, valid/same/explicit padding, average pooling, batch norm, global pooling, a
    // bias-free conv, an Activation layer and dropout, in one network.
    let m = common::mnist();
    let config = scrawl::stack::parse_stack(
        "BatchNormalization ZeroPadding2D(((1,0),(2,1))) Conv2D(8,3,strides=2,padding=same,activation=tanh) AveragePooling2D(2,padding=same) \
         Conv2D(16,2,padding=(1,2),use_bias=false) BatchNormalization Activation(relu) MaxPooling2D(2,strides=1,padding=1) \
         GlobalAveragePooling2D Dropout(0.2) Dense(10,softmax)",
    )
    .unwrap();
    let mut model = common::trained(config, 3, &m.train, 500);
    same_in_tract(&mut model, &m.test, "every layer", 100);
}
