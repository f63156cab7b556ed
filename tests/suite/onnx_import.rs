//! ONNX import: scrawl -> ONNX -> scrawl gives the same predictions; graphs laid out
//! as `torch.onnx.export` writes them (NCHW input, `Conv` with pads, `Flatten` in
//! C,H,W order, `Gemm` with `transB`, or `MatMul` + `Add` and a `Reshape`, a final
//! `LogSoftmax`) import and predict what a direct f64 forward pass of the same
//! weights does; broken graphs are refused naming the node or tensor.

use crate::common;
use crate::dlfs_convnets::{Map, affine, conv_relu, image, pool, softmax, weights};

use scrawl::interop::onnx::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto, from_onnx, to_onnx,
};
use scrawl::model::Sequential;

fn predictions(model: &Sequential, n: usize) -> Vec<f32> {
    let data = if model.config().input_shape.len() == 1 {
        let mut d = common::mnist().test.take(n);
        d.image_shape = [784, 1, 1];
        d
    } else {
        common::mnist().test.take(n)
    };
    model.predict(&data, n).unwrap()
}

#[test]
fn scrawl_to_onnx_to_scrawl_predicts_the_same() {
    for arch in [
        "mlp-512",
        "Flatten Dense(64,relu) Dropout(0.3) Dense(10,softmax)",
        "Conv2D(8,3,relu,padding=same) BatchNormalization MaxPooling2D ZeroPadding2D(1) Conv2D(8,3,tanh) AveragePooling2D Flatten Dense(32,sigmoid) Dense(10,softmax)",
        "Conv2D(6,5,relu,padding=2) Conv2D(6,3,strides=2) Activation(relu) GlobalAveragePooling2D Dense(10)",
        "cnn",
        "speedrun",
    ] {
        let model = Sequential::new(scrawl::presets::preset(arch).unwrap(), 3).unwrap();
        let back = from_onnx(&to_onnx(&model).unwrap()).unwrap();
        assert_eq!(back.param_count(), model.param_count(), "{arch}");
        let (a, b) = (predictions(&model, 30), predictions(&back, 30));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst <= 1e-6, "{arch}: predictions differ by {worst}");
    }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: 7,
        ..Default::default()
    }
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: v,
        r#type: 2,
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: format!("/{op}_{output}"),
        op_type: op.into(),
        attribute,
    }
}

fn floats(name: &str, dims: &[usize], v: &[f64]) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: 1,
        name: name.into(),
        // torch writes raw_data; the typed field is read too.
        float_data: v.iter().map(|&x| x as f32).collect(),
        ..Default::default()
    }
}

fn value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            dim_value: *d,
                            dim_param: d.is_none().then(|| "batch".into()),
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

