//! The JSON API, apart from HTTP: each route is a function from a request's parts
//! to a status and a JSON body, so it can be tested without a socket.

use std::path::Path;

use serde_json::{Value, json};

use crate::data::drawing::{self, Prepared};
use crate::kernels::argmax;
use crate::model::Sequential;

/// The largest request body accepted, in bytes.
pub const MAX_BODY: usize = 1 << 20;

/// A route's answer: an HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

impl Reply {
    /// 200 with this body.
    pub fn ok(body: Value) -> Self {
        Reply { status: 200, body }
    }

    /// A 4xx/5xx with `{"error": message}`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Reply {
            status,
            body: json!({ "error": message.into() }),
        }
    }
}

/// What `GET /api/model` describes: fixed when the server starts.
pub fn model_info(
    model: &Sequential,
    info: &std::collections::BTreeMap<String, Value>,
    file: &Path,
) -> Value {
    let layers: Vec<Value> = model
        .layers()
        .iter()
        .map(|l| {
            json!({
                "name": l.name(),
                "class_name": l.config().class_name(),
                "output_shape": l.output_shape(),
                "params": l.params().iter().map(|p| p.value.len()).sum::<usize>(),
            })
        })
        .collect();
    json!({
        "name": model.config().name,
        "file": file.file_name().map(|f| f.to_string_lossy().into_owned()),
        "input_shape": model.config().input_shape,
        "params": model.param_count(),
        "layers": layers,
        "dataset": info.get("dataset"),
        "class_names": info.get("class_names"),
        "test_accuracy": info.get("test_accuracy"),
        "epochs": info.get("epochs"),
    })
}

/// `POST /api/predict`: a PNG/JPEG/BMP drawing (made MNIST-like first) or JSON
/// `{"pixels": [784 grey levels]}` already in MNIST's form.
pub fn predict(model: &mut Sequential, content_type: &str, body: &[u8]) -> Reply {
    // "image/png; charset=..." and upper case are the same type.
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let pixels = match mime.as_str() {
        "image/png" | "image/jpeg" | "image/bmp" => match image_pixels(body) {
            Ok(Some(p)) => p,
            Ok(None) => return blank(),
            Err(e) => return e,
        },
        "application/json" => match json_pixels(body, model.input_len()) {
            // The same threshold as for drawings: an empty frame is not a digit.
            Ok(p) if p.iter().all(|&v| v < drawing::BLANK_INK) => return blank(),
            Ok(p) => p,
            Err(e) => return e,
        },
        "" => {
            return Reply::error(
                415,
                "no content-type: send image/png or application/json {\"pixels\": [...]}",
            );
        }
        other => {
            return Reply::error(
                415,
                format!(
                    "content-type {other} is not accepted: send image/png (or jpeg/bmp) or application/json {{\"pixels\": [...]}}"
                ),
            );
        }
    };
    let x: Vec<f32> = pixels.iter().map(|&p| (p as f64 / 255.0) as f32).collect();
    match model.predict_values(&x) {
        Ok(probs) => Reply::ok(json!({
            "blank": false,
            "digit": argmax(&probs),
            "probabilities": probs,
            "input": pixels,
        })),
        Err(e) => Reply::error(500, format!("the model failed: {e}")),
    }
}

/// The answer for an image with no ink: 200, but no guess.
fn blank() -> Reply {
    Reply::ok(json!({
        "blank": true,
        "digit": null,
        "probabilities": null,
        "message": "no ink found: nothing to classify",
    }))
}

/// A drawing made MNIST-like, or `None` when it is blank.
fn image_pixels(body: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
    let img = drawing::decode(body, Path::new("request body"))
        .map_err(|e| Reply::error(400, e.to_string()))?;
    Ok(match drawing::mnistify(&img) {
        Prepared::Digit { pixels, .. } => Some(pixels),
        Prepared::Blank => None,
    })
}

/// `{"pixels": [...]}`: exactly `len` numbers from 0 to 255.
fn json_pixels(body: &[u8], len: usize) -> Result<Vec<u8>, Reply> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Reply::error(400, format!("the body is not valid JSON: {e}")))?;
    let Some(list) = v.get("pixels") else {
        return Err(Reply::error(
            400,
            format!("expected a JSON object with \"pixels\": [{len} values 0-255]"),
        ));
    };
    let Some(list) = list.as_array() else {
        return Err(Reply::error(400, "\"pixels\" must be an array of numbers"));
    };
    if list.len() != len {
        return Err(Reply::error(
            422,
            format!(
                "\"pixels\" has {} values; this model takes {len} (28x28, row by row)",
                list.len()
            ),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, p)| match p.as_f64() {
            Some(f) if (0.0..=255.0).contains(&f) => Ok(f.round() as u8),
            _ => Err(Reply::error(
                422,
                format!("pixels[{i}] is {p}: every pixel must be a number from 0 to 255"),
            )),
        })
        .collect()
}
