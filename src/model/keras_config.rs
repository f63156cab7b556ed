//! Model configs in Keras's own JSON: what `model.to_json()` writes (Keras 3 and
//! Keras 2 / tf.keras, `{"class_name": "Sequential", "config": {...}}`) and what
//! `model.get_config()` returns (`{"name": ..., "layers": [...]}`), for sequential
//! models of the layers scrawl has.
//!
//! Each layer is `{"class_name": "Conv2D", "config": {...}}`; the fields scrawl has
//! are taken, the ones that do not change the function (names, initializers,
//! regularizers, dtypes) are ignored, and one that would change it (a dilation, groups,
//! channels-first data, a clipped ReLU) is refused, naming the layer. The input shape
//! comes from an `InputLayer` (`batch_shape`, Keras 2's `batch_input_shape`), a
//! layer's `batch_input_shape`, or the model's `build_input_shape`.

use serde_json::{Map, Value, json};

use super::ModelConfig;
use crate::error::{Error, Result};
use crate::layers::LayerConfig;

/// Whether `json` is in Keras's form rather than scrawl's.
pub fn is_keras(json: &Value) -> bool {
    json.get("class_name").is_some()
        || json
            .get("layers")
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .is_some_and(|l| l.get("class_name").is_some())
}

/// Converts Keras's JSON of a sequential model into scrawl's config.
pub fn from_keras(json: &Value) -> Result<ModelConfig> {
    let config = match json.get("class_name").and_then(Value::as_str) {
        Some("Sequential") => json.get("config").unwrap_or(&Value::Null),
        Some(other) => {
            return Err(Error::config(format!(
                "a Keras {other} model: scrawl reads Sequential models only"
            )));
        }
        None => json,
    };
    let layers = config
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::config("a Keras model config without a list of layers"))?;
    let mut input_shape = batch_shape(config.get("build_input_shape"));
    let mut out = Vec::new();
    // A first Rescaling(1/255) was dropped: later Rescalings are layers of their own.
    let mut pixels_scaled = false;
    for (i, layer) in layers.iter().enumerate() {
        let class = layer
            .get("class_name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let empty = Map::new();
        let c = layer
            .get("config")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let name = c.get("name").and_then(Value::as_str).unwrap_or(class);
        let err =
            |msg: String| Error::config(format!("Keras layer {} ({name}, {class}): {msg}", i + 1));
        if input_shape.is_none() {
            input_shape = batch_shape(c.get("batch_shape").or(c.get("batch_input_shape")));
        }
        if let Some(format) = c.get("data_format").and_then(Value::as_str)
            && format != "channels_last"
        {
            return Err(err(format!(
                "data_format {format}: scrawl's images are channels_last"
            )));
        }
        let mut fields = Map::new();
        let mut take = |keys: &[&str]| {
            for &k in keys {
                if let Some(v) = c.get(k).filter(|v| !v.is_null()) {
                    fields.insert(k.to_string(), v.clone());
                }
            }
        };
        let scrawl_class = match class {
            "InputLayer" => continue,
            "Rescaling" => {
                if !(c.get("scale").is_none_or(Value::is_number)
                    && c.get("offset").is_none_or(Value::is_number))
                {
                    return Err(err(
                        "Rescaling with a scale or offset per channel: scrawl's Rescaling takes one number each".into(),
                    ));
                }
                let scale = c.get("scale").and_then(Value::as_f64).unwrap_or(1.0);
                let offset = c.get("offset").and_then(Value::as_f64).unwrap_or(0.0);
                if scale == 1.0 && offset == 0.0 {
                    continue; // the identity
                }
                if out.is_empty() && !pixels_scaled {
                    // scrawl feeds pixels / 255: Rescaling(1/255) at the input is that.
                    // Any other first Rescaling is ambiguous: of raw pixels (0..255) or
                    // of pixels already / 255, as models trained on x / 255 take them.
                    if (scale * 255.0 - 1.0).abs() > 1e-6 || offset != 0.0 {
                        return Err(err(format!(
                            "Rescaling(scale={scale}, offset={offset}): scrawl takes pixels scaled to [0, 1] before the first layer, so a first Rescaling must be Rescaling(1/255) (or the identity); later ones are scrawl's Rescaling layer"
                        )));
                    }
                    pixels_scaled = true;
                    continue;
                }
                fields.insert("scale".into(), json!(scale));
                fields.insert("offset".into(), json!(offset));
                "Rescaling"
            }
            "Dense" => {
                take(&["units", "activation", "use_bias"]);
                "Dense"
            }
            "Conv2D" => {
                // A dilation of 1 (as [1, 1] or 1) and one group are plain convolutions.
                let plain =
                    |v: &Value| *v == 1 || v.as_array().is_some_and(|a| a.iter().all(|x| *x == 1));
                for k in ["dilation_rate", "groups"] {
                    if let Some(v) = c.get(k)
                        && !plain(v)
                    {
                        return Err(err(format!("{k} {v}: scrawl's Conv2D has none")));
                    }
                }
                take(&[
                    "filters",
                    "kernel_size",
                    "strides",
                    "padding",
                    "activation",
                    "use_bias",
                ]);
                "Conv2D"
            }
            "MaxPooling2D" | "AveragePooling2D" => {
                take(&["pool_size", "strides", "padding"]);
                // Keras writes the default (strides = pool_size) out; scrawl leaves it.
                if fields.get("strides").is_some()
                    && fields.get("strides") == fields.get("pool_size")
                {
                    fields.remove("strides");
                }
                class
            }
            "GlobalAveragePooling2D" => {
                if c.get("keepdims").and_then(Value::as_bool) == Some(true) {
                    return Err(err(
                        "keepdims=True: scrawl's GlobalAveragePooling2D flattens".into(),
                    ));
                }
                class
            }
            "ZeroPadding2D" => {
                take(&["padding"]);
                class
            }
            "Flatten" => class,
            "Dropout" => {
                if c.get("noise_shape").is_some_and(|v| !v.is_null()) {
                    return Err(err(
                        "a noise_shape: scrawl drops each value on its own".into()
                    ));
                }
                take(&["rate"]);
                class
            }
            "Activation" => {
                take(&["activation"]);
                class
            }
            "ReLU" => {
                let zero = |k: &str| {
                    c.get(k)
                        .is_none_or(|x| x.is_null() || x.as_f64() == Some(0.0))
                };
                let no_max = c.get("max_value").is_none_or(Value::is_null);
                if !(no_max && zero("negative_slope") && zero("threshold")) {
                    return Err(err(
                        "a clipped, leaky or thresholded ReLU: scrawl's relu is max(x, 0)".into(),
                    ));
                }
                fields.insert("activation".into(), Value::from("relu"));
                "Activation"
            }
            "Softmax" => {
                fields.insert("activation".into(), Value::from("softmax"));
                "Activation"
            }
            "BatchNormalization" => {
                let axis_last = match c.get("axis") {
                    None => true,
                    Some(Value::Array(a)) => {
                        a.len() == 1 && a[0].as_i64().is_some_and(|v| v == -1 || v == 3)
                    }
                    Some(v) => v.as_i64().is_some_and(|v| v == -1 || v == 3),
                };
                let on = |k: &str| c.get(k).and_then(Value::as_bool) != Some(false);
                if !axis_last || !on("center") || !on("scale") {
                    return Err(err(
                        "normalizes another axis or without center/scale: scrawl's BatchNormalization normalizes channels, with both".into(),
                    ));
                }
                take(&["momentum", "epsilon"]);
                class
            }
            _ => {
                return Err(err(
                    "not a layer scrawl has; it reads InputLayer, Rescaling, Dense, Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, ZeroPadding2D, Flatten, Dropout, Activation, ReLU, Softmax and BatchNormalization".into(),
                ));
            }
        };
        fields.insert("type".into(), Value::from(scrawl_class));
        let layer: LayerConfig =
            serde_json::from_value(Value::Object(fields)).map_err(|e| err(e.to_string()))?;
        out.push(layer);
    }
    let name = config
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("keras")
        .to_string();
    let image = out.iter().any(|l| {
        matches!(
            l,
            LayerConfig::Conv2D { .. }
                | LayerConfig::MaxPooling2D { .. }
                | LayerConfig::AveragePooling2D { .. }
                | LayerConfig::GlobalAveragePooling2D
                | LayerConfig::ZeroPadding2D { .. }
        )
    }) || matches!(out.first(), Some(LayerConfig::Flatten));
    Ok(ModelConfig {
        name,
        input_shape: input_shape.unwrap_or(if image { vec![28, 28, 1] } else { vec![784] }),
        layers: out,
    })
}

/// `[null, 28, 28, 1]` (a batch shape, the batch axis `null`) as `[28, 28, 1]`.
fn batch_shape(v: Option<&Value>) -> Option<Vec<usize>> {
    let dims = v?.as_array()?;
    dims.get(1..)?
        .iter()
        .map(|d| d.as_u64().and_then(|n| usize::try_from(n).ok()))
        .collect()
}
