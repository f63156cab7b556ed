//! ONNX import: the chain-shaped graphs `torch.onnx.export` writes for MNIST networks
//! (and the ones scrawl exports), into a [`Sequential`].
//!
//! The graph must be a chain: each node reads the value the one before it wrote, plus
//! weights (initializers or `Constant` nodes). The nodes understood:
//!
//! | ONNX | scrawl |
//! | --- | --- |
//! | `Conv` (group 1, dilation 1) | `Conv2D`, kernel `[O, I, kh, kw]` → `[kh, kw, I, O]`; pads as `padding`, or a `ZeroPadding2D` when uneven |
//! | `Pad` (zeros, rows and columns) | `ZeroPadding2D` |
//! | `Relu`, `Sigmoid`, `Tanh` | the activation of the layer before, or an `Activation` |
//! | `MaxPool`, `AveragePool` (pads ignored by the average) | `MaxPooling2D`, `AveragePooling2D` |
//! | `BatchNormalization` | `BatchNormalization` (scale, B, mean, var, epsilon) |
//! | `Flatten`, `Reshape` to `[N, -1]` | `Flatten` |
//! | `Gemm` (`transB` either way), `MatMul` + `Add` | `Dense` |
//! | `Softmax`, `LogSoftmax` | the softmax of the last layer (LogSoftmax's exp is the softmax, so the probabilities are the same) |
//! | `Dropout`, `Identity`, `Transpose` between NHWC and NCHW | nothing |
//!
//! Anything else is refused, naming the node. PyTorch is channels-first: its `Flatten`
//! orders values C, H, W, so the first Dense after it has its rows permuted to scrawl's
//! H, W, C order (a scrawl export transposes to NHWC before flattening, and then
//! nothing is permuted). Inputs are `[N, 1, H, W]` or `[N, H, W, 1]` images (one
//! channel, so both are scrawl's `[H, W, 1]`) or `[N, features]`.

use std::collections::HashMap;
use std::path::Path;

use prost::Message;
use serde_json::{Value, json};

use super::{AttributeProto, FLOAT, GraphProto, INT64, ModelProto, NodeProto, TensorProto};
use crate::error::{Error, Result};
use crate::layers::geometry::{Axis, AxisPadding};
use crate::model::{ModelConfig, Sequential};

/// The largest ONNX file read (1 GiB).
pub const MAX_ONNX_BYTES: u64 = 1 << 30;

/// Reads an ONNX file into a model.
pub fn import_onnx(path: &Path) -> Result<Sequential> {
    let bytes = crate::files::read_limited(path, MAX_ONNX_BYTES, "an ONNX file")?;
    let model = ModelProto::decode(&bytes[..])
        .map_err(|e| Error::format(path, format!("not an ONNX model: {e}")))?;
    from_onnx(&model).map_err(|e| match e {
        Error::Config(msg) | Error::Shape(msg) => Error::format(path, msg),
        other => other,
    })
}

/// The tensors a node can read besides the chain's value.
struct Weights<'a> {
    tensors: HashMap<&'a str, &'a TensorProto>,
}