fn model_of(nodes: Vec<NodeProto>, initializer: Vec<TensorProto>, output: &str) -> ModelProto {
    ModelProto {
        ir_version: 8,
        producer_name: "pytorch".into(),
        producer_version: "2.5".into(),
        graph: Some(GraphProto {
            node: nodes,
            name: "main_graph".into(),
            initializer,
            input: vec![value("input.1", &[None, Some(1), Some(28), Some(28)])],
            output: vec![value(output, &[None, Some(10)])],
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
    }
}

/// PyTorch's view of the tutorial-style CNN: Conv(1->4, 3x3, padding=1) ReLU
/// MaxPool(2) Conv(4->6, 3x3) ReLU MaxPool(2) Flatten Linear(216, 16) ReLU Linear(16, 10)
/// LogSoftmax; weights in PyTorch's layouts (`Linear.weight` is `[out, in]`).
struct Torch {
    c1: Vec<f64>,
    b1: Vec<f64>,
    c2: Vec<f64>,
    b2: Vec<f64>,
    l1: Vec<f64>,
    lb1: Vec<f64>,
    l2: Vec<f64>,
    lb2: Vec<f64>,
}

impl Torch {
    fn new() -> Torch {
        Torch {
            c1: weights(&[4, 1, 3, 3], 0.5, 41),
            b1: weights(&[4], 0.1, 42),
            c2: weights(&[6, 4, 3, 3], 0.3, 43),
            b2: weights(&[6], 0.1, 44),
            l1: weights(&[16, 216], 0.12, 45),
            lb1: weights(&[16], 0.1, 46),
            l2: weights(&[10, 16], 0.4, 47),
            lb2: weights(&[10], 0.1, 48),
        }
    }

    /// The forward pass as PyTorch computes it, in f64, NCHW.
    fn forward(&self, x: &Map) -> Vec<f64> {
        let h = pool(&conv_relu(x, &self.c1, &self.b1, [4, 3], 1));
        let h = pool(&conv_relu(&h, &self.c2, &self.b2, [6, 3], 0));
        assert_eq!((h.c, h.h, h.w), (6, 6, 6));
        let t = |w: &[f64], rows: usize, cols: usize| -> Vec<f64> {
            // [out, in] -> [in, out] for `affine`.
            let mut o = vec![0.0; w.len()];
            for r in 0..rows {
                for c in 0..cols {
                    o[c * rows + r] = w[r * cols + c];
                }
            }
            o
        };
        let a: Vec<f64> = affine(&h.v, &t(&self.l1, 16, 216), &self.lb1)
            .iter()
            .map(|v| v.max(0.0))
            .collect();
        softmax(&affine(&a, &t(&self.l2, 10, 16), &self.lb2))
    }

    /// The graph `torch.onnx.export` writes: Gemm with transB, or (`matmul`) MatMul +
    /// Add of a pre-transposed weight after a Reshape by a Constant shape.
    fn onnx(&self, matmul: bool) -> ModelProto {
        let mut nodes = vec![
            node(
                "Conv",
                &["input.1", "conv1.weight", "conv1.bias"],
                "c1",
                vec![
                    attr_ints("kernel_shape", &[3, 3]),
                    attr_ints("pads", &[1, 1, 1, 1]),
                    attr_ints("strides", &[1, 1]),
                    attr_ints("dilations", &[1, 1]),
                    attr_int("group", 1),
                ],
            ),
            node("Relu", &["c1"], "r1", vec![]),
            node(
                "MaxPool",
                &["r1"],
                "p1",
                vec![
                    attr_ints("kernel_shape", &[2, 2]),
                    attr_ints("strides", &[2, 2]),
                    attr_ints("pads", &[0, 0, 0, 0]),
                    attr_int("ceil_mode", 0),
                ],
            ),
            node(
                "Conv",
                &["p1", "conv2.weight", "conv2.bias"],
                "c2",
                vec![
                    attr_ints("kernel_shape", &[3, 3]),
                    attr_ints("strides", &[1, 1]),
                ],
            ),
            node("Relu", &["c2"], "r2", vec![]),
            node(
                "MaxPool",
                &["r2"],
                "p2",
                vec![
                    attr_ints("kernel_shape", &[2, 2]),
                    attr_ints("strides", &[2, 2]),
                ],
            ),
        ];
        let mut init = vec![
            floats("conv1.weight", &[4, 1, 3, 3], &self.c1),
            floats("conv1.bias", &[4], &self.b1),
            floats("conv2.weight", &[6, 4, 3, 3], &self.c2),
            floats("conv2.bias", &[6], &self.b2),
        ];
        if matmul {
            let shape = TensorProto {
                dims: vec![2],
                data_type: 7,
                name: "shape".into(),
                int64_data: vec![-1, 216],
                ..Default::default()
            };
            nodes.push(NodeProto {
                input: vec![],
                output: vec!["shape_const".into()],
                name: "/Constant".into(),
                op_type: "Constant".into(),
                attribute: vec![AttributeProto {
                    name: "value".into(),
                    t: Some(shape),
                    r#type: 4,
                    ..Default::default()
                }],
            });
            nodes.push(node("Reshape", &["p2", "shape_const"], "flat", vec![]));
            let t = |w: &[f64], rows: usize, cols: usize| -> Vec<f64> {
                let mut o = vec![0.0; w.len()];
                for r in 0..rows {
                    for c in 0..cols {
                        o[c * rows + r] = w[r * cols + c];
                    }
                }
                o
            };
            init.push(floats("fc1.wt", &[216, 16], &t(&self.l1, 16, 216)));
            init.push(floats("fc1.bias", &[16], &self.lb1));
            init.push(floats("fc2.wt", &[16, 10], &t(&self.l2, 10, 16)));
            init.push(floats("fc2.bias", &[10], &self.lb2));
            nodes.push(node("MatMul", &["flat", "fc1.wt"], "m1", vec![]));
            nodes.push(node("Add", &["m1", "fc1.bias"], "a1", vec![]));
            nodes.push(node("Relu", &["a1"], "r3", vec![]));
            nodes.push(node("Dropout", &["r3"], "d3", vec![]));
            nodes.push(node("MatMul", &["d3", "fc2.wt"], "m2", vec![]));
            nodes.push(node("Add", &["m2", "fc2.bias"], "logits", vec![]));
        } else {
            nodes.push(node("Flatten", &["p2"], "flat", vec![attr_int("axis", 1)]));
            init.push(floats("fc1.weight", &[16, 216], &self.l1));
            init.push(floats("fc1.bias", &[16], &self.lb1));
            init.push(floats("fc2.weight", &[10, 16], &self.l2));
            init.push(floats("fc2.bias", &[10], &self.lb2));
            nodes.push(node(
                "Gemm",
                &["flat", "fc1.weight", "fc1.bias"],
                "g1",
                vec![attr_int("transB", 1)],
            ));
            nodes.push(node("Relu", &["g1"], "r3", vec![]));
            nodes.push(node(
                "Gemm",
                &["r3", "fc2.weight", "fc2.bias"],
                "logits",
                vec![attr_int("transB", 1)],
            ));
        }
        nodes.push(node(
            "LogSoftmax",
            &["logits"],
            "out",
            vec![attr_int("axis", 1)],
        ));
        model_of(nodes, init, "out")
    }
}

#[test]
fn pytorch_shaped_graphs_predict_what_the_network_computes() {
    let torch = Torch::new();
    let test = common::mnist().test.take(40);
    for (matmul, same) in [(false, false), (true, false), (false, true)] {
        let mut graph_of = torch.onnx(matmul);
        if same {
            // padding="same", as PyTorch writes it: auto_pad SAME_UPPER, no pads.
            let conv = &mut graph(&mut graph_of).node[0];
            conv.attribute.retain(|a| a.name != "pads");
            conv.attribute.push(AttributeProto {
                name: "auto_pad".into(),
                s: b"SAME_UPPER".to_vec(),
                r#type: 3,
                ..Default::default()
            });
        }
        let model = from_onnx(&graph_of).unwrap();
        let ours = model.predict(&test, 40).unwrap();
        for (i, row) in ours.chunks_exact(10).enumerate() {
            let theirs = torch.forward(&image(test.image(i)));
            for (a, b) in row.iter().zip(&theirs) {
                assert!(
                    (*a as f64 - b).abs() < 1e-5,
                    "matmul={matmul} image {i}: {row:?} vs {theirs:?}"
                );
            }
        }
    }
}

fn graph(m: &mut ModelProto) -> &mut GraphProto {
    m.graph.as_mut().unwrap()
}

#[test]
fn broken_graphs_are_refused_naming_the_node_or_tensor() {
    let torch = Torch::new();
    let refused = |edit: &dyn Fn(&mut ModelProto), says: &[&str]| {
        let mut m = torch.onnx(false);
        edit(&mut m);
        let e = from_onnx(&m)
            .map(|_| ())
            .expect_err(&format!("{says:?} not refused"))
            .to_string();
        for s in says {
            assert!(e.contains(s), "expected '{s}' in: {e}");
        }
    };
    refused(
        &|m| graph(m).node[1].op_type = "Elu".into(),
        &["/Relu_r1", "Elu is not among the operators"],
    );
    refused(
        &|m| graph(m).initializer.retain(|t| t.name != "conv2.bias"),
        &[
            "conv2.bias",
            "neither the previous node's output nor a weight",
        ],
    );
    refused(
        &|m| graph(m).node[3].input[0] = "c1".into(),
        &["/Conv_c2", "reads c1 instead of p1", "chain"],
    );
    refused(
        &|m| {
            let t = graph(m)
                .initializer
                .iter_mut()
                .find(|t| t.name == "fc1.weight")
                .unwrap();
            t.dims = vec![16, 100];
            t.float_data.truncate(1600);
        },
        &["/Gemm_g1", "100 inputs for 216 values"],
    );
    refused(
        &|m| {
            graph(m).node[0].attribute[3] = attr_ints("dilations", &[2, 2]);
        },
        &["/Conv_c1", "dilated"],
    );
    refused(
        &|m| graph(m).input[0] = value("input.1", &[None, Some(3), Some(28), Some(28)]),
        &["input.1", "[N, 1, H, W]"],
    );
}

#[test]
fn import_onnx_command_writes_a_model_that_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    let onnx = tmp.path().join("torch.onnx");
    use prost::Message;
    std::fs::write(&onnx, Torch::new().onnx(false).encode_to_vec()).unwrap();
    let out = tmp.path().join("m.safetensors");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_scrawl"))
        .args(["import", "onnx"])
        .arg(&onnx)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("conv2d (Conv2D)") && text.contains("Total params: 3,904"),
        "{text}"
    );
    let model = Sequential::load(&out).unwrap();
    assert_eq!(model.classes(), 10);
    // Not an ONNX file: a clear error naming it.
    std::fs::write(&onnx, b"not a protobuf at all \xff\xff").unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_scrawl"))
        .args(["import", "onnx"])
        .arg(&onnx)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("torch.onnx") && e.contains("not an ONNX model"),
        "{e}"
    );
}

/// Files `torch.onnx.export` wrote (scripts/torch_onnx.py fixtures, PyTorch 2.15): an
/// MLP and a CNN (BatchNorm folded into its conv by the exporter, padding (1, 2),
/// sigmoid, average pooling, tanh, LogSoftmax) import and give PyTorch's probabilities
/// on the first 8 test images to 1e-5.
#[test]
fn files_pytorch_wrote_predict_what_pytorch_predicted() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/torch");
    let test = common::mnist().test.take(8);
    for name in ["mlp", "cnn"] {
        let model = scrawl::interop::onnx::import_onnx(&dir.join(format!("{name}.onnx"))).unwrap();
        let text = std::fs::read_to_string(dir.join(format!("{name}.predictions.json"))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let theirs: Vec<Vec<f64>> = serde_json::from_value(v["probabilities"].clone()).unwrap();
        let ours = model.predict(&test, 8).unwrap();
        for (i, (row, want)) in ours.chunks_exact(10).zip(&theirs).enumerate() {
            for (a, b) in row.iter().zip(want) {
                assert!(
                    (*a as f64 - b).abs() < 1e-5,
                    "{name} image {i}: {row:?} vs PyTorch {want:?}"
                );
            }
        }
    }
}
