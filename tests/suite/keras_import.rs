//! Keras models in: the fixtures of tests/data/keras/ were made with real Keras
//! (scripts/make_keras_fixtures.py, Keras 3 on JAX) and saved as `.keras` archives and
//! legacy `.h5` files, with the probabilities Keras gave for the first 8 test images;
//! scrawl's import predicts the same to 1e-5. Broken files are refused naming the
//! layer or what is missing.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};

use scrawl::interop::keras::{import_keras, keras_from_bytes};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/keras")
        .join(name)
}

fn keras_probabilities(model: &str) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(fixture(&format!("{model}.predictions.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    serde_json::from_value(v["probabilities"].clone()).unwrap()
}

#[test]
fn keras_and_h5_files_predict_what_keras_predicted() {
    let mnist = common::mnist();
    let test = mnist.test.take(8);
    for model in ["mlp", "cnn"] {
        let theirs = keras_probabilities(model);
        let text = std::fs::read_to_string(fixture(&format!("{model}.predictions.json"))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keras_correct = (v["test_accuracy"].as_f64().unwrap() * 10_000.0).round() as usize;
        for ext in ["keras", "h5"] {
            let m = import_keras(&fixture(&format!("{model}.{ext}"))).unwrap();
            // The accuracy Keras's model.evaluate reported on all 10,000 test images.
            let e = m.evaluate(&mnist.test, 500).unwrap();
            assert_eq!(e.correct, keras_correct, "{model}.{ext}");
            let ours = m.predict(&test, 8).unwrap();
            for (i, (row, want)) in ours.chunks_exact(10).zip(&theirs).enumerate() {
                for (a, b) in row.iter().zip(want) {
                    assert!(
                        (*a as f64 - b).abs() < 1e-5,
                        "{model}.{ext} image {i}: {row:?} vs Keras {want:?}"
                    );
                }
            }
        }
    }
}

/// A copy of `cnn.keras` with its config.json edited by `edit`.
fn edited_archive(edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let bytes = std::fs::read(fixture("cnn.keras")).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut data).unwrap();
        if name == "config.json" {
            let mut v: serde_json::Value = serde_json::from_slice(&data).unwrap();
            edit(&mut v);
            data = serde_json::to_vec(&v).unwrap();
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(&data).unwrap();
    }
    out.finish().unwrap().into_inner()
}

#[test]
fn broken_keras_files_are_refused_naming_the_layer() {
    let import = |bytes: Vec<u8>| {
        keras_from_bytes(bytes, Path::new("x.keras"))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let layers = |v: &mut serde_json::Value| -> Vec<serde_json::Value> {
        v["config"]["layers"].as_array().unwrap().clone()
    };
    // A Dense of 20 units where the weights have 16.
    let e = import(edited_archive(|v| {
        let mut l = layers(v);
        for x in l.iter_mut() {
            if x["config"]["name"] == "dense_2" || x["config"]["name"] == "dense" {
                x["config"]["units"] = serde_json::json!(20);
            }
        }
        v["config"]["layers"] = serde_json::Value::Array(l);
    }));
    assert!(
        e.contains("x.keras") && e.contains("shape [72, 16]") && e.contains("[72, 20]"),
        "{e}"
    );
    // A layer scrawl does not have, named.
    let e = import(edited_archive(|v| {
        let mut l = layers(v);
        l[2]["class_name"] = serde_json::json!("LSTM");
        v["config"]["layers"] = serde_json::Value::Array(l);
    }));
    assert!(
        e.contains("LSTM") && e.contains("not a layer scrawl has"),
        "{e}"
    );
    // One more Dense than the file has weights for: named, with the missing dataset.
    let e = import(edited_archive(|v| {
        let mut l = layers(v);
        let mut extra = l.last().unwrap().clone();
        extra["config"]["name"] = serde_json::json!("extra");
        l.push(extra);
        v["config"]["layers"] = serde_json::Value::Array(l);
    }));
    assert!(
        e.contains("extra (Dense)") && e.contains("no dataset layers/dense_2/vars/0"),
        "{e}"
    );
    // Truncated and foreign files.
    let h5 = std::fs::read(fixture("cnn.h5")).unwrap();
    for cut in [100, 2000, h5.len() / 2] {
        let e = keras_from_bytes(h5[..cut].to_vec(), Path::new("cut.h5"))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("cut.h5"), "{e}");
    }
    let e = import(b"{\"not\": \"keras\"}".to_vec());
    assert!(e.contains("neither a .keras archive"), "{e}");
}

#[test]
fn import_keras_command_writes_a_model_that_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("k.safetensors");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_scrawl"))
        .args(["import", "keras"])
        .arg(fixture("cnn.h5"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("batch_normalization (BatchNormalization)"),
        "{text}"
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_scrawl"))
        .args(["evaluate", "--model"])
        .arg(&out)
        .env("SCRAWL_DATA", common::mnist_dir())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("test accuracy"));
}

/// `export --format keras` then `import keras` gives back the same model (Keras itself
/// opening the export is checked by scripts/check_keras_export.py).
#[test]
fn keras_export_imports_back_to_the_same_predictions() {
    let test = common::mnist().test.take(20);
    for arch in [
        "mlp-512",
        "Conv2D(8,3,relu,padding=same) BatchNormalization MaxPooling2D Conv2D(8,3,relu,padding=1) AveragePooling2D Flatten Dropout(0.2) Dense(32,tanh) Dense(10,softmax)",
        "ZeroPadding2D(((1,0),(2,1))) Conv2D(6,5,strides=2) Activation(relu) GlobalAveragePooling2D Dense(10)",
        "speedrun",
    ] {
        let model =
            scrawl::model::Sequential::new(scrawl::presets::preset(arch).unwrap(), 5).unwrap();
        let bytes = scrawl::interop::keras::to_keras(&model).unwrap();
        let back = keras_from_bytes(bytes, Path::new("x.keras")).unwrap();
        let data = if model.config().input_shape.len() == 1 {
            let mut d = test.clone();
            d.image_shape = [784, 1, 1];
            d
        } else {
            test.clone()
        };
        let (a, b) = (
            model.predict(&data, 20).unwrap(),
            back.predict(&data, 20).unwrap(),
        );
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst <= 1e-6, "{arch}: {worst}");
    }
    // Pooling with explicit padding has no Keras form: refused, naming the layer.
    let m = scrawl::model::Sequential::new(
        scrawl::presets::preset("MaxPooling2D(2,strides=1,padding=1) Flatten Dense(10,softmax)")
            .unwrap(),
        1,
    )
    .unwrap();
    let e = scrawl::interop::keras::to_keras(&m)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("max_pooling2d") && e.contains("no Keras equivalent"),
        "{e}"
    );
}