impl<'a> Weights<'a> {
    fn get(&self, name: &str, node: &NodeProto) -> Result<&'a TensorProto> {
        self.tensors.get(name).copied().ok_or_else(|| {
            Error::config(format!(
                "node {} ({}) reads {name}, which is neither the previous node's output nor a weight",
                node_name(node),
                node.op_type
            ))
        })
    }

    fn floats(&self, name: &str, node: &NodeProto) -> Result<(Vec<usize>, Vec<f32>)> {
        let t = self.get(name, node)?;
        let dims = dims(t)?;
        let n: usize = dims.iter().product();
        let values: Vec<f32> = match t.data_type {
            FLOAT if !t.raw_data.is_empty() => t
                .raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect(),
            FLOAT => t.float_data.clone(),
            other => {
                return Err(Error::config(format!(
                    "{name} is of ONNX type {other}, not float32"
                )));
            }
        };
        if values.len() != n {
            return Err(Error::config(format!(
                "{name} holds {} values for its shape {dims:?}",
                values.len()
            )));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::config(format!(
                "{name} holds NaN or infinite values"
            )));
        }
        Ok((dims, values))
    }

    /// The one number an initializer holds (a scalar, or any shape of one value).
    fn scalar(&self, name: &str, node: &NodeProto) -> Result<f32> {
        match self.floats(name, node)?.1[..] {
            [v] => Ok(v),
            ref more => Err(Error::config(format!(
                "node {} ({}): {name} holds {} values where scrawl reads one number (a Rescaling)",
                node_name(node),
                node.op_type,
                more.len()
            ))),
        }
    }

    fn int64s(&self, name: &str, node: &NodeProto) -> Result<Vec<i64>> {
        let t = self.get(name, node)?;
        match t.data_type {
            INT64 if !t.raw_data.is_empty() => Ok(t
                .raw_data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect()),
            INT64 => Ok(t.int64_data.clone()),
            other => Err(Error::config(format!(
                "{name} is of ONNX type {other}, not int64"
            ))),
        }
    }
}

fn dims(t: &TensorProto) -> Result<Vec<usize>> {
    t.dims
        .iter()
        .map(|&d| {
            usize::try_from(d)
                .ok()
                .filter(|&d| d <= 1 << 28)
                .ok_or_else(|| Error::config(format!("{} has a dimension of {d}", t.name)))
        })
        .collect()
}

fn node_name(n: &NodeProto) -> String {
    if n.name.is_empty() {
        n.output.first().cloned().unwrap_or_default()
    } else {
        n.name.clone()
    }
}

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

fn attr_int(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map_or(default, |a| a.i)
}

fn attr_ints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(n, name).map(|a| a.ints.clone())
}

/// Where the chain's value stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// `[N, features]`.
    Flat(usize),
    /// An image `[N, C, H, W]` (scrawl holds it as `[H, W, C]`).
    Image { h: usize, w: usize, c: usize },
}

/// The layers built so far, with their parameters in the model's order.
struct Built {
    layers: Vec<Value>,
    params: Vec<Vec<f32>>,
    layout: Layout,
    /// Set by a Flatten of an NCHW image: the next Dense's rows are in C,H,W order.
    flattened_chw: Option<(usize, usize, usize)>,
    /// The last Transpose left NHWC order (a scrawl export before its Flatten).
    nhwc: bool,
    /// A MatMul whose bias may follow as an Add: the index of its layer.
    open_matmul: Option<usize>,
    /// A Rescaling (a Mul by one number) whose offset may follow as an Add.
    open_rescaling: Option<usize>,
}

impl Built {
    /// Gives the last layer `activation` when it has none, else adds an Activation.
    fn activate(&mut self, activation: &str) {
        if let Some(last) = self.layers.last_mut()
            && matches!(last["type"].as_str(), Some("Dense" | "Conv2D"))
            && last["activation"] == "linear"
        {
            last["activation"] = json!(activation);
            return;
        }
        self.layers
            .push(json!({"type": "Activation", "activation": activation}));
    }
}

