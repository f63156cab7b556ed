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
//! `Conv2D(32,5,same,relu)`. A pair is written `3x3`, `(3,3)` or `[3, 3]`. A bare
//! activation name (`relu`) is an Activation layer. Keras's own spelling works too:
//! `Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1))`, with quoted
//! strings, tuples and Python's `True`/`False`; `input_shape` on the first layer sets
//! the model's input. The arguments go through the same checks as a model config
//! file.

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
        "zeropadding2d" | "zeropad" => ("ZeroPadding2D", &["padding"]),
        "batchnormalization" | "batchnorm" | "bn" => ("BatchNormalization", &[]),
        "dropout" => ("Dropout", &["rate"]),
        "flatten" => ("Flatten", &[]),
        "activation" => ("Activation", &["activation"]),
        "rescaling" => ("Rescaling", &["scale", "offset"]),
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

/// Splits `text` at the characters `sep` accepts that stand outside parentheses,
/// brackets and quotes (`spec`, the whole model, is for error messages).
fn split_top(text: &str, sep: impl Fn(char) -> bool, spec: &str) -> Result<Vec<String>> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    let mut quote: Option<char> = None;
    for ch in text.chars() {
        if let Some(q) = quote {
            if ch == q {
                quote = None;
            }
            cur.push(ch);
            continue;
        }
        match ch {
            '\'' | '"' => {
                quote = Some(ch);
                cur.push(ch);
            }
            '(' | '[' => {
                depth += 1;
                cur.push(ch);
            }
            ')' | ']' => {
                depth -= 1;
                if depth < 0 {
                    return Err(Error::config(format!(
                        "in model '{spec}': unmatched '{ch}'"
                    )));
                }
                cur.push(ch);
            }
            c if depth == 0 && sep(c) => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err(Error::config(format!(
            "in model '{spec}': an unclosed quote"
        )));
    }
    if depth != 0 {
        return Err(Error::config(format!(
            "in model '{spec}': unmatched '(' or '['"
        )));
    }
    out.push(cur);
    Ok(out)
}

/// Splits the spec into layer items at separators outside parentheses.
fn items(spec: &str) -> Result<Vec<String>> {
    let sep = |c: char| c.is_whitespace() || c == ';' || c == ',';
    let mut out = split_top(spec, sep, spec)?;
    out.retain(|item| !item.is_empty());
    Ok(out)
}

/// A number, a pair `3x3`, a tuple or list (`(3, 3)`, `[3, 3]`, nested), a quoted
/// string, a boolean, or a word.
fn value(text: &str) -> Value {
    let text = text.trim();
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
    let inner = |open: char, close: char| text.strip_prefix(open)?.strip_suffix(close);
    for (open, close) in [('\'', '\''), ('"', '"')] {
        if text.len() >= 2
            && let Some(word) = inner(open, close)
        {
            return Value::from(word);
        }
    }
    for (open, close) in [('(', ')'), ('[', ']')] {
        if let Some(list) = inner(open, close)
            && let Ok(parts) = split_top(list, |c| c == ',', text)
        {
            // Python's one-tuple `(3,)` ends in an empty piece.
            let parts = parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty());
            return Value::Array(parts.map(value).collect());
        }
    }
    match text {
        "true" | "True" => Value::Bool(true),
        "false" | "False" => Value::Bool(false),
        "None" | "null" => Value::Null,
        _ => Value::from(text),
    }
}

/// The known activation names, for error messages.
const ACTIVATIONS: &str = "linear, relu, sigmoid, tanh, softmax";

/// The input shape given on a layer (`input_shape=(28, 28, 1)`), if any.
fn input_shape_arg(item: &str, value: &Value) -> Result<Vec<usize>> {
    let dims: Option<Vec<usize>> = value.as_array().and_then(|a| {
        a.iter()
            .map(|v| v.as_u64().and_then(|n| usize::try_from(n).ok()))
            .collect()
    });
    match dims {
        Some(dims) if !dims.is_empty() && !dims.contains(&0) => Ok(dims),
        _ => Err(Error::config(format!(
            "layer '{item}': input_shape must be a tuple of positive sizes such as (28, 28, 1) or (784,), got {value}"
        ))),
    }
}

