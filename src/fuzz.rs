//! One entry point per parser that reads other people's bytes, for the `cargo fuzz`
//! targets in `fuzz/` and for the regression inputs in `tests/data/fuzz/` (run by
//! `tests/suite/hostile.rs`). Each takes any bytes: an error is the expected answer to
//! garbage, a panic, hang or runaway allocation is a bug. Where a parse succeeds,
//! the entry point also checks what came out and uses it the way scrawl would.

use std::path::Path;

use crate::data::{csv, drawing, idx};
#[cfg(feature = "interop")]
use crate::interop::npz;
use crate::interop::{dlfs, pickle};
use crate::model::{ModelConfig, Sequential};

/// An entry point: takes any bytes, never panics.
pub type Entry = fn(&[u8]);

/// The targets, by name: `(name, entry point)`; `npz` only in a build with the
/// `interop` feature, `api_predict` only in one with the server.
pub fn targets() -> Vec<(&'static str, Entry)> {
    #[allow(unused_mut)] // pushed to only in a build with those features
    let mut targets: Vec<(&'static str, Entry)> = vec![
        ("idx", fuzz_idx),
        ("csv", fuzz_csv),
        ("pickle", fuzz_pickle),
        ("model_file", fuzz_model_file),
        ("model_config", fuzz_model_config),
        ("image", fuzz_image),
        ("checkpoint", fuzz_checkpoint),
        ("template", fuzz_template),
    ];
    #[cfg(feature = "interop")]
    {
        targets.insert(3, ("npz", fuzz_npz));
        targets.push(("keras", fuzz_keras));
        targets.push(("onnx", fuzz_onnx));
    }
    #[cfg(feature = "tensorboard")]
    targets.push(("tfevents", fuzz_tfevents));
    #[cfg(feature = "serve")]
    targets.push(("api_predict", fuzz_api_predict));
    targets
}

/// IDX files, raw or gzip: images (magic 0x803) and labels (0x801).
pub fn fuzz_idx(data: &[u8]) {
    let path = Path::new("fuzz.idx");
    for magic in [0x803, 0x801] {
        if let Ok(a) = idx::parse_idx(data, magic, path) {
            assert_eq!(a.dims.iter().product::<usize>(), a.data.len());
        }
    }
}

/// The CSV layouts (Kaggle train/test, mnist_*.csv, no header), raw or gzip.
pub fn fuzz_csv(data: &[u8]) {
    if let Ok(c) = csv::parse_csv(data, Path::new("fuzz.csv")) {
        assert_eq!(c.dataset.images.len(), c.dataset.len() * csv::PIXELS);
    }
}

/// The data-only pickle reader, and the book network's import on top of it.
pub fn fuzz_pickle(data: &[u8]) {
    let _ = pickle::parse(data);
    let _ = dlfs::dlfs_from_bytes(data, Path::new("fuzz.pkl"));
}

/// `.npy` arrays and `.npz` archives.
#[cfg(feature = "interop")]
pub fn fuzz_npz(data: &[u8]) {
    if let Ok((shape, values)) = npz::parse_npy(data) {
        assert_eq!(shape.iter().product::<usize>(), values.len());
    }
    let _ = npz::parse_npz(data, Path::new("fuzz.npz"));
}

/// Keras files: `.keras` archives and legacy HDF5 files; a model that imports must
/// also predict.
#[cfg(feature = "interop")]
pub fn fuzz_keras(data: &[u8]) {
    if let Ok(mut m) =
        crate::interop::keras::keras_from_bytes(data.to_vec(), Path::new("fuzz.keras"))
    {
        predict_once(&mut m);
    }
}

/// ONNX models through the importer; a model that imports must also predict.
#[cfg(feature = "interop")]
pub fn fuzz_onnx(data: &[u8]) {
    use prost::Message;
    if let Ok(model) = crate::interop::onnx::ModelProto::decode(data)
        && let Ok(mut m) = crate::interop::onnx::from_onnx(&model)
    {
        predict_once(&mut m);
    }
}