/// Builds the model an ONNX graph computes.
pub fn from_onnx(model: &ModelProto) -> Result<Sequential> {
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| Error::config("the ONNX model has no graph"))?;
    let mut tensors: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    for n in &graph.node {
        if n.op_type == "Constant"
            && let (Some(out), Some(t)) = (
                n.output.first(),
                attr(n, "value").and_then(|a| a.t.as_ref()),
            )
        {
            tensors.insert(out.as_str(), t);
        }
    }
    let weights = Weights { tensors };
    let (input, layout, input_shape) = input_of(graph, &weights)?;
    let mut b = Built {
        layers: Vec::new(),
        params: Vec::new(),
        layout,
        flattened_chw: None,
        nhwc: false,
        open_matmul: None,
        open_rescaling: None,
    };
    let mut current = input;
    for node in graph.node.iter().filter(|n| n.op_type != "Constant") {
        let reads = node.input.first().map(String::as_str).unwrap_or("");
        if reads != current {
            return Err(Error::config(format!(
                "node {} ({}) reads {reads} instead of {current}: scrawl imports chain-shaped graphs only",
                node_name(node),
                node.op_type
            )));
        }
        step(&mut b, node, &weights)?;
        current = node
            .output
            .first()
            .cloned()
            .ok_or_else(|| Error::config(format!("node {} has no output", node_name(node))))?;
    }
    if let Some(o) = graph.output.first()
        && o.name != current
    {
        return Err(Error::config(format!(
            "the graph's output {} is not the end of its chain ({current})",
            o.name
        )));
    }
    if !matches!(b.layout, Layout::Flat(_)) {
        return Err(Error::config("the graph does not end in flat class scores"));
    }
    let name = if graph.name.is_empty() {
        "onnx-import"
    } else {
        &graph.name
    };
    let config: ModelConfig = serde_json::from_value(json!({
        "name": name,
        "input_shape": input_shape,
        "layers": b.layers,
    }))
    .map_err(|e| Error::config(format!("building the imported model: {e}")))?;
    let mut model = Sequential::new(config, 0)?;
    let mut problem = None;
    let mut given = b.params.into_iter();
    model.for_each_param_mut(|name, p| match given.next() {
        Some(v) if v.len() == p.value.len() => p.value.copy_from_slice(&v),
        _ => problem = Some(format!("{name} does not fit the graph's weights")),
    });
    if let Some(msg) = problem {
        return Err(Error::Shape(msg));
    }
    Ok(model)
}

/// The graph's input: its name, layout and scrawl's input shape.
fn input_of(graph: &GraphProto, weights: &Weights<'_>) -> Result<(String, Layout, Vec<usize>)> {
    let input = graph
        .input
        .iter()
        .find(|i| !weights.tensors.contains_key(i.name.as_str()))
        .ok_or_else(|| Error::config("the graph has no input"))?;
    let dims: Vec<Option<usize>> = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| {
            s.dim
                .iter()
                .map(|d| d.dim_value.and_then(|v| usize::try_from(v).ok()))
                .collect()
        })
        .unwrap_or_default();
    let name = input.name.clone();
    match dims[..] {
        [_, Some(1), Some(h), Some(w)] if h > 1 && w > 1 => {
            Ok((name, Layout::Image { h, w, c: 1 }, vec![h, w, 1]))
        }
        [_, Some(h), Some(w), Some(1)] => Ok((name, Layout::Image { h, w, c: 1 }, vec![h, w, 1])),
        [_, Some(f)] => Ok((name, Layout::Flat(f), vec![f])),
        _ => Err(Error::config(format!(
            "the input {name} has shape {dims:?}: scrawl imports [N, 1, H, W] or [N, H, W, 1] images, or [N, features]"
        ))),
    }
}

/// The pads of a window op as scrawl's padding (`[top, left, bottom, right]` even
/// per axis), or `None` when uneven.
fn even_pads(pads: &[i64]) -> Option<Value> {
    match pads {
        [] | [0, 0, 0, 0] => Some(json!("valid")),
        [t, l, b, r] if t == b && l == r && *t >= 0 && *l >= 0 => Some(json!([t, l])),
        _ => None,
    }
}

/// Keras's `same` pads (`[top, left, bottom, right]`, the odd cell after) for a
/// window op of `window` and `strides` on an `h` x `w` input, by scrawl's own rule
/// ([`Axis`]); `None` when the window does not fit.
fn same_pads([h, w]: [usize; 2], window: [i64; 2], strides: [i64; 2]) -> Option<[i64; 4]> {
    let axis = |input: usize, k: i64, s: i64| {
        let (k, s) = (usize::try_from(k).ok()?, usize::try_from(s).ok()?);
        let a = Axis::new(input, k, s, AxisPadding::Same)?;
        Some((a.pad as i64, a.pad_after() as i64))
    };
    let (t, b) = axis(h, window[0], strides[0])?;
    let (l, r) = axis(w, window[1], strides[1])?;
    Some([t, l, b, r])
}