/// One layer item, and the input shape it gives, if any.
fn layer(item: &str, index: usize) -> Result<(LayerConfig, Option<Vec<usize>>)> {
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
        return Ok((LayerConfig::Activation { activation }, None));
    }
    let (class, positional) = class(name).ok_or_else(|| {
        err(format!(
            "unknown layer '{name}'; use Dense, Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, ZeroPadding2D, BatchNormalization, Dropout, Flatten, Activation or an activation name ({ACTIVATIONS})"
        ))
    })?;
    let mut obj = Map::new();
    obj.insert("type".into(), Value::from(class));
    let mut keyword_seen = false;
    let mut input_shape = None;
    // Positional numbers fill the numeric arguments in order; a positional word is
    // placed by what it is (`same` is a padding, `relu` an activation).
    let mut numeric = positional
        .iter()
        .filter(|k| **k != "activation" && (**k != "padding" || class == "ZeroPadding2D"));
    let args = split_top(args, |c| c == ',', item)?;
    let blank = args.len() == 1 && args[0].trim().is_empty();
    for arg in args.iter().map(|a| a.trim()).filter(|_| !blank) {
        if arg.is_empty() {
            return Err(err("an empty argument".into()));
        }
        let (key, val) = match split_top(arg, |c| c == '=', item)?.as_slice() {
            [k, v] => {
                keyword_seen = true;
                (k.trim().to_string(), value(v))
            }
            [_] => {
                if keyword_seen {
                    return Err(err(format!(
                        "positional argument '{arg}' after a key=value one"
                    )));
                }
                let val = value(arg);
                let key = match val.as_str().map(str::to_ascii_lowercase) {
                    Some(word)
                        if matches!(word.as_str(), "same" | "valid")
                            && positional.contains(&"padding") =>
                    {
                        "padding"
                    }
                    Some(word)
                        if Activation::parse(&word).is_some()
                            && positional.contains(&"activation") =>
                    {
                        "activation"
                    }
                    Some(word) => {
                        return Err(err(format!(
                            "unknown activation or padding '{word}': activations are {ACTIVATIONS}; paddings are same, valid or a number of cells"
                        )));
                    }
                    None => numeric.next().ok_or_else(|| {
                        err(format!(
                            "too many positional arguments; {class} takes {}",
                            if positional.is_empty() {
                                "none".to_string()
                            } else {
                                positional.join(", ")
                            }
                        ))
                    })?,
                };
                (key.to_string(), val)
            }
            _ => return Err(err(format!("'{arg}' has more than one '='"))),
        };
        let val = match (key.as_str(), val) {
            ("input_shape", v) => {
                input_shape = Some(input_shape_arg(item, &v)?);
                continue;
            }
            // Keras spells names in any case in strings ('ReLU' is refused there
            // too, but 'Same' is not); scrawl's config takes lower case.
            ("activation" | "padding", Value::String(w)) => Value::String(w.to_ascii_lowercase()),
            (_, v) => v,
        };
        if obj.insert(key.clone(), val).is_some() {
            return Err(err(format!("'{key}' given twice")));
        }
    }
    let config = serde_json::from_value(Value::Object(obj)).map_err(|e| err(e.to_string()))?;
    Ok((config, input_shape))
}

/// Parses a one-line stack into a model config. Its input is the first layer's
/// `input_shape` when given, else a 28×28×1 image when the stack has an image layer
/// or starts with Flatten, else a flat 784-vector.
pub fn parse_stack(spec: &str) -> Result<ModelConfig> {
    let mut layers = Vec::new();
    let mut given_shape = None;
    for (i, item) in items(spec)?.iter().enumerate() {
        let (config, shape) = layer(item, i)?;
        if let Some(shape) = shape {
            if i > 0 {
                return Err(Error::config(format!(
                    "layer {} ('{item}'): input_shape belongs on the first layer",
                    i + 1
                )));
            }
            given_shape = Some(shape);
        }
        layers.push(config);
    }
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
                    | LayerConfig::ZeroPadding2D { .. }
            )
        })
    });
    Ok(ModelConfig {
        name: "custom".into(),
        input_shape: given_shape.unwrap_or(if image { vec![28, 28, 1] } else { vec![784] }),
        layers,
    })
}
