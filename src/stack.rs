//! Models written on one line, so a user can try a network from the command line
//! without a JSON file:
//!
//! ```text
//! Conv2D(32,3,activation=relu) MaxPooling2D Conv2D(64,3,activation=relu) MaxPooling2D
//! Flatten Dropout(0.5) Dense(10,activation=softmax)
//! ```
//!
//! Layers are separated by spaces (or `;`, or commas outside parentheses). Each is a
//! Keras class name (case-insensitive; `conv`, `maxpool`, `avgpool`, `gap`, `bn` for
//! short) with optional arguments: positional ones, then `key=value`. Positional
//! numbers go in Keras's order (`Conv2D(filters, kernel_size, strides)`); a padding
//! (`same`) or an activation (`relu`) may stand anywhere among them, as in
//! `Conv2D(32,5,same,relu)`. A pair is written `3x3`. A bare activation name (`relu`) is an
//! Activation layer. The arguments go through the same checks as a model config file.

use serde_json::{Map, Value};

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::layers::LayerConfig;
use crate::model::ModelConfig;

/// Keras's class name for a (case-insensitive) layer name or alias, with the names of
/// its positional arguments.
fn class(name: &str) -> Option<(&'static str, &'static [&'static str])> {
    Some(match name.to_ascii_lowercase().as_str() {
        "dense" => ("Dense", &["units", "activation"]),
        "conv2d" | "conv" => (
            "Conv2D",
            &["filters", "kernel_size", "strides", "padding", "activation"],
        ),
        "maxpooling2d" | "maxpool2d" | "maxpool" => {
            ("MaxPooling2D", &["pool_size", "strides", "padding"])
        }
        "averagepooling2d" | "avgpool2d" | "avgpool" => {
            ("AveragePooling2D", &["pool_size", "strides", "padding"])
        }
        "globalaveragepooling2d" | "gap" => ("GlobalAveragePooling2D", &[]),
        "batchnormalization" | "batchnorm" | "bn" => ("BatchNormalization", &[]),
        "dropout" => ("Dropout", &["rate"]),
        "flatten" => ("Flatten", &[]),
        "activation" => ("Activation", &["activation"]),
        _ => return None,
    })
}

/// Whether `spec` looks like a one-line stack rather than a preset name.
pub fn looks_like_stack(spec: &str) -> bool {
    let first = spec
        .trim()
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';' || c == ',')
        .next()
        .unwrap_or("");
    class(first).is_some() && (spec.contains('(') || spec.trim().contains(char::is_whitespace))
}

/// Splits the spec into layer items at separators outside parentheses.
fn items(spec: &str) -> Result<Vec<String>> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    for ch in spec.chars() {
        match ch {
            '(' => {
                depth += 1;
                cur.push(ch);
            }
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(Error::config(format!("in model '{spec}': unmatched ')'")));
                }
                cur.push(ch);
            }
            c if depth == 0 && (c.is_whitespace() || c == ';' || c == ',') => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if depth != 0 {
        return Err(Error::config(format!("in model '{spec}': unmatched '('")));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// A number, a pair `3x3`, or a word.
fn value(text: &str) -> Value {
    if let Ok(n) = text.parse::<u64>() {
        return Value::from(n);
    }
    if let Ok(f) = text.parse::<f64>() {
        return Value::from(f);
    }
    if let Some((a, b)) = text.split_once(['x', 'X'])
        && let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>())
    {
        return Value::from(vec![a, b]);
    }
    match text.to_ascii_lowercase().as_str() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::from(text),
    }
}

fn layer(item: &str, index: usize) -> Result<LayerConfig> {
    let err = |msg: String| Error::config(format!("layer {} ('{item}'): {msg}", index + 1));
    let (name, args) = match item.split_once('(') {
        Some((name, rest)) => {
            let args = rest
                .strip_suffix(')')
                .ok_or_else(|| err("text after the closing ')'".into()))?;
            (name.trim(), args)
        }
        None => (item, ""),
    };
    if args.is_empty()
        && let Some(activation) = Activation::parse(&name.to_ascii_lowercase())
    {
        return Ok(LayerConfig::Activation { activation });
    }
    let (class, positional) = class(name).ok_or_else(|| {
        err(format!(
            "unknown layer '{name}'; use Dense, Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, BatchNormalization, Dropout, Flatten, Activation or an activation name"
        ))
    })?;
    let mut obj = Map::new();
    obj.insert("type".into(), Value::from(class));
    let mut keyword_seen = false;
    // Positional numbers fill the numeric arguments in order; a positional word is
    // placed by what it is (`same` is a padding, `relu` an activation).
    let mut numeric = positional
        .iter()
        .filter(|k| !matches!(**k, "padding" | "activation"));
    for arg in args.split(',').map(str::trim) {
        if arg.is_empty() {
            if args.trim().is_empty() {
                break;
            }
            return Err(err("an empty argument".into()));
        }
        let (key, val) = match arg.split_once('=') {
            Some((k, v)) => {
                keyword_seen = true;
                (k.trim().to_string(), v.trim())
            }
            None => {
                if keyword_seen {
                    return Err(err(format!(
                        "positional argument '{arg}' after a key=value one"
                    )));
                }
                let lower = arg.to_ascii_lowercase();
                let key = if matches!(lower.as_str(), "same" | "valid")
                    && positional.contains(&"padding")
                {
                    "padding"
                } else if Activation::parse(&lower).is_some() && positional.contains(&"activation")
                {
                    "activation"
                } else {
                    numeric.next().ok_or_else(|| {
                        err(format!(
                            "too many positional arguments; {class} takes {}",
                            if positional.is_empty() {
                                "none".to_string()
                            } else {
                                positional.join(", ")
                            }
                        ))
                    })?
                };
                (key.to_string(), arg)
            }
        };
        if obj.insert(key.clone(), value(val)).is_some() {
            return Err(err(format!("'{key}' given twice")));
        }
    }
    serde_json::from_value(Value::Object(obj)).map_err(|e| err(e.to_string()))
}

/// Parses a one-line stack into a model config. Its input is a 28×28×1 image when
/// the stack has an image layer or starts with Flatten, else a flat 784-vector.
pub fn parse_stack(spec: &str) -> Result<ModelConfig> {
    let layers = items(spec)?
        .iter()
        .enumerate()
        .map(|(i, item)| layer(item, i))
        .collect::<Result<Vec<_>>>()?;
    let image = layers.first().is_some_and(|l| {
        !matches!(
            l,
            LayerConfig::Dense { .. }
                | LayerConfig::Dropout { .. }
                | LayerConfig::Activation { .. }
        ) || layers.iter().any(|l| {
            matches!(
                l,
                LayerConfig::Conv2D { .. }
                    | LayerConfig::MaxPooling2D { .. }
                    | LayerConfig::AveragePooling2D { .. }
                    | LayerConfig::GlobalAveragePooling2D
            )
        })
    });
    Ok(ModelConfig {
        name: "custom".into(),
        input_shape: if image { vec![28, 28, 1] } else { vec![784] },
        layers,
    })
}
