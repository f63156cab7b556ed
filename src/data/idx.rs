//! The IDX format of MNIST: a 4-byte magic (two zero bytes, a type code, the number of
//! dimensions), one big-endian u32 per dimension, then the values. Files may be gzipped.
//!
//! Everything is checked before it is trusted: the magic, the dimensions, the length,
//! and (for labels) the values, so a corrupt file is an error that names the file and
//! the byte, never a panic or a wrong answer.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Magic number of an unsigned-byte, 3-dimensional IDX file (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an unsigned-byte, 1-dimensional IDX file (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Largest decompressed IDX file accepted (1 GiB): a header can claim anything, the
/// reader refuses to allocate past this.
pub const MAX_IDX_BYTES: u64 = 1 << 30;

/// The decoded contents of an unsigned-byte IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimension sizes, outermost first (e.g. `[60000, 28, 28]`).
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Reads a file whole, decompressing it when it starts with the gzip magic.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    gunzip_if_gz(raw, path)
}

/// Decompresses `raw` when it starts with the gzip magic (refusing more than
/// [`MAX_IDX_BYTES`] out), else returns it as it is; `path` is only used in messages.
pub fn gunzip_if_gz(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .take(MAX_IDX_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("corrupt gzip stream: {e}")))?;
        if out.len() as u64 > MAX_IDX_BYTES {
            return Err(Error::format(
                path,
                format!("decompresses to more than {MAX_IDX_BYTES} bytes; refusing"),
            ));
        }
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses IDX bytes that must carry `expected_magic`; `path` is only used in messages.
pub fn parse_idx(bytes: &[u8], expected_magic: u32, path: &Path) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(Error::format(
            path,
            format!(
                "truncated at byte {}: an IDX file starts with a 4-byte magic number",
                bytes.len()
            ),
        ));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != expected_magic {
        let what = match expected_magic {
            IMAGES_MAGIC => "an IDX image file",
            LABELS_MAGIC => "an IDX label file",
            _ => "this IDX file",
        };
        return Err(Error::format(
            path,
            format!(
                "bad magic number 0x{magic:08x} at byte 0, expected 0x{expected_magic:08x} for {what}"
            ),
        ));
    }
    let ndim = (magic & 0xff) as usize;
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(Error::format(
            path,
            format!(
                "truncated at byte {}: the header of {ndim} dimensions needs {header} bytes",
                bytes.len()
            ),
        ));
    }
    let mut dims = Vec::with_capacity(ndim);
    let mut count: u64 = 1;
    for i in 0..ndim {
        let o = 4 + 4 * i;
        let d = u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        if d == 0 && i > 0 {
            return Err(Error::format(
                path,
                format!("dimension {i} (byte {o}) is zero"),
            ));
        }
        count = count.saturating_mul(d as u64);
        dims.push(d as usize);
    }
    if count > MAX_IDX_BYTES {
        return Err(Error::format(
            path,
            format!(
                "header claims {count} values (dimensions {dims:?}), over the limit of {MAX_IDX_BYTES}"
            ),
        ));
    }
    let expected_len = header as u64 + count;
    let actual = bytes.len() as u64;
    if actual < expected_len {
        return Err(Error::format(
            path,
            format!("truncated at byte {actual}: dimensions {dims:?} need {expected_len} bytes"),
        ));
    }
    if actual > expected_len {
        return Err(Error::format(
            path,
            format!(
                "{} unexpected bytes after the data, which ends at byte {expected_len} for dimensions {dims:?}",
                actual - expected_len
            ),
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Reads an IDX image file (`n × rows × cols` unsigned bytes).
pub fn read_images(path: &Path) -> Result<IdxArray> {
    let arr = parse_idx(&read_maybe_gz(path)?, IMAGES_MAGIC, path)?;
    if arr.dims[1] == 0 || arr.dims[2] == 0 {
        return Err(Error::format(path, "images have a zero dimension"));
    }
    Ok(arr)
}

/// Reads an IDX label file (`n` unsigned bytes), checking every label is below `classes`.
pub fn read_labels(path: &Path, classes: usize) -> Result<IdxArray> {
    let arr = parse_idx(&read_maybe_gz(path)?, LABELS_MAGIC, path)?;
    if let Some(i) = arr.data.iter().position(|&l| l as usize >= classes) {
        return Err(Error::format(
            path,
            format!(
                "label {} at index {i} (byte {}) is outside 0-{}",
                arr.data[i],
                8 + i,
                classes - 1
            ),
        ));
    }
    Ok(arr)
}

/// Encodes `data` with the given dimensions as IDX bytes (unsigned byte type).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&[0, 0, 0x08, dims.len() as u8]);
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}