/// Whether `pads` are Keras's `same` padding (the uneven pads scrawl and Keras export
/// for it).
fn is_same(pads: [i64; 4], size: [usize; 2], window: [i64; 2], strides: [i64; 2]) -> bool {
    same_pads(size, window, strides) == Some(pads)
}

/// The pads `auto_pad` asks for (`SAME_UPPER`, what PyTorch writes for
/// `padding="same"`, is Keras's `same`; `VALID` none); `None` when it is absent or
/// `NOTSET` (the `pads` attribute then says).
fn auto_pad(
    node: &NodeProto,
    [h, w]: [usize; 2],
    window: [i64; 2],
    strides: [i64; 2],
) -> std::result::Result<Option<[i64; 4]>, String> {
    match attr(node, "auto_pad").map(|a| a.s.as_slice()) {
        None | Some(b"" | b"NOTSET") => Ok(None),
        Some(b"VALID") => Ok(Some([0; 4])),
        Some(b"SAME_UPPER") => same_pads([h, w], window, strides)
            .map(Some)
            .ok_or_else(|| "a window larger than its padded input".to_string()),
        Some(other) => Err(format!(
            "auto_pad {} (scrawl reads NOTSET, VALID and SAME_UPPER)",
            String::from_utf8_lossy(other)
        )),
    }
}

