//! The networks of "Deep Learning from Scratch", as the book's code pickles them: a
//! dict of NumPy arrays `W1 b1 W2 b2 ...` (`pickle.dump(network.params)`), inputs
//! scaled by 1/255. Which network a file holds is read from its arrays:
//!
//! - chapter 3's `sample_weight.pkl`: `W1..W3` matrices, a sigmoid MLP with a softmax
//!   output. Its kernels are stored `inputs × units`, exactly scrawl's Dense layout.
//! - chapter 7's `SimpleConvNet`: `W1` a `[FN, 1, FH, FW]` kernel, conv (stride 1,
//!   pad 0) → ReLU → 2×2 max pool → Affine `W2` → ReLU → Affine `W3`.
//! - chapter 8's `DeepConvNet`: `W1..W6` 3×3 kernels (pads 1, 1, 1, 2, 1, 1), each
//!   followed by ReLU, a 2×2 max pool after every second, Affine `W7` → ReLU →
//!   Dropout(0.5) → Affine `W8` → Dropout(0.5).
//!
//! Converted on the way in:
//! - kernels from NCHW `[FN, C, FH, FW]` to Keras's `[FH, FW, C, FN]`;
//! - the first Affine after the convolutions, whose rows the book's `reshape` orders
//!   C,H,W, to scrawl's H,W,C flatten order;
//! - the book's Dropout scales by 0.5 at test time instead of by 2 in training
//!   (`x * (1 - ratio)`), so DeepConvNet's two test-time scalings are folded into
//!   `W8` and `b8` (`W8 × 0.25`, `b8 × 0.5`), and the imported model has no Dropout
//!   layers: its predictions are the book's `predict` followed by a softmax.

use std::path::Path;

use super::pickle::{self, NdArray, Value};
use crate::error::{Error, Result};
use crate::model::{ModelConfig, Sequential};

/// The largest pickle read (512 MiB; the book's network is 0.7 MB).
pub const MAX_PICKLE_BYTES: u64 = 512 << 20;

/// The book's images: 28 × 28, one channel.
const SIDE: usize = 28;

/// DeepConvNet's paddings, conv by conv (`deep_convnet.py`).
const DEEP_PADS: [usize; 6] = [1, 1, 1, 2, 1, 1];

/// What the file's arrays say it is.
const KNOWN: &str = "scrawl reads the book's three networks: chapter 3's MLP (W1-W3 matrices), chapter 7's SimpleConvNet (W1 a [FN, 1, FH, FW] kernel, W2 and W3 matrices) and chapter 8's DeepConvNet (W1-W6 kernels, W7 and W8 matrices)";

/// Reads one of the book's pickled networks into a model.
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
            format!("expected a dict of arrays W1 b1 W2 b2 ... at the top; {KNOWN}"),
        ));
    }
    let book = Book { root: &root, path };
    let kernels = (1..)
        .take_while(|i| book.has(&format!("W{i}")))
        .map(|i| Ok(book.array(&format!("W{i}"))?.shape.len()))
        .collect::<Result<Vec<usize>>>()?;
    if kernels.is_empty() {
        return Err(Error::format(path, format!("no W1; {KNOWN}")));
    }
    let network = match kernels[..] {
        [2, 2, 2] => book.mlp(),
        [4, 2, 2] => book.simple_convnet(),
        [4, 4, 4, 4, 4, 4, 2, 2] => book.deep_convnet(),
        _ => Err(Error::format(
            path,
            format!(
                "arrays W1..W{} of ranks {kernels:?} are none of the book's networks; {KNOWN}",
                kernels.len()
            ),
        )),
    }?;
    network.build(path)
}

/// The pickled dict, and where it came from for messages.
struct Book<'a> {
    root: &'a Value,
    path: &'a Path,
}

/// A network to build: its layers as scrawl's JSON config, and each parameter's
/// values in the order the model lists them (kernel, then bias, layer by layer).
struct Network {
    name: &'static str,
    input_shape: Vec<usize>,
    layers: Vec<serde_json::Value>,
    params: Vec<Vec<f32>>,
}

