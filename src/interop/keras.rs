//! Keras models in: Keras 3 `.keras` archives (`model.save("x.keras")`) and the legacy
//! HDF5 files of `model.save("x.h5")` and `ModelCheckpoint(".../x.hdf5")`, for the
//! sequential models of the layers scrawl has.
//!
//! - A `.keras` file is a zip of `config.json` (the model's `to_json()`) and
//!   `model.weights.h5`, whose datasets are `layers/<layer name>/vars/<i>` in the
//!   layer's weight order.
//! - A legacy `.h5` holds the config as the root attribute `model_config` and the
//!   weights under `model_weights/<layer name>/`, listed in order by the group's
//!   `weight_names` attribute (Keras 2 names them `dense/kernel:0`, Keras 3
//!   `<model>/dense/kernel`).
//!
//! The architecture goes through [`crate::model::keras_config`] (InputLayer and an
//! identity or first 1/255 Rescaling dropped; a scrawl model that starts with a
//! Rescaling is exported with a Rescaling(1/255) before it, so the file takes raw
//! pixels and reads back unambiguously);
//! the weights are matched layer by layer, in
//! order, to scrawl's Dense, Conv2D and BatchNormalization layers, whose layouts are
//! Keras's (Dense `(in, units)`, Conv2D `(kh, kw, in, out)`, BatchNormalization gamma,
//! beta, moving mean, moving variance), each checked against the shape scrawl expects.
//! HDF5 is read by `hdf5-pure` (docs/ARCHITECTURE.md says why).

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::layers::{AutoNames, snake_case};
use crate::model::{ModelConfig, Sequential};

/// An array: its shape and values.
type Array = (Vec<usize>, Vec<f32>);

/// The largest Keras file read (1 GiB).
pub const MAX_KERAS_BYTES: u64 = 1 << 30;

/// The largest config.json read from a `.keras` archive.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// How many weights a Keras layer holds (`None`: it holds none).
fn weight_count(class: &str, config: &Value) -> Option<usize> {
    let flag = |k: &str| config.get(k).and_then(Value::as_bool).unwrap_or(true);
    match class {
        "Dense" | "Conv2D" => Some(1 + usize::from(flag("use_bias"))),
        // scrawl's BatchNormalization always scales and shifts; one that does not is
        // refused by the shape check (fewer weights than scrawl's layer takes).
        "BatchNormalization" => Some(2 + usize::from(flag("center")) + usize::from(flag("scale"))),
        _ => None,
    }
}

/// Reads a `.keras` archive or a legacy `.h5`/`.hdf5` Keras file into a model.
pub fn import_keras(path: &Path) -> Result<Sequential> {
    let bytes = crate::files::read_limited(path, MAX_KERAS_BYTES, "a Keras file")?;
    keras_from_bytes(bytes, path)
}

/// [`import_keras`] of a file held in memory; `path` is only used in messages.
pub fn keras_from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Sequential> {
    let fail = |msg: String| Error::format(path, msg);
    if bytes.starts_with(b"PK") {
        let (config, weights) = read_archive(&bytes).map_err(fail)?;
        let h5 = open_h5(weights).map_err(fail)?;
        build(&config, path, |layer, _i, count| {
            (0..count)
                .map(|k| read_f32(&h5, &format!("layers/{}/vars/{k}", layer.archive_name)))
                .collect()
        })
    } else if bytes.starts_with(b"\x89HDF\r\n\x1a\n") {
        let h5 = open_h5(bytes).map_err(fail)?;
        let root = h5.group("/").map_err(|e| fail(e.to_string()))?;
        let attrs = root.attrs().map_err(|e| fail(e.to_string()))?;
        let config = attrs.get("model_config").and_then(string).ok_or_else(|| {
            fail(
                "an HDF5 file without a model_config attribute: not a whole Keras model (model.save), perhaps weights only (save_weights)"
                    .into(),
            )
        })?;
        let config: Value = serde_json::from_str(&config)
            .map_err(|e| fail(format!("its model_config is not JSON: {e}")))?;
        let top = if h5.group("model_weights").is_ok() {
            "model_weights/"
        } else {
            ""
        };
        build(&config, path, |layer, _i, count| {
            let group = format!("{top}{}", layer.name);
            let g = h5
                .group(&group)
                .map_err(|_| format!("no weights for the layer (no group {group})"))?;
            let names = g
                .attrs()
                .map_err(|e| e.to_string())?
                .get("weight_names")
                .and_then(strings)
                .ok_or_else(|| format!("{group} has no weight_names"))?;
            if names.len() != count {
                return Err(format!(
                    "{group} lists {} weights ({}); scrawl's layer has {count}",
                    names.len(),
                    names.join(", ")
                ));
            }
            names
                .iter()
                .map(|n| read_f32(&h5, &format!("{group}/{n}")))
                .collect()
        })
    } else {
        Err(fail(
            "neither a .keras archive (a zip) nor a Keras HDF5 file (.h5, .hdf5)".into(),
        ))
    }
}

