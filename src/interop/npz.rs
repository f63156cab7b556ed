//! A model's weights as a NumPy `.npz` archive: one `.npy` array per parameter, named
//! like the model file's tensors (`dense/kernel`, `conv2d/bias`,
//! `batch_normalization/moving_mean`), float32, C order, in Keras's layouts:
//!
//! | layer | array | shape |
//! | --- | --- | --- |
//! | Dense | `kernel`, `bias` | `(inputs, units)`, `(units,)` |
//! | Conv2D | `kernel`, `bias` | `(kh, kw, in_channels, filters)`, `(filters,)` |
//! | BatchNormalization | `gamma`, `beta`, `moving_mean`, `moving_variance` | `(channels,)` each |
//!
//! so `np.load("m.npz")["dense/kernel"]` is what Keras's `layer.get_weights()[0]` is;
//! a PyTorch `Linear.weight` is the transpose of `kernel`.

use std::io::{Read, Write};
use std::path::Path;

use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::model::Sequential;

/// The bytes of a `.npy` file holding float32 `values` of `shape` in C order.
pub fn npy_bytes(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // magic (6) + version (2) + length (2) + header + '\n', padded to 64 bytes
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + values.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Parses a `.npy` file of float32 or float64 values (C or Fortran order) into its
/// shape and values in C order.
pub fn parse_npy(bytes: &[u8]) -> std::result::Result<(Vec<usize>, Vec<f32>), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy array (no \\x93NUMPY magic)".into());
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!(".npy version {v} is not one scrawl reads")),
    };
    let header = bytes
        .get(start..start + len)
        .ok_or("the .npy header is truncated")?;
    let header = std::str::from_utf8(header).map_err(|_| "the .npy header is not text")?;
    let field = |key: &str| -> std::result::Result<&str, String> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or_else(|| format!("the .npy header has no '{key}'"))?;
        Ok(header[at + key.len() + 2..].trim_start_matches([':', ' ']))
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or("a bad descr in the .npy header")?;
    let fortran = field("fortran_order")?.starts_with("True");
    let shape_text = field("shape")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("a bad shape in the .npy header")?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("a bad dimension '{s}'")))
        .collect::<std::result::Result<_, _>>()?;
    let data = &bytes[start + len..];
    let size = match descr {
        "<f4" => 4,
        "<f8" => 8,
        other => {
            return Err(format!(
                "arrays of dtype {other} are not weights scrawl reads (use float32 or float64)"
            ));
        }
    };
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|c| c.checked_mul(size).is_some())
        .ok_or_else(|| format!("shape {shape:?} is too large"))?;
    let need = count * size;
    if data.len() < need {
        return Err(format!(
            "shape {shape:?} needs {count} values ({need} bytes) but the data holds {} bytes",
            data.len()
        ));
    }
    if data.len() > need {
        return Err(format!(
            "{} unexpected bytes after the array's data ({need} bytes for shape {shape:?})",
            data.len() - need
        ));
    }
    let values: Vec<f32> = if size == 4 {
        data.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4")))
            .collect()
    } else {
        data.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8")) as f32)
            .collect()
    };
    let values = if fortran && shape.len() == 2 {
        let (r, c) = (shape[0], shape[1]);
        (0..r * c).map(|k| values[(k % c) * r + k / c]).collect()
    } else if fortran && shape.len() > 2 {
        return Err("Fortran-order arrays of more than 2 axes are not supported; save with np.ascontiguousarray".into());
    } else {
        values
    };
    Ok((shape, values))
}

/// Writes every parameter of `model` into a `.npz` archive at `path` (atomically).
pub fn export_npz(model: &Sequential, path: &Path) -> Result<()> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, p) in model.named_params() {
            zip.start_file(format!("{name}.npy"), opts)
                .map_err(|e| Error::config(format!("writing {name} into the npz: {e}")))?;
            zip.write_all(&npy_bytes(&p.shape, &p.value))
                .map_err(|e| Error::io(path, e))?;
        }
        zip.finish()
            .map_err(|e| Error::config(format!("finishing the npz: {e}")))?;
    }
    write_atomic(path, &buf.into_inner())
}