impl Book<'_> {
    fn has(&self, name: &str) -> bool {
        self.root.get(name).is_some()
    }

    fn fail(&self, msg: String) -> Error {
        Error::format(self.path, msg)
    }

    fn array(&self, name: &str) -> Result<&NdArray> {
        match self.root.get(name) {
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(self.fail(format!("{name} is not a NumPy array"))),
            None => Err(self.fail(format!("no {name}; {KNOWN}"))),
        }
    }

    /// `b{i}`, checked to hold one value per unit.
    fn bias(&self, i: usize, units: usize) -> Result<Vec<f32>> {
        let b = self.array(&format!("b{i}"))?;
        if b.shape != [units] {
            return Err(self.fail(format!(
                "b{i} has shape {:?} but W{i} has {units} outputs",
                b.shape
            )));
        }
        Ok(b.values.iter().map(|&v| v as f32).collect())
    }

    /// `W{i}` as a matrix of `rows` rows (0: any), with its column count.
    fn matrix(&self, i: usize, rows: usize) -> Result<(&NdArray, usize)> {
        let w = self.array(&format!("W{i}"))?;
        let [r, c] = w.shape[..] else {
            return Err(self.fail(format!("W{i} is not a matrix: shape {:?}", w.shape)));
        };
        if rows != 0 && r != rows {
            return Err(self.fail(format!(
                "W{i} has {r} rows but the layer before it gives {rows} values"
            )));
        }
        Ok((w, c))
    }

    /// `W{i}` as an NCHW kernel on `channels` channels: its filters and square size,
    /// and its values in Keras's `[FH, FW, C, FN]` layout.
    fn kernel(&self, i: usize, channels: usize) -> Result<(usize, usize, Vec<f32>)> {
        let w = self.array(&format!("W{i}"))?;
        let [n, c, fh, fw] = w.shape[..] else {
            return Err(self.fail(format!("W{i} is not a kernel: shape {:?}", w.shape)));
        };
        if c != channels || fh != fw || fh == 0 || fh > SIDE {
            return Err(self.fail(format!(
                "W{i} has shape {:?}; expected [filters, {channels}, k, k] (NCHW, a square kernel)",
                w.shape
            )));
        }
        let values: Vec<f32> = w.values.iter().map(|&v| v as f32).collect();
        let hwio = super::layout::oihw_to_hwio(&values, [n, c, fh, fw]);
        Ok((n, fh, hwio))
    }

    /// `W{i}`, the Affine after the convolutions, its rows reordered from the book's
    /// C,H,W flatten order to scrawl's H,W,C one.
    fn affine_after_convs(&self, i: usize, [h, w, c]: [usize; 3]) -> Result<(usize, Vec<f32>)> {
        let (m, units) = self.matrix(i, h * w * c)?;
        let values: Vec<f32> = m.values.iter().map(|&v| v as f32).collect();
        let out = super::layout::chw_rows_to_hwc(&values, [c, h, w], units);
        Ok((units, out))
    }

    fn mlp(&self) -> Result<Network> {
        // Layer sizes come from the file, so any sigmoid MLP saved this way imports.
        let inputs = self.array("W1")?.shape[0];
        let mut layers = Vec::new();
        let mut params = Vec::new();
        let mut rows = inputs;
        for i in 1..=3 {
            let (w, units) = self.matrix(i, rows)?;
            params.push(w.values.iter().map(|&v| v as f32).collect());
            params.push(self.bias(i, units)?);
            let act = if i == 3 { "softmax" } else { "sigmoid" };
            layers.push(serde_json::json!({"type": "Dense", "units": units, "activation": act}));
            rows = units;
        }
        Ok(Network {
            name: "dlfs-sample-weight",
            input_shape: vec![inputs],
            layers,
            params,
        })
    }

    fn simple_convnet(&self) -> Result<Network> {
        let (filters, k, kernel) = self.kernel(1, 1)?;
        let side = SIDE - k + 1;
        let pooled = side / 2;
        let mut params = vec![kernel, self.bias(1, filters)?];
        let (hidden, w2) = self.affine_after_convs(2, [pooled, pooled, filters])?;
        params.extend([w2, self.bias(2, hidden)?]);
        let (w3, classes) = self.matrix(3, hidden)?;
        params.extend([
            w3.values.iter().map(|&v| v as f32).collect(),
            self.bias(3, classes)?,
        ]);
        Ok(Network {
            name: "dlfs-simple-convnet",
            input_shape: vec![SIDE, SIDE, 1],
            layers: vec![
                conv(filters, k, 0),
                serde_json::json!({"type": "MaxPooling2D"}),
                serde_json::json!({"type": "Flatten"}),
                serde_json::json!({"type": "Dense", "units": hidden, "activation": "relu"}),
                serde_json::json!({"type": "Dense", "units": classes, "activation": "softmax"}),
            ],
            params,
        })
    }

    fn deep_convnet(&self) -> Result<Network> {
        let mut layers = Vec::new();
        let mut params = Vec::new();
        let (mut side, mut channels) = (SIDE, 1);
        for (i, pad) in (1..=6).zip(DEEP_PADS) {
            let (filters, k, kernel) = self.kernel(i, channels)?;
            if side + 2 * pad < k {
                return Err(self.fail(format!("W{i}'s {k}x{k} kernel is larger than its input")));
            }
            side = side + 2 * pad - k + 1;
            channels = filters;
            layers.push(conv(filters, k, pad));
            params.extend([kernel, self.bias(i, filters)?]);
            if i % 2 == 0 {
                layers.push(serde_json::json!({"type": "MaxPooling2D"}));
                side /= 2;
            }
        }
        let (hidden, w7) = self.affine_after_convs(7, [side, side, channels])?;
        params.extend([w7, self.bias(7, hidden)?]);
        let (w8, classes) = self.matrix(8, hidden)?;
        // The two test-time dropouts: relu(a7) × 0.5 into W8, then the logits × 0.5.
        params.push(w8.values.iter().map(|&v| (v * 0.25) as f32).collect());
        params.push(self.bias(8, classes)?.iter().map(|&v| v * 0.5).collect());
        layers.extend([
            serde_json::json!({"type": "Flatten"}),
            serde_json::json!({"type": "Dense", "units": hidden, "activation": "relu"}),
            serde_json::json!({"type": "Dense", "units": classes, "activation": "softmax"}),
        ]);
        Ok(Network {
            name: "dlfs-deep-convnet",
            input_shape: vec![SIDE, SIDE, 1],
            layers,
            params,
        })
    }
}