/// One node, turned into layers.
fn step(b: &mut Built, node: &NodeProto, weights: &Weights<'_>) -> Result<()> {
    let name = node_name(node);
    let refuse = |why: &str| {
        Err(Error::config(format!(
            "node {name} ({}) cannot be imported: {why}",
            node.op_type
        )))
    };
    if node.op_type != "Add" {
        b.open_matmul = None;
        b.open_rescaling = None;
    }
    match node.op_type.as_str() {
        "Conv" => {
            let Layout::Image { h, w, c } = b.layout else {
                return refuse("a convolution of flat values");
            };
            let (kdims, kernel) = weights.floats(&node.input[1], node)?;
            let [o, i, kh, kw] = kdims[..] else {
                return refuse("its weight is not [O, I, kh, kw]");
            };
            if i != c || attr_int(node, "group", 1) != 1 {
                return refuse(&format!(
                    "its weight has {i} input channels for {c} (groups are not supported)"
                ));
            }
            if attr_ints(node, "dilations").is_some_and(|d| d.iter().any(|&v| v != 1)) {
                return refuse("dilated convolutions are not supported");
            }
            let strides = two(&attr_ints(node, "strides").unwrap_or(vec![1, 1]), "strides")?;
            let [t, l, bo, r] = match auto_pad(node, [h, w], [kh as i64, kw as i64], strides) {
                Ok(Some(pads)) => pads,
                Ok(None) => four(&attr_ints(node, "pads").unwrap_or_default())?,
                Err(why) => return refuse(&why),
            };
            let padding = match even_pads(&[t, l, bo, r]) {
                Some(p) => p,
                None if is_same([t, l, bo, r], [h, w], [kh as i64, kw as i64], strides) => {
                    json!("same")
                }
                None => {
                    b.layers
                        .push(json!({"type": "ZeroPadding2D", "padding": [[t, bo], [l, r]]}));
                    json!("valid")
                }
            };
            let size = [
                out_size(h, kh as i64, strides[0], t, bo)?,
                out_size(w, kw as i64, strides[1], l, r)?,
            ];
            let hwio = crate::interop::layout::oihw_to_hwio(&kernel, [o, i, kh, kw]);
            let bias = match node.input.get(2) {
                Some(n) if !n.is_empty() => Some(weights.floats(n, node)?.1),
                _ => None,
            };
            b.layers.push(json!({
                "type": "Conv2D", "filters": o, "kernel_size": [kh, kw], "strides": strides,
                "padding": padding, "activation": "linear", "use_bias": bias.is_some(),
            }));
            b.params.push(hwio);
            b.params.extend(bias);
            b.layout = Layout::Image {
                h: size[0],
                w: size[1],
                c: o,
            };
        }
        "Relu" | "Sigmoid" | "Tanh" => b.activate(&node.op_type.to_lowercase()),
        "Softmax" | "LogSoftmax" => {
            if !matches!(b.layout, Layout::Flat(_)) {
                return refuse("a softmax over images");
            }
            b.activate("softmax");
        }
        "MaxPool" | "AveragePool" => {
            let Layout::Image { h, w, c } = b.layout else {
                return refuse("pooling of flat values");
            };
            if attr_int(node, "ceil_mode", 0) != 0 {
                return refuse("ceil_mode is not supported");
            }
            let kernel = two(
                &attr_ints(node, "kernel_shape").unwrap_or_default(),
                "kernel_shape",
            )?;
            let strides = two(&attr_ints(node, "strides").unwrap_or(vec![1, 1]), "strides")?;
            let pads = match auto_pad(node, [h, w], kernel, strides) {
                Ok(Some(pads)) => pads,
                Ok(None) => four(&attr_ints(node, "pads").unwrap_or_default())?,
                Err(why) => return refuse(&why),
            };
            let padding = match even_pads(&pads) {
                Some(p) => p,
                None if is_same(pads, [h, w], kernel, strides) => json!("same"),
                None => return refuse(&format!("uneven pads {pads:?}")),
            };
            let size = [
                out_size(h, kernel[0], strides[0], pads[0], pads[2])?,
                out_size(w, kernel[1], strides[1], pads[1], pads[3])?,
            ];
            let average = node.op_type == "AveragePool";
            if average && padding != "valid" && attr_int(node, "count_include_pad", 0) != 0 {
                return refuse("an average that counts its padding (count_include_pad=1)");
            }
            b.layers.push(json!({
                "type": if average { "AveragePooling2D" } else { "MaxPooling2D" },
                "pool_size": kernel, "strides": strides, "padding": padding,
            }));
            b.layout = Layout::Image {
                h: size[0],
                w: size[1],
                c,
            };
        }
        "GlobalAveragePool" => {
            let Layout::Image { c, .. } = b.layout else {
                return refuse("pooling of flat values");
            };
            b.layers.push(json!({"type": "GlobalAveragePooling2D"}));
            // Still [N, C, 1, 1] in ONNX until a Flatten, which then changes nothing.
            b.layout = Layout::Image { h: 1, w: 1, c };
            b.flattened_chw = None;
        }
        "BatchNormalization" => {
            let channels = match b.layout {
                Layout::Image { c, .. } => c,
                Layout::Flat(f) => f,
            };
            let mut ps = Vec::new();
            for input in &node.input[1..5.min(node.input.len())] {
                let (d, v) = weights.floats(input, node)?;
                if d != [channels] {
                    return refuse(&format!("{input} has shape {d:?}, not [{channels}]"));
                }
                ps.push(v);
            }
            if ps.len() != 4 {
                return refuse("it needs scale, B, mean and var");
            }
            let epsilon = attr(node, "epsilon").map_or(1e-5, |a| a.f);
            b.layers
                .push(json!({"type": "BatchNormalization", "epsilon": epsilon}));
            b.params.extend(ps);
        }
        "Flatten" | "Reshape" => {
            if node.op_type == "Reshape" {
                let shape = weights.int64s(&node.input[1], node)?;
                let flat = match b.layout {
                    Layout::Image { h, w, c } => (h * w * c) as i64,
                    Layout::Flat(f) => f as i64,
                };
                if !matches!(shape[..], [_, -1] | [-1, _]) && shape.get(1) != Some(&flat) {
                    return refuse(&format!(
                        "a reshape to {shape:?} (only to [N, -1] is supported)"
                    ));
                }
            } else if attr_int(node, "axis", 1) != 1 {
                return refuse("a Flatten on an axis other than 1");
            }
            if let Layout::Image { h, w, c } = b.layout {
                b.layers.push(json!({"type": "Flatten"}));
                b.flattened_chw = (!b.nhwc && c > 1 && h * w > 1).then_some((c, h, w));
                b.layout = Layout::Flat(h * w * c);
            }
        }
        "Gemm" | "MatMul" => {
            let Layout::Flat(inputs) = b.layout else {
                return refuse("a matrix product on images (flatten first)");
            };
            if node.op_type == "Gemm"
                && (attr_int(node, "transA", 0) != 0
                    || attr(node, "alpha").is_some_and(|a| a.f != 1.0)
                    || attr(node, "beta").is_some_and(|a| a.f != 1.0))
            {
                return refuse("only Gemm with transA = 0, alpha = beta = 1 is supported");
            }
            let (d, w) = weights.floats(&node.input[1], node)?;
            let trans_b = node.op_type == "Gemm" && attr_int(node, "transB", 0) != 0;
            let (rows, units) = match d[..] {
                [r, u] if trans_b => (u, r),
                [r, u] => (r, u),
                _ => return refuse(&format!("its weight has shape {d:?}, not a matrix")),
            };
            if rows != inputs {
                return refuse(&format!("its weight has {rows} inputs for {inputs} values"));
            }
            // (inputs, units), scrawl's Dense layout.
            let mut kernel = if trans_b {
                let mut k = vec![0f32; w.len()];
                for u in 0..units {
                    for r in 0..rows {
                        k[r * units + u] = w[u * rows + r];
                    }
                }
                k
            } else {
                w
            };
            if let Some((c, h, w)) = b.flattened_chw.take() {
                kernel = crate::interop::layout::chw_rows_to_hwc(&kernel, [c, h, w], units);
            }
            let bias = match node.input.get(2) {
                Some(n) if !n.is_empty() => {
                    let (bd, bv) = weights.floats(n, node)?;
                    if bd.iter().product::<usize>() != units {
                        return refuse(&format!("its bias has shape {bd:?} for {units} units"));
                    }
                    Some(bv)
                }
                _ => None,
            };
            b.layers.push(json!({
                "type": "Dense", "units": units, "activation": "linear", "use_bias": bias.is_some(),
            }));
            b.params.push(kernel);
            let has_bias = bias.is_some();
            b.params.extend(bias);
            b.layout = Layout::Flat(units);
            if node.op_type == "MatMul" && !has_bias {
                b.open_matmul = Some(b.layers.len() - 1);
            }
        }
        "Mul" => {
            // x · s with one number s: scrawl's Rescaling (its offset may follow).
            let Some(scale) = node
                .input
                .get(1)
                .map(|n| weights.scalar(n, node))
                .transpose()?
            else {
                return refuse("a Mul without a second input");
            };
            b.layers
                .push(json!({"type": "Rescaling", "scale": scale, "offset": 0.0}));
            b.open_rescaling = Some(b.layers.len() - 1);
        }
        "Add" if b.open_rescaling.is_some() => {
            let layer = b.open_rescaling.take().expect("checked by the guard");
            let Some(offset) = node
                .input
                .get(1)
                .map(|n| weights.scalar(n, node))
                .transpose()?
            else {
                return refuse("an Add without a second input");
            };
            b.layers[layer]["offset"] = json!(offset);
        }
        "Add" => {
            // A MatMul's bias, as torch exports a Linear without Gemm.
            let (Some(layer), Some(other)) = (b.open_matmul.take(), node.input.get(1)) else {
                return refuse("an Add that is not a MatMul's bias");
            };
            let Layout::Flat(units) = b.layout else {
                return refuse("an Add on images");
            };
            let (d, v) = weights.floats(other, node)?;
            if d.iter().product::<usize>() != units {
                return refuse(&format!("its bias has shape {d:?} for {units} units"));
            }
            b.layers[layer]["use_bias"] = json!(true);
            b.params.push(v);
        }
        "Transpose" => {
            let perm = attr_ints(node, "perm").unwrap_or_default();
            match perm[..] {
                // scrawl's exports: NHWC -> NCHW before the image ops, back before Flatten.
                [0, 3, 1, 2] => b.nhwc = false,
                [0, 2, 3, 1] => b.nhwc = true,
                _ => return refuse(&format!("a transpose by {perm:?}")),
            }
        }
        "Pad" => {
            let Layout::Image { h, w, c } = b.layout else {
                return refuse("padding of flat values");
            };
            if attr(node, "mode").is_some_and(|a| !a.s.is_empty() && a.s != b"constant") {
                return refuse("only constant (zero) padding is supported");
            }
            if let Some(v) = node.input.get(2).filter(|n| !n.is_empty()) {
                let (_, value) = weights.floats(v, node)?;
                if value.iter().any(|&x| x != 0.0) {
                    return refuse("padding with a value other than 0");
                }
            }
            let pads = match node.input.get(1).filter(|n| !n.is_empty()) {
                Some(p) => weights.int64s(p, node)?,
                None => attr_ints(node, "pads").unwrap_or_default(),
            };
            let [0, 0, t, l, 0, 0, bo, r] = pads[..] else {
                return refuse(&format!(
                    "pads {pads:?} (only the rows and columns of an NCHW image)"
                ));
            };
            if [t, l, bo, r].iter().any(|&p| !(0..=4096).contains(&p)) {
                return refuse(&format!("pads {pads:?}"));
            }
            b.layers
                .push(json!({"type": "ZeroPadding2D", "padding": [[t, bo], [l, r]]}));
            b.layout = Layout::Image {
                h: h + (t + bo) as usize,
                w: w + (l + r) as usize,
                c,
            };
        }
        "Dropout" | "Identity" => {}
        other => {
            return refuse(&format!(
                "{other} is not among the operators scrawl imports (Conv, Pad, Relu, Sigmoid, Tanh, MaxPool, AveragePool, GlobalAveragePool, BatchNormalization, Flatten, Reshape, Gemm, MatMul, Add, Softmax, LogSoftmax, Dropout, Identity, Transpose)"
            ));
        }
    }
    Ok(())
}

/// The size of a window op's output along an axis of `input` cells padded by
/// `before` and `after`.
fn out_size(input: usize, window: i64, stride: i64, before: i64, after: i64) -> Result<usize> {
    let padded = input as i64 + before + after;
    if window < 1 || stride < 1 || before < 0 || after < 0 || window > padded {
        return Err(Error::config(format!(
            "a {window}-cell window with stride {stride} and pads {before}, {after} does not fit {input} cells"
        )));
    }
    Ok(((padded - window) / stride + 1) as usize)
}

/// `[top, left, bottom, right]` of ONNX's `pads` (absent: none).
fn four(pads: &[i64]) -> Result<[i64; 4]> {
    match pads {
        [] => Ok([0; 4]),
        [t, l, b, r] => Ok([*t, *l, *b, *r]),
        _ => Err(Error::config(format!(
            "pads {pads:?} are not [top, left, bottom, right]"
        ))),
    }
}

/// `[rows, cols]` of a window's size or strides.
fn two(v: &[i64], what: &str) -> Result<[i64; 2]> {
    match v {
        [a, b] => Ok([*a, *b]),
        _ => Err(Error::config(format!("{what} {v:?} is not [rows, cols]"))),
    }
}