/// What tutorial 004's `ModelCheckpoint(filepath='mnist-{epoch:02d}-{val_loss:.4f}.hdf5')`
/// writes with tf.keras 2 (scripts/make_keras2_checkpoint.py): weights named
/// `dense/kernel:0`, a flat 784 input. It imports, gives tf.keras's probabilities to
/// 1e-5 and scores exactly the test accuracy tf.keras reported.
#[test]
fn a_tf_keras_2_model_checkpoint_imports_and_scores_what_keras_reported() {
    let dir = fixture("tf_keras2");
    let text = std::fs::read_to_string(dir.join("checkpoint.predictions.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let file = dir.join(v["file"].as_str().unwrap());
    let model = import_keras(&file).unwrap();
    assert_eq!(model.config().input_shape, [784]);
    let mut test = common::mnist().test;
    test.image_shape = [784, 1, 1];
    let theirs: Vec<Vec<f64>> = serde_json::from_value(v["probabilities"].clone()).unwrap();
    let ours = model.predict(&test.take(8), 8).unwrap();
    for (row, want) in ours.chunks_exact(10).zip(&theirs) {
        for (a, b) in row.iter().zip(want) {
            assert!((*a as f64 - b).abs() < 1e-5, "{row:?} vs {want:?}");
        }
    }
    let correct = (v["test_accuracy"].as_f64().unwrap() * 10_000.0).round() as usize;
    assert_eq!(model.evaluate(&test, 500).unwrap().correct, correct);
}
