//! The model file: one safetensors file holding every parameter (named
//! `layer/param`, e.g. `dense/kernel`, in Keras's layouts) and, in its metadata, the
//! architecture as JSON. Any safetensors reader (Python's `safetensors`, PyTorch,
//! candle) can open it.
//!
//! Files are written atomically: to a temporary file beside the target, flushed to
//! disk, then renamed over it, so a crash mid-save leaves the previous file whole.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::{ModelConfig, Sequential};
use crate::error::{Error, Result};

/// The largest model file read: the largest model scrawl builds has 2^26 weights
/// (256 MiB), and the metadata is small.
pub const MAX_MODEL_FILE_BYTES: u64 = 512 << 20;

/// Metadata key holding the format name.
const FORMAT_KEY: &str = "format";
/// The value of [`FORMAT_KEY`] in scrawl model files.
const FORMAT: &str = "scrawl-model";
/// Metadata key holding the architecture JSON.
const CONFIG_KEY: &str = "config";
/// Metadata key holding free-form JSON facts about the model (accuracy, training).
const INFO_KEY: &str = "info";

impl Sequential {
    /// Serializes the model (architecture and weights) to safetensors bytes, with
    /// `info` (JSON facts such as the test accuracy) in the metadata.
    pub fn to_bytes(&self, info: &BTreeMap<String, serde_json::Value>) -> Result<Vec<u8>> {
        let params = self.named_params();
        let bytes: Vec<Vec<u8>> = params
            .iter()
            .map(|(_, p)| p.value.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let mut views = Vec::with_capacity(params.len());
        for ((name, p), b) in params.iter().zip(&bytes) {
            let view = TensorView::new(Dtype::F32, p.shape.clone(), b)
                .map_err(|e| Error::config(format!("tensor {name}: {e}")))?;
            views.push((name.clone(), view));
        }
        let mut meta = HashMap::new();
        meta.insert(FORMAT_KEY.to_string(), FORMAT.to_string());
        meta.insert(
            CONFIG_KEY.to_string(),
            serde_json::to_string(self.config()).expect("config serializes"),
        );
        meta.insert(
            INFO_KEY.to_string(),
            serde_json::to_string(info).expect("info serializes"),
        );
        safetensors::serialize(views, Some(meta))
            .map_err(|e| Error::config(format!("serializing the model: {e}")))
    }

    /// Saves the model to `path` atomically.
    ///
    /// ```
    /// use scrawl::model::Sequential;
    /// # fn main() -> scrawl::Result<()> {
    /// let model = Sequential::new(scrawl::presets::preset("cnn")?, 7)?;
    /// let dir = std::env::temp_dir().join(format!("scrawl-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("cnn.safetensors");
    /// model.save(&path)?;
    /// let back = Sequential::load(&path)?;
    /// assert_eq!(back.config(), model.config());
    /// assert_eq!(back.named_params()[0].1.value, model.named_params()[0].1.value);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok(()) }
    /// ```
    pub fn save(&self, path: &Path) -> Result<()> {
        self.save_with_info(path, &BTreeMap::new())
    }

    /// Saves the model with `info` in its metadata.
    pub fn save_with_info(
        &self,
        path: &Path,
        info: &BTreeMap<String, serde_json::Value>,
    ) -> Result<()> {
        crate::files::write_atomic(path, &self.to_bytes(info)?)
    }

    /// Loads a model saved by [`Sequential::save`].
    pub fn load(path: &Path) -> Result<Self> {
        Ok(Self::load_with_info(path)?.0)
    }

    /// Loads a model and the `info` saved with it.
    pub fn load_with_info(path: &Path) -> Result<(Self, BTreeMap<String, serde_json::Value>)> {
        let bytes = crate::files::read_limited(path, MAX_MODEL_FILE_BYTES, "a model file")?;
        Self::from_bytes(&bytes).map_err(|e| match e {
            Error::Format { msg, .. } => Error::format(path, msg),
            Error::Config(msg) | Error::Shape(msg) => Error::format(path, msg),
            other => other,
        })
    }

    /// Parses model bytes (see [`Sequential::to_bytes`]). Errors carry an empty path.
    pub fn from_bytes(bytes: &[u8]) -> Result<(Self, BTreeMap<String, serde_json::Value>)> {
        let bad = |msg: String| Error::format("", msg);
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| {
            bad(format!(
                "not a valid safetensors file: {}",
                explain(bytes, &e)
            ))
        })?;
        let meta = header.metadata().clone().unwrap_or_default();
        if meta.get(FORMAT_KEY).map(String::as_str) != Some(FORMAT) {
            return Err(bad(
                "a safetensors file, but not a scrawl model (no \"format\": \"scrawl-model\" in its metadata)".into(),
            ));
        }
        let config: ModelConfig =
            serde_json::from_str(meta.get(CONFIG_KEY).map_or("", String::as_str)).map_err(|e| {
                bad(format!(
                    "the architecture in the metadata is not valid: {e}"
                ))
            })?;
        let info = match meta.get(INFO_KEY) {
            Some(s) => serde_json::from_str(s)
                .map_err(|e| bad(format!("the info metadata is not valid JSON: {e}")))?,
            None => BTreeMap::new(),
        };
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("corrupt safetensors data: {}", explain(bytes, &e))))?;
        let mut model = Sequential::new(config, 0)
            .map_err(|e| bad(format!("the architecture is not valid: {e}")))?;
        let expected = read_params(&mut model, &tensors).map_err(bad)?;
        if tensors.len() != expected {
            return Err(bad(format!(
                "the file holds {} tensors but the architecture has {expected} parameters",
                tensors.len()
            )));
        }
        // Loaded for inference until compiled: no gradient buffers.
        model.release_gradients();
        Ok((model, info))
    }
}

