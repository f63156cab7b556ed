//! ONNX export (and, in [`import`], import). The few ONNX messages a model needs are declared here with `prost`
//! (field numbers from onnx.proto), so no protobuf compiler is needed to build.
//!
//! scrawl is channels-last (NHWC) and ONNX's Conv and pooling are channels-first, so
//! the graph transposes the input to NCHW before the first image operation and back to
//! NHWC before `Flatten`: the Dense kernels after it then see values in the order
//! scrawl trained them with, and the file computes exactly what scrawl computes. The
//! input is named `input` (shape `N × scrawl's input shape`, float32 in [0, 1], i.e.
//! pixels / 255) and the output `probabilities` (`N × classes`).

use std::collections::HashMap;
use std::path::Path;

use prost::Message;

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::layers::LayerConfig;
use crate::layers::geometry::{Axis, Padding, Size2};
use crate::model::Sequential;

pub mod import;
pub use import::{from_onnx, import_onnx};

/// ONNX's `ModelProto` (the fields scrawl writes).
#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    /// The IR version.
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    /// Which tool wrote it.
    #[prost(string, tag = "2")]
    pub producer_name: String,
    /// Its version.
    #[prost(string, tag = "3")]
    pub producer_version: String,
    /// The graph.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// The operator sets used.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
}

/// ONNX's `OperatorSetIdProto`.
#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    /// "" for the default ONNX domain.
    #[prost(string, tag = "1")]
    pub domain: String,
    /// The opset version.
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// ONNX's `GraphProto`.
#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    /// The operations, in order.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// The graph's name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// The weights.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// The inputs.
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// The outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// ONNX's `NodeProto`.
#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    /// Input value names.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Output value names.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// The node's name.
    #[prost(string, tag = "3")]
    pub name: String,
    /// The operator (`Conv`, `Gemm`, ...).
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// Its attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
}

/// ONNX's `AttributeProto` (float, int, string, tensor, ints).
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    /// The attribute's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// A float value.
    #[prost(float, tag = "2")]
    pub f: f32,
    /// An int value.
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// A string value (`auto_pad`).
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    /// A tensor value (a `Constant` node's).
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// A list of ints.
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    /// Which of the above it is (FLOAT = 1, INT = 2, STRING = 3, TENSOR = 4, INTS = 7).
    #[prost(int32, tag = "20")]
    pub r#type: i32,
}

/// ONNX's `TensorProto` (float32 or int64 data; scrawl writes raw little-endian
/// bytes, and reads those or the typed fields).
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    /// The shape.
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// The element type (FLOAT = 1, INT64 = 7).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// The values of a FLOAT tensor without `raw_data`.
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// The values of an INT64 tensor without `raw_data`.
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    /// The tensor's name.
    #[prost(string, tag = "8")]
    pub name: String,
    /// The values, little-endian.
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
}

/// ONNX's `ValueInfoProto`.
#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    /// The value's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its type.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

/// ONNX's `TypeProto` (tensors only).
#[derive(Clone, PartialEq, Message)]
pub struct TypeProto {
    /// A tensor type.
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TensorTypeProto>,
}

/// ONNX's `TypeProto.Tensor`.
#[derive(Clone, PartialEq, Message)]
pub struct TensorTypeProto {
    /// The element type (FLOAT = 1).
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    /// The shape.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// ONNX's `TensorShapeProto`.
#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    /// One entry per axis.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// ONNX's `TensorShapeProto.Dimension`: a size or a symbolic name.
#[derive(Clone, PartialEq, Message)]
pub struct Dimension {
    /// A fixed size.
    #[prost(int64, optional, tag = "1")]
    pub dim_value: Option<i64>,
    /// A symbolic size (the batch, `N`).
    #[prost(string, optional, tag = "2")]
    pub dim_param: Option<String>,
}

/// `TensorProto.DataType` FLOAT.
pub(crate) const FLOAT: i32 = 1;
/// `TensorProto.DataType` INT64.
pub(crate) const INT64: i32 = 7;
/// The opset the graph uses (Gemm, Conv, pooling, BatchNormalization, Softmax with
/// `axis` over the last dimension all as in opset 13).
pub const OPSET: i64 = 13;

fn ints(name: &str, v: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.iter().map(|&x| x as i64).collect(),
        r#type: 7,
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: v,
        r#type: 2,
        ..Default::default()
    }
}

fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f: v,
        r#type: 1,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| match d {
                            Some(v) => Dimension {
                                dim_value: Some(*v as i64),
                                dim_param: None,
                            },
                            None => Dimension {
                                dim_value: None,
                                dim_param: Some("N".into()),
                            },
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// Builds the graph node by node, naming each value after the node that makes it.
struct Builder {
    nodes: Vec<NodeProto>,
    weights: Vec<TensorProto>,
    current: String,
    count: usize,
}