/// One array of an archive: its name (without `.npy`), shape and values.
pub type NamedArray = (String, Vec<usize>, Vec<f32>);

/// Reads every array of a `.npz` archive.
pub fn read_npz(path: &Path) -> Result<Vec<NamedArray>> {
    let bytes = crate::files::read_limited(path, MAX_NPZ_BYTES, "a .npz archive")?;
    parse_npz(&bytes, path)
}

/// The most bytes an archive, and the arrays it decompresses to together, may hold
/// (512 MiB; the largest model scrawl builds has 256 MiB of weights).
pub const MAX_NPZ_BYTES: u64 = 512 << 20;

/// Every array of a `.npz` archive held in memory; `path` is only used in messages.
pub fn parse_npz(bytes: &[u8], path: &Path) -> Result<Vec<NamedArray>> {
    // One budget for all the entries together: many entries each under a per-entry
    // limit must not add up to more than the machine has.
    let mut budget = MAX_NPZ_BYTES;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| Error::format(path, format!("not a .npz (zip) archive: {e}")))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| Error::format(path, format!("entry {i}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| Error::format(path, format!("entry {i}: {e}")))?
            .to_string();
        let Some(key) = name.strip_suffix(".npy") else {
            continue;
        };
        let too_big = || {
            Error::format(
                path,
                format!(
                    "{}: the arrays decompress to more than {} together; refusing",
                    crate::files::clip(&name, 80),
                    crate::files::human_bytes(MAX_NPZ_BYTES)
                ),
            )
        };
        if entry.size() > budget {
            return Err(too_big());
        }
        // The declared size is the archive's word, so it only sizes the first
        // allocation, and the read stops past the budget whatever the stream holds.
        let mut bytes = Vec::with_capacity(entry.size().min(1 << 26) as usize);
        (&mut entry)
            .take(budget + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::format(path, format!("{}: {e}", crate::files::clip(&name, 80))))?;
        if bytes.len() as u64 > budget {
            return Err(too_big());
        }
        budget -= bytes.len() as u64;
        let (shape, values) = parse_npy(&bytes)
            .map_err(|e| Error::format(path, format!("{}: {e}", crate::files::clip(&name, 80))))?;
        out.push((key.to_string(), shape, values));
    }
    Ok(out)
}

/// Sets every parameter of `model` from the array of the same name in the `.npz` at
/// `path`; every parameter must be there with its shape, and nothing else.
pub fn import_npz(model: &mut Sequential, path: &Path) -> Result<()> {
    let arrays = read_npz(path)?;
    let mut problem = None;
    let mut used = 0;
    model.for_each_param_mut(|name, p| {
        if problem.is_some() {
            return;
        }
        match arrays.iter().find(|(k, _, _)| k == name) {
            None => {
                problem = Some(format!(
                    "no array {name} (the archive has: {})",
                    names(&arrays)
                ))
            }
            Some((_, shape, _)) if *shape != p.shape => {
                problem = Some(format!(
                    "{name} has shape {shape:?} but the model needs {:?}",
                    p.shape
                ))
            }
            Some((_, _, values)) => match crate::model::io::non_finite(name, values) {
                Some(why) => problem = Some(why),
                None => {
                    p.value.copy_from_slice(values);
                    used += 1;
                }
            },
        }
    });
    if let Some(p) = problem {
        return Err(Error::format(path, p));
    }
    if used != arrays.len() {
        return Err(Error::format(
            path,
            format!(
                "the archive holds {} arrays but the model has {used} parameters ({})",
                arrays.len(),
                names(&arrays)
            ),
        ));
    }
    Ok(())
}

/// The archive's array names for a message, clipped: an archive of 200,000 entries
/// must not make a 5 MB line.
fn names(arrays: &[NamedArray]) -> String {
    let all = arrays
        .iter()
        .map(|(k, _, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    crate::files::clip(&all, 400)
}