/// The safetensors crate's error, made to name the tensor at fault where the crate
/// does not ("invalid shape, data type, or offset for tensor"): the header is read
/// again to find the first tensor whose bytes do not match its dtype and shape.
pub(crate) fn explain(bytes: &[u8], e: &safetensors::SafeTensorError) -> String {
    let culprit = || -> Option<String> {
        let n = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
        let header: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(bytes.get(8..8usize.checked_add(n)?)?).ok()?;
        header.iter().filter(|(k, _)| *k != "__metadata__").find_map(|(name, t)| {
            let dtype = t.get("dtype")?.as_str()?;
            let size: u64 = match dtype {
                "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
                "U16" | "I16" | "F16" | "BF16" => 2,
                "U32" | "I32" | "F32" => 4,
                "U64" | "I64" | "F64" => 8,
                _ => return Some(format!("tensor {name}: unknown dtype {dtype}")),
            };
            let shape: Vec<u64> =
                t.get("shape")?.as_array()?.iter().map(|d| d.as_u64()).collect::<Option<_>>()?;
            let offsets = t.get("data_offsets")?.as_array()?;
            let (start, end) = (offsets.first()?.as_u64()?, offsets.get(1)?.as_u64()?);
            let need = shape.iter().try_fold(size, |a, &d| a.checked_mul(d));
            match need {
                Some(need) if end.checked_sub(start) == Some(need) => None,
                Some(need) => Some(format!(
                    "tensor {name}: {dtype} of shape {shape:?} needs {need} bytes but its data_offsets [{start}, {end}] hold {}",
                    end as i128 - start as i128
                )),
                None => Some(format!("tensor {name}: shape {shape:?} overflows")),
            }
        })
    };
    match (e, culprit()) {
        (safetensors::SafeTensorError::TensorInvalidInfo, Some(why)) => why,
        _ => e.to_string(),
    }
}

/// Fills every parameter of `model` from the tensor of the same name, checking dtype
/// and shape. Returns the number of parameters filled.
pub(crate) fn read_params(
    model: &mut Sequential,
    tensors: &SafeTensors<'_>,
) -> std::result::Result<usize, String> {
    let mut problem: Option<String> = None;
    let mut count = 0usize;
    model.for_each_param_mut(|name, p| {
        count += 1;
        if problem.is_some() {
            return;
        }
        match tensors.tensor(name) {
            Err(_) => problem = Some(format!("tensor {name} is missing")),
            Ok(t) if t.dtype() != Dtype::F32 => {
                problem = Some(format!("tensor {name} is {:?}, expected F32", t.dtype()))
            }
            Ok(t) if t.shape() != p.shape.as_slice() => {
                problem = Some(format!(
                    "tensor {name} has shape {:?} but the architecture needs {:?}",
                    t.shape(),
                    p.shape
                ))
            }
            Ok(t) => {
                for (v, c) in p.value.iter_mut().zip(t.data().chunks_exact(4)) {
                    *v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
                if let Some(why) = non_finite(name, &p.value) {
                    problem = Some(why);
                }
            }
        }
    });
    match problem {
        Some(p) => Err(p),
        None => Ok(count),
    }
}

/// Why the weights of tensor `name` cannot be used, if one of them is NaN or
/// infinite: such a model predicts garbage (every class 0.1) without a word.
pub(crate) fn non_finite(name: &str, values: &[f32]) -> Option<String> {
    let i = values.iter().position(|v| !v.is_finite())?;
    let bad = values.iter().filter(|v| !v.is_finite()).count();
    Some(format!(
        "tensor {name} holds {bad} non-finite values (the first, at index {i}, is {}); a model with NaN or infinite weights cannot predict",
        values[i]
    ))
}

impl Sequential {
    /// Refuses a model any of whose weights is NaN or infinite, naming the tensor.
    pub fn check_finite(&self) -> Result<()> {
        for (name, p) in self.named_params() {
            if let Some(why) = non_finite(&name, &p.value) {
                return Err(Error::config(why));
            }
        }
        Ok(())
    }
}

/// Reads an F32 tensor as a vector.
pub(crate) fn read_f32(
    tensors: &SafeTensors<'_>,
    name: &str,
) -> std::result::Result<Vec<f32>, String> {
    let t = tensors
        .tensor(name)
        .map_err(|_| format!("tensor {name} is missing"))?;
    if t.dtype() != Dtype::F32 {
        return Err(format!("tensor {name} is {:?}, expected F32", t.dtype()));
    }
    Ok(t.data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}
