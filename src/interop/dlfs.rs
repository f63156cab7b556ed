//! The pretrained network of "Deep Learning from Scratch" (chapter 3): a pickled dict
//! of NumPy arrays `W1 b1 W2 b2 W3 b3` for a 784-50-100-10 network with sigmoid hidden
//! layers and a softmax output, on inputs scaled by 1/255. The kernels are stored
//! `inputs × units`, exactly scrawl's (and Keras's) Dense layout.

use std::path::Path;

use super::pickle::{self, Value};
use crate::error::{Error, Result};
use crate::model::{ModelConfig, Sequential};

/// The largest pickle read (512 MiB; the book's network is 0.7 MB).
pub const MAX_PICKLE_BYTES: u64 = 512 << 20;

/// Reads the book's `sample_weight.pkl` into a model.
pub fn import_dlfs(path: &Path) -> Result<Sequential> {
    let bytes = crate::files::read_limited(path, MAX_PICKLE_BYTES, "a pickle")?;
    dlfs_from_bytes(&bytes, path)
}

/// [`import_dlfs`] of a pickle held in memory; `path` is only used in messages.
pub fn dlfs_from_bytes(bytes: &[u8], path: &Path) -> Result<Sequential> {
    let root = pickle::parse(bytes).map_err(|e| Error::format(path, e))?;
    if !matches!(root, Value::Dict(_)) {
        return Err(Error::format(
            path,
            "expected a dict of arrays W1 b1 W2 b2 W3 b3 at the top",
        ));
    }
    let array = |name: &str| match root.get(name) {
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(Error::format(path, format!("{name} is not a NumPy array"))),
        None => Err(Error::format(
            path,
            format!("no {name}: the book's network has W1 b1 W2 b2 W3 b3"),
        )),
    };
    // Layer sizes come from the file, so any sigmoid MLP saved this way imports.
    let mut layers = Vec::new();
    let mut inputs = None;
    for i in 1..=3 {
        let w = array(&format!("W{i}"))?;
        let b = array(&format!("b{i}"))?;
        let [rows, cols] = w.shape[..] else {
            return Err(Error::format(
                path,
                format!("W{i} is not a matrix: shape {:?}", w.shape),
            ));
        };
        if b.shape != [cols] {
            return Err(Error::format(
                path,
                format!("b{i} has shape {:?} but W{i} has {cols} columns", b.shape),
            ));
        }
        if let Some(prev) = inputs
            && prev != rows
        {
            return Err(Error::format(
                path,
                format!("W{i} has {rows} rows but the layer before it has {prev} units"),
            ));
        }
        inputs = Some(cols);
        let act = if i == 3 { "softmax" } else { "sigmoid" };
        layers.push(serde_json::json!({"type": "Dense", "units": cols, "activation": act}));
    }
    let first = array("W1")?.shape[0];
    let config: ModelConfig = serde_json::from_value(serde_json::json!({
        "name": "dlfs-sample-weight",
        "input_shape": [first],
        "layers": layers,
    }))
    .map_err(|e| Error::config(format!("building the book's network: {e}")))?;
    let mut model = Sequential::new(config, 0)?;
    let mut problem = None;
    model.for_each_param_mut(|name, p| {
        // dense/kernel -> W1, dense_1/bias -> b2, ...
        let (layer, param) = name.split_once('/').unwrap_or((name, ""));
        let index = layer
            .strip_prefix("dense_")
            .and_then(|k| k.parse::<usize>().ok())
            .map_or(1, |k| k + 1);
        let key = if param == "kernel" {
            format!("W{index}")
        } else {
            format!("b{index}")
        };
        match array(&key) {
            Ok(a) => {
                for (v, &x) in p.value.iter_mut().zip(&a.values) {
                    *v = x as f32;
                }
            }
            Err(e) => problem = Some(e),
        }
    });
    if let Some(e) = problem {
        return Err(e);
    }
    model
        .check_finite()
        .map_err(|e| Error::format(path, e.to_string()))?;
    Ok(model)
}