fn open_h5(bytes: Vec<u8>) -> std::result::Result<hdf5_pure::File, String> {
    // A parser of other people's bytes: a panic inside it is reported, not passed on.
    std::panic::catch_unwind(|| hdf5_pure::File::from_bytes(bytes))
        .map_err(|_| "the HDF5 data is malformed".to_string())?
        .map_err(|e| format!("not a readable HDF5 file: {e}"))
}

/// One dataset as f32 values with its shape.
fn read_f32(
    h5: &hdf5_pure::File,
    name: &str,
) -> std::result::Result<(Vec<usize>, Vec<f32>), String> {
    let d = h5.dataset(name).map_err(|_| format!("no dataset {name}"))?;
    let shape: Vec<usize> = d
        .shape()
        .map_err(|e| format!("{name}: {e}"))?
        .iter()
        .map(|&v| usize::try_from(v).unwrap_or(usize::MAX))
        .collect();
    let n = shape
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .filter(|&n| n <= 1 << 28)
        .ok_or_else(|| format!("{name} has an absurd shape {shape:?}"))?;
    let values = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| d.read_f32()))
        .map_err(|_| format!("{name}: malformed data"))?
        .map_err(|e| format!("{name}: {e}"))?;
    if values.len() != n {
        return Err(format!(
            "{name} holds {} values for its shape {shape:?}",
            values.len()
        ));
    }
    Ok((shape, values))
}

fn string(v: &hdf5_pure::AttrValue) -> Option<String> {
    use hdf5_pure::AttrValue as A;
    match v {
        A::String(s) | A::AsciiString(s) | A::VarLenString(s) | A::VarLenAsciiString(s) => {
            Some(s.clone())
        }
        _ => None,
    }
}

fn strings(v: &hdf5_pure::AttrValue) -> Option<Vec<String>> {
    use hdf5_pure::AttrValue as A;
    match v {
        A::StringArray(s)
        | A::AsciiStringArray(s)
        | A::VarLenStringArray(s)
        | A::VarLenAsciiStringArray(s)
        | A::VarLenAsciiCharArray(s) => Some(s.clone()),
        other => string(other).map(|s| vec![s]),
    }
}

/// `config.json` and `model.weights.h5` of a `.keras` zip.
fn read_archive(bytes: &[u8]) -> std::result::Result<(Value, Vec<u8>), String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a readable .keras archive: {e}"))?;
    let mut take = |name: &str, limit: u64| -> std::result::Result<Vec<u8>, String> {
        let entry = zip
            .by_name(name)
            .map_err(|_| format!("the archive has no {name}: not a .keras model"))?;
        let mut out = Vec::new();
        entry
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("{name}: {e}"))?;
        if out.len() as u64 > limit {
            return Err(format!("{name} is larger than {limit} bytes"));
        }
        Ok(out)
    };
    let config = take("config.json", MAX_CONFIG_BYTES)?;
    let weights = take("model.weights.h5", MAX_KERAS_BYTES)?;
    let config = serde_json::from_slice(&config).map_err(|e| format!("config.json: {e}"))?;
    Ok((config, weights))
}

/// A Keras layer that holds weights.
struct Weighted {
    /// Its name in the config (`dense_2`): a legacy `.h5` file's group.
    name: String,
    /// The name a `.keras` archive files its weights under: the class in snake case,
    /// numbered among the model's layers of that class (`dense`, `dense_1`, ...),
    /// whatever the layers are called.
    archive_name: String,
}