impl Builder {
    fn op(&mut self, op: &str, extra_inputs: &[String], attrs: Vec<AttributeProto>) {
        self.count += 1;
        let out = format!("{}_{}", op.to_lowercase(), self.count);
        let mut input = vec![self.current.clone()];
        input.extend_from_slice(extra_inputs);
        self.nodes.push(NodeProto {
            input,
            output: vec![out.clone()],
            name: out.clone(),
            op_type: op.into(),
            attribute: attrs,
        });
        self.current = out;
    }

    fn weight(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        self.weights.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            name: name.into(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.into()
    }

    fn int64s(&mut self, name: &str, values: &[i64]) -> String {
        self.weights.push(TensorProto {
            dims: vec![values.len() as i64],
            data_type: INT64,
            name: name.into(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.into()
    }

    fn activation(&mut self, a: Activation) {
        match a {
            Activation::Linear => {}
            Activation::Relu => self.op("Relu", &[], vec![]),
            Activation::Sigmoid => self.op("Sigmoid", &[], vec![]),
            Activation::Tanh => self.op("Tanh", &[], vec![]),
            Activation::Softmax => self.op("Softmax", &[], vec![int("axis", -1)]),
        }
    }
}

/// Where the values are: flat rows, images channels-last (scrawl's), or channels-first
/// (inside a run of ONNX image operators).
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Flat,
    Nhwc,
    Nchw,
}

/// The pads ONNX wants (`[top, left, bottom, right]`) for Keras's padding rule.
fn pads(h: usize, w: usize, window: Size2, strides: Size2, padding: Padding) -> Result<Vec<usize>> {
    let mut begin = [0usize; 2];
    let mut end = [0usize; 2];
    for (k, input) in [h, w].into_iter().enumerate() {
        let axis = Axis::new(input, window.0[k], strides.0[k], padding.along(k))
            .ok_or_else(|| Error::config("a window larger than its input"))?;
        begin[k] = axis.pad;
        end[k] = axis.pad_after();
    }
    Ok(vec![begin[0], begin[1], end[0], end[1]])
}

/// Builds the ONNX model of `model`.
pub fn to_onnx(model: &Sequential) -> Result<ModelProto> {
    let params: HashMap<String, (Vec<usize>, Vec<f32>)> = model
        .named_params()
        .into_iter()
        .map(|(n, p)| (n, (p.shape.clone(), p.value.clone())))
        .collect();
    let get = |name: &str| {
        params
            .get(name)
            .cloned()
            .ok_or_else(|| Error::config(format!("the model has no parameter {name}")))
    };
    let input_shape = model.config().input_shape.clone();
    let mut layout = if input_shape.len() == 3 {
        Layout::Nhwc
    } else {
        Layout::Flat
    };
    let mut b = Builder {
        nodes: Vec::new(),
        weights: Vec::new(),
        current: "input".into(),
        count: 0,
    };
    let mut shape = input_shape.clone(); // scrawl's shape of the current value (no batch)
    for (layer, cfg) in model.layers().iter().zip(&model.config().layers) {
        let name = layer.name().to_string();
        let to_nchw = |b: &mut Builder, layout: &mut Layout| {
            if *layout == Layout::Nhwc {
                b.op("Transpose", &[], vec![ints("perm", &[0, 3, 1, 2])]);
                *layout = Layout::Nchw;
            }
        };
        match cfg {
            LayerConfig::Dense {
                activation,
                use_bias,
                ..
            } => {
                if layout != Layout::Flat {
                    return Err(Error::config(format!(
                        "{name}: a Dense layer on images (add Flatten before it) cannot be exported"
                    )));
                }
                let (kshape, kernel) = get(&format!("{name}/kernel"))?;
                let k = b.weight(&format!("{name}/kernel"), &kshape, &kernel);
                if *use_bias {
                    let (bshape, bias) = get(&format!("{name}/bias"))?;
                    let bias_name = b.weight(&format!("{name}/bias"), &bshape, &bias);
                    b.op("Gemm", &[k, bias_name], vec![]);
                } else {
                    b.op("MatMul", &[k], vec![]);
                }
                b.activation(*activation);
            }
            LayerConfig::Activation { activation } => {
                if *activation == Activation::Softmax && layout != Layout::Flat {
                    return Err(Error::config(format!(
                        "{name}: softmax over images cannot be exported"
                    )));
                }
                b.activation(*activation);
            }
            LayerConfig::Dropout { .. } => {} // the identity at inference
            LayerConfig::Rescaling { scale, offset } => {
                let s = b.weight(&format!("{name}/scale"), &[], &[*scale]);
                b.op("Mul", &[s], vec![]);
                let o = b.weight(&format!("{name}/offset"), &[], &[*offset]);
                b.op("Add", &[o], vec![]);
            }
            LayerConfig::Flatten => {
                if layout == Layout::Nchw {
                    b.op("Transpose", &[], vec![ints("perm", &[0, 2, 3, 1])]);
                }
                if layout != Layout::Flat {
                    b.op("Flatten", &[], vec![int("axis", 1)]);
                }
                layout = Layout::Flat;
            }
            LayerConfig::Conv2D {
                kernel_size,
                strides,
                padding,
                activation,
                use_bias,
                ..
            } => {
                to_nchw(&mut b, &mut layout);
                let (kshape, kernel) = get(&format!("{name}/kernel"))?;
                let [kh, kw, cin, cout] = kshape[..] else {
                    return Err(Error::Shape(format!("{name}/kernel is not 4-D")));
                };
                let oihw = crate::interop::layout::hwio_to_oihw(&kernel, [kh, kw, cin, cout]);
                let mut inputs =
                    vec![b.weight(&format!("{name}/kernel"), &[cout, cin, kh, kw], &oihw)];
                if *use_bias {
                    let (bshape, bias) = get(&format!("{name}/bias"))?;
                    inputs.push(b.weight(&format!("{name}/bias"), &bshape, &bias));
                }
                let p = pads(shape[0], shape[1], *kernel_size, *strides, *padding)?;
                b.op(
                    "Conv",
                    &inputs,
                    vec![
                        ints("kernel_shape", &kernel_size.0),
                        ints("strides", &strides.0),
                        ints("pads", &p),
                    ],
                );
                b.activation(*activation);
            }
            LayerConfig::MaxPooling2D {
                pool_size,
                strides,
                padding,
            }
            | LayerConfig::AveragePooling2D {
                pool_size,
                strides,
                padding,
            } => {
                to_nchw(&mut b, &mut layout);
                let strides = strides.unwrap_or(*pool_size);
                let p = pads(shape[0], shape[1], *pool_size, strides, *padding)?;
                let mut attrs = vec![
                    ints("kernel_shape", &pool_size.0),
                    ints("strides", &strides.0),
                    ints("pads", &p),
                ];
                let op = if matches!(cfg, LayerConfig::MaxPooling2D { .. }) {
                    "MaxPool"
                } else {
                    attrs.push(int("count_include_pad", 0));
                    "AveragePool"
                };
                b.op(op, &[], attrs);
            }
            LayerConfig::ZeroPadding2D { padding } => {
                to_nchw(&mut b, &mut layout);
                let [[top, bottom], [left, right]] = padding.0.map(|p| p.map(|v| v as i64));
                let pads = b.int64s(
                    &format!("{name}/pads"),
                    &[0, 0, top, left, 0, 0, bottom, right],
                );
                b.op("Pad", &[pads], vec![]);
            }
            LayerConfig::GlobalAveragePooling2D => {
                to_nchw(&mut b, &mut layout);
                b.op("GlobalAveragePool", &[], vec![]);
                b.op("Flatten", &[], vec![int("axis", 1)]);
                layout = Layout::Flat;
            }
            LayerConfig::BatchNormalization { epsilon, .. } => {
                to_nchw(&mut b, &mut layout);
                let mut inputs = Vec::new();
                for p in ["gamma", "beta", "moving_mean", "moving_variance"] {
                    let (s, v) = get(&format!("{name}/{p}"))?;
                    inputs.push(b.weight(&format!("{name}/{p}"), &s, &v));
                }
                b.op(
                    "BatchNormalization",
                    &inputs,
                    vec![float("epsilon", *epsilon)],
                );
            }
        }
        shape = layer.output_shape().to_vec();
    }
    if layout != Layout::Flat {
        return Err(Error::config("the model does not end in flat class scores"));
    }
    // A model that emits logits reports probabilities, in ONNX as in scrawl.
    if model.output_kind() == crate::model::Output::Logits {
        b.activation(Activation::Softmax);
    }
    // Name the last value `probabilities` with an Identity.
    b.nodes.push(NodeProto {
        input: vec![b.current.clone()],
        output: vec!["probabilities".into()],
        name: "probabilities".into(),
        op_type: "Identity".into(),
        attribute: vec![],
    });
    let mut in_dims = vec![None];
    in_dims.extend(input_shape.iter().map(|&d| Some(d)));
    Ok(ModelProto {
        ir_version: 8,
        producer_name: "scrawl".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(GraphProto {
            node: b.nodes,
            name: model.config().name.clone(),
            initializer: b.weights,
            input: vec![value_info("input", &in_dims)],
            output: vec![value_info("probabilities", &[None, Some(model.classes())])],
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
    })
}

/// Writes `model` as an ONNX file at `path` (atomically).
pub fn export_onnx(model: &Sequential, path: &Path) -> Result<()> {
    write_atomic(path, &to_onnx(model)?.encode_to_vec())
}