/// TensorBoard event files (`read_events` checks every record's CRCs).
#[cfg(feature = "tensorboard")]
pub fn fuzz_tfevents(data: &[u8]) {
    let dir = std::env::temp_dir().join(format!("scrawl-fuzz-tfevents-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_ok() {
        let path = dir.join("events.out.tfevents.fuzz");
        if std::fs::write(&path, data).is_ok() {
            let _ = crate::tensorboard::read_events(&path);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Runs one forward pass when the model is small enough to do so quickly.
fn predict_once(model: &mut Sequential) {
    if model.param_count() < 1 << 20 && model.inference_flops_per_item() < 1 << 24 {
        let x = vec![0.5f32; model.input_len()];
        let p = model.predict_values(&x).expect("one whole item");
        assert_eq!(p.len(), model.classes());
    }
}

/// The model file (safetensors with the architecture in its header); a model that
/// loads must also predict.
pub fn fuzz_model_file(data: &[u8]) {
    if let Ok((mut model, _)) = Sequential::from_bytes(data) {
        predict_once(&mut model);
    }
}

/// Model config JSON (`--model FILE.json`): parsing, building, one forward pass.
pub fn fuzz_model_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = ModelConfig::from_json(text, Path::new("fuzz.json"))
        && let Ok(mut model) = Sequential::new(config, 0)
    {
        // What a batch would need is computed from the shapes, never allocated.
        for n in [1, 32, 1 << 20] {
            let _ = model.check_batch(n, true);
        }
        predict_once(&mut model);
    }
}

/// Training checkpoints (`--resume`): the model, the optimizer state, the counters and
/// random streams; a checkpoint that loads has counters that fit together.
pub fn fuzz_checkpoint(data: &[u8]) {
    if let Ok((mut model, state)) =
        crate::train::checkpoint::checkpoint_from_bytes(data, Path::new("fuzz.ckpt"))
    {
        assert_eq!(state.history.epochs.len(), state.epoch);
        assert!(state.correct <= state.seen);
        predict_once(&mut model);
    }
}

/// `--checkpoint` path templates (`model/mnist-{epoch:02d}-{val_loss:.4f}.safetensors`)
/// filled with an epoch's figures; the first byte picks the figures.
pub fn fuzz_template(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(template) = std::str::from_utf8(rest) else {
        return;
    };
    let value = [
        0.0,
        1.0,
        -1.5,
        1e300,
        f64::NAN,
        f64::INFINITY,
        123.456,
        1e-300,
    ][pick as usize % 8];
    let log = crate::history::EpochLog {
        epoch: pick as usize,
        loss: value,
        accuracy: value,
        val_loss: Some(value),
        val_accuracy: None,
        learning_rate: value as f32,
        seconds: 0.0,
    };
    let _ = crate::callbacks::format_template(template, &log);
}

/// Image files (PNG, JPEG, BMP) and the MNIST-style preprocessing of drawings.
pub fn fuzz_image(data: &[u8]) {
    if let Ok(img) = drawing::decode(data, Path::new("fuzz.png"))
        && let drawing::Prepared::Digit { pixels, .. } = drawing::mnistify(&img)
    {
        assert_eq!(pixels.len(), 784);
    }
}

#[cfg(feature = "serve")]
/// The body of `POST /api/predict`, through the server's real routes (no socket):
/// the first byte picks the content type, the rest is the body, answered by a small
/// model. Every answer is a 2xx or 4xx.
pub fn fuzz_api_predict(data: &[u8]) {
    use std::sync::OnceLock;
    use tower::ServiceExt;
    static SERVER: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let content_type = match kind % 7 {
        0 => "image/png",
        1 => "application/json",
        2 => "application/json; charset=utf-8",
        3 => "application/octet-stream",
        4 => "multipart/form-data; boundary=X",
        5 => "multipart/form-data",
        _ => "text/plain",
    };
    let (runtime, router) = SERVER.get_or_init(|| {
        let config = crate::presets::preset("mlp:16").expect("a preset");
        let model = Sequential::new(config, 0).expect("a small model");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        (runtime, crate::serve::router_for(model))
    });
    let request = axum::http::Request::post("/api/predict")
        .header("content-type", content_type)
        .body(axum::body::Body::from(body.to_vec()))
        .expect("a valid request");
    let response = runtime
        .block_on(router.clone().oneshot(request))
        .expect("routes never fail");
    let status = response.status().as_u16();
    assert!((200..500).contains(&status), "{status}");
}