/// The model of `config`, its weights from `weights(layer, index among the weighted
/// layers, weight count)`.
fn build(
    config: &Value,
    path: &Path,
    weights: impl Fn(
        &Weighted,
        usize,
        usize,
    ) -> std::result::Result<Vec<(Vec<usize>, Vec<f32>)>, String>,
) -> Result<Sequential> {
    let fail = |msg: String| Error::format(path, msg);
    let model_config: ModelConfig =
        crate::model::keras_config::from_keras(config).map_err(|e| fail(e.to_string()))?;
    let layers = config
        .get("config")
        .and_then(|c| c.get("layers"))
        .or_else(|| config.get("layers"))
        .and_then(Value::as_array)
        .ok_or_else(|| fail("the model config has no layers".into()))?;
    // The Keras layers with weights, in order.
    let mut names = AutoNames::default();
    let weighted: Vec<(Weighted, &str, usize)> = layers
        .iter()
        .filter_map(|l| {
            let class = l.get("class_name")?.as_str()?;
            let archive_name = names.next(&snake_case(class));
            let c = l.get("config")?;
            let name = c.get("name")?.as_str()?.to_string();
            Some((
                Weighted { name, archive_name },
                class,
                weight_count(class, c)?,
            ))
        })
        .collect();
    let mut model = Sequential::new(model_config, 0).map_err(|e| fail(e.to_string()))?;
    let mut arrays = Vec::new();
    for (i, (layer, class, count)) in weighted.iter().enumerate() {
        let name = &layer.name;
        let w = weights(layer, i, *count).map_err(|e| fail(format!("{name} ({class}): {e}")))?;
        arrays.extend(w.into_iter().map(|a| (name.clone(), a)));
    }
    let mut given = arrays.into_iter();
    let mut problem = None;
    model.for_each_param_mut(|ours, p| {
        if problem.is_some() {
            return;
        }
        match given.next() {
            Some((_, (shape, v))) if shape == p.shape && v.len() == p.value.len() => {
                p.value.copy_from_slice(&v);
            }
            Some((keras, (shape, _))) => {
                problem = Some(format!(
                    "layer {keras}'s weight has shape {shape:?} where scrawl's {ours} is {:?}",
                    p.shape
                ));
            }
            None => problem = Some(format!("the file has no weight for {ours}")),
        }
    });
    if let Some(msg) = problem {
        return Err(fail(msg));
    }
    if let Some((keras, _)) = given.next() {
        return Err(fail(format!(
            "layer {keras} has more weights than scrawl's model takes"
        )));
    }
    model.check_finite().map_err(|e| fail(e.to_string()))?;
    Ok(model)
}

/// Writes `model` as a Keras 3 `.keras` archive at `path` (atomically): `config.json`
/// in Keras's `to_json()` form, `metadata.json`, and `model.weights.h5` with each
/// weighted layer's arrays at `layers/<class in snake case, numbered>/vars/<i>`.
/// `keras.models.load_model` opens it (scripts/check_keras_export.py checks that it
/// predicts what scrawl does). Explicit paddings become a `ZeroPadding2D` before a
/// `valid` convolution; a model that emits logits gets a final softmax, as scrawl
/// reports probabilities.
pub fn export_keras(model: &Sequential, path: &Path) -> Result<()> {
    let bytes = to_keras(model)?;
    crate::files::write_atomic(path, &bytes)
}