/// A ReLU convolution of stride 1 padded by `pad` cells on every side.
fn conv(filters: usize, k: usize, pad: usize) -> serde_json::Value {
    serde_json::json!({
        "type": "Conv2D",
        "filters": filters,
        "kernel_size": k,
        "padding": if pad == 0 { serde_json::json!("valid") } else { serde_json::json!(pad) },
        "activation": "relu",
    })
}

impl Network {
    fn build(self, path: &Path) -> Result<Sequential> {
        let config: ModelConfig = serde_json::from_value(serde_json::json!({
            "name": self.name,
            "input_shape": self.input_shape,
            "layers": self.layers,
        }))
        .map_err(|e| Error::config(format!("building the book's network: {e}")))?;
        let mut model =
            Sequential::new(config, 0).map_err(|e| Error::format(path, e.to_string()))?;
        let mut problem = None;
        let mut given = self.params.into_iter();
        model.for_each_param_mut(|name, p| match given.next() {
            Some(v) if v.len() == p.value.len() => p.value.copy_from_slice(&v),
            _ => problem = Some(format!("{name} does not fit the arrays of the file")),
        });
        if let Some(msg) = problem {
            return Err(Error::format(path, msg));
        }
        model
            .check_finite()
            .map_err(|e| Error::format(path, e.to_string()))?;
        Ok(model)
    }
}
