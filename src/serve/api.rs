//! The JSON API, apart from HTTP: each route is a function from a request's parts
//! to a status and a JSON body, so it can be tested without a socket.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::data::drawing::{self, Prepared};
use crate::kernels::argmax;
use crate::model::Sequential;

/// The largest request body accepted, in bytes.
pub const MAX_BODY: usize = 1 << 20;

/// A route's answer: an HTTP status and a JSON body, already serialized.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The JSON body, as bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// 200 with this body.
    pub fn ok(body: &impl Serialize) -> Self {
        Reply {
            status: 200,
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }

    /// A 4xx/5xx with `{"error": message}`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Reply {
            status,
            body: serde_json::to_vec(&json!({ "error": message.into() })).unwrap_or_default(),
        }
    }

    /// The body as a JSON value (for tests and the curious).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
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

/// What a `POST /api/predict` body holds, once its content type is read.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<'a> {
    /// 784 grey levels from JSON, already in MNIST's form.
    Pixels(Vec<u8>),
    /// PNG, JPEG or BMP bytes, to be made MNIST-like (see [`drawing::mnistify`]).
    Image(&'a [u8]),
    /// `multipart/form-data` with this boundary: the image is one of its parts.
    Multipart(String),
}

/// The request's media type, lower case, without parameters.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Reads a `POST /api/predict` body by its content type: `image/png` (or jpeg, bmp),
/// `application/octet-stream` holding such an image, `multipart/form-data` (what
/// `curl -F file=@digit.png` sends), or `application/json {"pixels": [784 values
/// 0-255]}`. `len` is the model's input length.
pub fn read_input<'a>(content_type: &str, body: &'a [u8], len: usize) -> Result<Input<'a>, Reply> {
    const ACCEPTED: &str = "send image/png (or jpeg, bmp, application/octet-stream), \
         multipart/form-data with the image as a file, or application/json {\"pixels\": [...]}";
    match media_type(content_type).as_str() {
        "image/png" | "image/jpeg" | "image/jpg" | "image/bmp" => Ok(Input::Image(body)),
        "application/octet-stream" => match image::guess_format(body) {
            Ok(image::ImageFormat::Png | image::ImageFormat::Jpeg | image::ImageFormat::Bmp) => {
                Ok(Input::Image(body))
            }
            _ => Err(Reply::error(
                415,
                "the application/octet-stream body is not a PNG, JPEG or BMP image",
            )),
        },
        "multipart/form-data" => match multer::parse_boundary(content_type) {
            Ok(boundary) => Ok(Input::Multipart(boundary)),
            Err(e) => Err(Reply::error(400, format!("multipart/form-data: {e}"))),
        },
        "application/json" => json_pixels(body, len).map(Input::Pixels),
        "" => Err(Reply::error(415, format!("no content-type: {ACCEPTED}"))),
        other => Err(Reply::error(
            415,
            format!(
                "content-type {} is not accepted: {ACCEPTED}",
                crate::files::clip(other, 80)
            ),
        )),
    }
}

/// The answer for 784 grey levels and the model's probabilities for them.
pub fn answer(pixels: &[u8], probs: &[f32]) -> Reply {
    // A struct rather than a `json!` tree: no value per pixel is allocated.
    #[derive(Serialize)]
    struct Answer<'a> {
        blank: bool,
        digit: usize,
        probabilities: &'a [f32],
        input: &'a [u8],
    }
    Reply::ok(&Answer {
        blank: false,
        digit: argmax(probs),
        probabilities: probs,
        input: pixels,
    })
}

/// Whether 784 grey levels hold no ink: the same threshold as for drawings, as an
/// empty frame is not a digit.
pub fn is_blank(pixels: &[u8]) -> bool {
    pixels.iter().all(|&v| v < drawing::BLANK_INK)
}

/// The answer for an image with no ink: 200, but no guess.
pub fn blank() -> Reply {
    Reply::ok(&json!({
        "blank": true,
        "digit": null,
        "probabilities": null,
        "message": "no ink found: nothing to classify",
    }))
}

/// A drawing made MNIST-like, or `None` when it is blank.
pub fn image_pixels(body: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
    let img = drawing::decode(body, Path::new("request body"))
        .map_err(|e| Reply::error(400, e.to_string()))?;
    Ok(match drawing::mnistify(&img) {
        Prepared::Digit { pixels, .. } => Some(pixels),
        Prepared::Blank => None,
    })
}

/// `{"pixels": [...]}`: exactly `len` numbers from 0 to 255.
fn json_pixels(body: &[u8], len: usize) -> Result<Vec<u8>, Reply> {
    // The common case straight into numbers; anything else through a JSON tree,
    // which can say exactly what is wrong.
    #[derive(Deserialize)]
    struct Numbers {
        pixels: Vec<f64>,
    }
    let values = match serde_json::from_slice::<Numbers>(body) {
        Ok(numbers) => numbers.pixels,
        Err(_) => return Err(explain_bad_pixels(body, len)),
    };
    if values.len() != len {
        return Err(wrong_count(values.len(), len));
    }
    if let Some((i, p)) = values
        .iter()
        .enumerate()
        .find(|(_, p)| !(0.0..=255.0).contains(*p))
    {
        return Err(Reply::error(
            422,
            format!("pixels[{i}] is {p}: every pixel must be a number from 0 to 255"),
        ));
    }
    // x/255 values (what a model is fed) would round to a blank image and be answered
    // "no ink": a silent wrong answer. Grey levels 0-255 are what MNIST stores.
    let max = values.iter().copied().fold(0.0, f64::max);
    if max > 0.0 && max <= 1.0 {
        return Err(Reply::error(
            422,
            "every pixel is between 0 and 1: send grey levels 0-255 as MNIST stores them \
             (multiply 0-1 values by 255)",
        ));
    }
    Ok(values.iter().map(|f| f.round() as u8).collect())
}

fn wrong_count(got: usize, len: usize) -> Reply {
    Reply::error(
        422,
        format!("\"pixels\" has {got} values; this model takes {len} (28x28, row by row)"),
    )
}

/// Why a body is not `{"pixels": [numbers]}`.
fn explain_bad_pixels(body: &[u8], len: usize) -> Reply {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Reply::error(400, format!("the body is not valid JSON: {e}")),
    };
    let Some(list) = v.get("pixels") else {
        return Reply::error(
            400,
            format!("expected a JSON object with \"pixels\": [{len} values 0-255]"),
        );
    };
    let Some(list) = list.as_array() else {
        return Reply::error(400, "\"pixels\" must be an array of numbers");
    };
    if list.len() != len {
        return wrong_count(list.len(), len);
    }
    match list.iter().enumerate().find(|(_, p)| !p.is_number()) {
        Some((i, p)) => Reply::error(
            422,
            format!("pixels[{i}] is {p}: every pixel must be a number from 0 to 255"),
        ),
        None => Reply::error(400, "\"pixels\" could not be read as numbers"),
    }
}