/// The bytes of [`export_keras`]'s archive.
pub fn to_keras(model: &Sequential) -> Result<Vec<u8>> {
    use crate::layers::LayerConfig as L;
    use crate::layers::geometry::Padding;
    use serde_json::json;
    let cfg = model.config();
    let mut layers = vec![keras_layer(
        "InputLayer",
        json!({"batch_shape": std::iter::once(Value::Null).chain(cfg.input_shape.iter().map(|&d| json!(d))).collect::<Vec<_>>(), "dtype": "float32", "name": "input_layer"}),
    )];
    // Weighted layers in order, with the arrays scrawl holds for them.
    let params = model.named_params();
    let mut weights: Vec<(String, Vec<Array>)> = Vec::new();
    let mut names = AutoNames::default();
    let mut archive_name = |class: &str| names.next(&snake_case(class));
    let mut pad_count = 0;
    for (layer, lc) in model.layers().iter().zip(&cfg.layers) {
        let name = layer.name().to_string();
        let own: Vec<Array> = params
            .iter()
            .filter(|(n, _)| n.split('/').next() == Some(name.as_str()))
            .map(|(_, p)| (p.shape.clone(), p.value.clone()))
            .collect();
        let mut explicit = |padding: &Padding, layers: &mut Vec<Value>| -> Result<&'static str> {
            match padding {
                Padding::Valid => Ok("valid"),
                Padding::Same => Ok("same"),
                Padding::Explicit(cells) => {
                    let [r, c] = cells.0;
                    pad_count += 1;
                    archive_name("ZeroPadding2D");
                    layers.push(keras_layer(
                        "ZeroPadding2D",
                        json!({"name": format!("{name}_padding_{pad_count}"), "padding": [[r, r], [c, c]]}),
                    ));
                    Ok("valid")
                }
            }
        };
        let (class, config) = match lc {
            L::Dense {
                units,
                activation,
                use_bias,
            } => (
                "Dense",
                json!({"name": name, "units": units, "activation": activation.name(), "use_bias": use_bias}),
            ),
            L::Activation { activation } => (
                "Activation",
                json!({"name": name, "activation": activation.name()}),
            ),
            L::Dropout { rate } => ("Dropout", json!({"name": name, "rate": rate})),
            L::Flatten => ("Flatten", json!({"name": name})),
            L::Conv2D {
                filters,
                kernel_size,
                strides,
                padding,
                activation,
                use_bias,
            } => {
                let padding = explicit(padding, &mut layers)?;
                (
                    "Conv2D",
                    json!({"name": name, "filters": filters, "kernel_size": kernel_size.0, "strides": strides.0,
                           "padding": padding, "activation": activation.name(), "use_bias": use_bias}),
                )
            }
            L::MaxPooling2D {
                pool_size,
                strides,
                padding,
            }
            | L::AveragePooling2D {
                pool_size,
                strides,
                padding,
            } => {
                if matches!(padding, Padding::Explicit(_)) {
                    return Err(Error::config(format!(
                        "{name}: pooling with explicit padding has no Keras equivalent"
                    )));
                }
                let class = if matches!(lc, L::MaxPooling2D { .. }) {
                    "MaxPooling2D"
                } else {
                    "AveragePooling2D"
                };
                let padding = if *padding == Padding::Same {
                    "same"
                } else {
                    "valid"
                };
                (
                    class,
                    json!({"name": name, "pool_size": pool_size.0, "strides": strides.unwrap_or(*pool_size).0, "padding": padding}),
                )
            }
            L::GlobalAveragePooling2D => ("GlobalAveragePooling2D", json!({"name": name})),
            L::ZeroPadding2D { padding } => {
                ("ZeroPadding2D", json!({"name": name, "padding": padding.0}))
            }
            L::BatchNormalization { momentum, epsilon } => (
                "BatchNormalization",
                json!({"name": name, "momentum": momentum, "epsilon": epsilon, "axis": -1}),
            ),
            L::Rescaling { scale, offset } => {
                // First in the model, a Rescaling would be ambiguous to a Keras reader
                // (of raw pixels, or of pixels / 255?): scrawl writes the / 255 as a
                // Rescaling of its own before it, so the file takes raw pixels.
                if layers.len() == 1 {
                    archive_name("Rescaling");
                    layers.push(keras_layer(
                        "Rescaling",
                        json!({"name": format!("{name}_pixels"), "scale": 1.0 / 255.0, "offset": 0.0}),
                    ));
                }
                (
                    "Rescaling",
                    json!({"name": name, "scale": scale, "offset": offset}),
                )
            }
        };
        let filed = archive_name(class);
        if !own.is_empty() {
            weights.push((filed, own));
        }
        layers.push(keras_layer(class, config));
    }
    if model.output_kind() == crate::model::Output::Logits {
        archive_name("Activation");
        layers.push(keras_layer(
            "Activation",
            json!({"name": "probabilities", "activation": "softmax"}),
        ));
    }
    let config = json!({
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": cfg.name, "trainable": true, "layers": layers},
        "registered_name": null,
        "build_config": {"input_shape": std::iter::once(Value::Null).chain(cfg.input_shape.iter().map(|&d| json!(d))).collect::<Vec<_>>()},
    });
    let mut h5 = hdf5_pure::FileBuilder::new();
    let mut top = h5.create_group("layers");
    for (filed, arrays) in &weights {
        let mut layer = top.create_group(filed);
        let mut vars = layer.create_group("vars");
        for (i, (shape, values)) in arrays.iter().enumerate() {
            let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
            vars.create_dataset(&i.to_string())
                .with_f32_data(values)
                .with_shape(&dims);
        }
        layer.add_group(vars.finish());
        top.add_group(layer.finish());
    }
    h5.add_group(top.finish());
    let weights_h5 = h5
        .finish()
        .map_err(|e| Error::config(format!("writing the weights' HDF5: {e}")))?;
    let metadata = json!({"keras_version": "3.15.1", "date_saved": chrono::Local::now().format("%Y-%m-%d@%H:%M:%S").to_string(), "written_by": format!("scrawl {}", env!("CARGO_PKG_VERSION"))});
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (file, data) in [
        (
            "metadata.json",
            serde_json::to_vec(&metadata).unwrap_or_default(),
        ),
        (
            "config.json",
            serde_json::to_vec(&config).unwrap_or_default(),
        ),
        ("model.weights.h5", weights_h5),
    ] {
        use std::io::Write;
        zip.start_file(file, opts)
            .and_then(|_| zip.write_all(&data).map_err(zip::result::ZipError::Io))
            .map_err(|e| Error::config(format!("writing the .keras archive: {e}")))?;
    }
    let out = zip
        .finish()
        .map_err(|e| Error::config(format!("writing the .keras archive: {e}")))?;
    Ok(out.into_inner())
}

/// A layer entry of Keras 3's `config.json`.
fn keras_layer(class: &str, config: Value) -> Value {
    serde_json::json!({"module": "keras.layers", "class_name": class, "config": config, "registered_name": null})
}
