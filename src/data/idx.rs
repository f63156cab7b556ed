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

/// The most bytes of values a data set's IDX files may hold together (512 MiB, over
/// ten times MNIST's 55 MB): the headers are checked against what is left of this
/// before anything is allocated or decompressed, so neither a header that claims
/// billions nor a small gzip bomb can fill memory.
pub const MAX_IDX_BYTES: u64 = 512 << 20;

/// The most trailing bytes counted for a message (past this: "more than").
const MAX_TRAILING_COUNTED: u64 = 64 << 20;

/// The decoded contents of an unsigned-byte IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimension sizes, outermost first (e.g. `[60000, 28, 28]`).
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Reads the IDX file `path` (raw or gzipped) that must carry `expected_magic`,
/// refusing a header that claims more than `limit` bytes of values. The header is
/// read and checked first; the values are then read straight into their buffer.
pub fn read_idx_file(path: &Path, expected_magic: u32, limit: u64) -> Result<IdxArray> {
    let file = crate::files::open_regular(path)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let gz = {
        use std::io::BufRead;
        let head = reader.fill_buf().map_err(|e| Error::io(path, e))?;
        head.starts_with(&[0x1f, 0x8b])
    };
    if gz {
        read_idx(
            flate2::read::MultiGzDecoder::new(reader),
            expected_magic,
            path,
            limit,
        )
    } else {
        read_idx(reader, expected_magic, path, limit)
    }
}

/// Parses IDX bytes held in memory (gzipped too) that must carry `expected_magic`;
/// `path` is only used in messages.
pub fn parse_idx(bytes: &[u8], expected_magic: u32, path: &Path) -> Result<IdxArray> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        read_idx(
            flate2::read::MultiGzDecoder::new(bytes),
            expected_magic,
            path,
            MAX_IDX_BYTES,
        )
    } else {
        read_idx(bytes, expected_magic, path, MAX_IDX_BYTES)
    }
}

/// Reads up to `buf.len()` bytes, fewer only at the end of the stream.
fn read_full(src: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(stream_error(path, e)),
        }
    }
    Ok(got)
}

fn stream_error(path: &Path, e: std::io::Error) -> Error {
    match e.kind() {
        // A raw file's read never ends early with an error: these come from gzip.
        std::io::ErrorKind::InvalidInput
        | std::io::ErrorKind::InvalidData
        | std::io::ErrorKind::UnexpectedEof => {
            Error::format(path, format!("corrupt gzip stream: {e}"))
        }
        _ => Error::io(path, e),
    }
}

/// The IDX reader over any stream: magic, dimensions, then exactly the values.
fn read_idx(mut src: impl Read, expected_magic: u32, path: &Path, limit: u64) -> Result<IdxArray> {
    let mut magic_bytes = [0u8; 4];
    let got = read_full(&mut src, &mut magic_bytes, path)?;
    if got < 4 {
        return Err(Error::format(
            path,
            format!("truncated at byte {got}: an IDX file starts with a 4-byte magic number"),
        ));
    }
    let magic = u32::from_be_bytes(magic_bytes);
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
    let mut dim_bytes = vec![0u8; 4 * ndim];
    let got = read_full(&mut src, &mut dim_bytes, path)?;
    if got < dim_bytes.len() {
        return Err(Error::format(
            path,
            format!(
                "truncated at byte {}: the header of {ndim} dimensions needs {header} bytes",
                4 + got
            ),
        ));
    }
    let mut dims = Vec::with_capacity(ndim);
    let mut count: u64 = 1;
    for (i, d) in dim_bytes.chunks_exact(4).enumerate() {
        let d = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
        if d == 0 && i > 0 {
            return Err(Error::format(
                path,
                format!("dimension {i} (byte {}) is zero", 4 + 4 * i),
            ));
        }
        count = count.saturating_mul(d as u64);
        dims.push(d as usize);
    }
    if count > limit {
        return Err(Error::format(
            path,
            format!(
                "header claims {count} values (dimensions {dims:?}), over the limit of {limit} scrawl reads for a data set"
            ),
        ));
    }
    let expected_len = header as u64 + count;
    let mut data = Vec::new();
    data.try_reserve_exact(count as usize).map_err(|_| {
        Error::format(
            path,
            format!("cannot allocate {count} bytes for the values"),
        )
    })?;
    (&mut src)
        .take(count)
        .read_to_end(&mut data)
        .map_err(|e| stream_error(path, e))?;
    let actual = header as u64 + data.len() as u64;
    if actual < expected_len {
        return Err(Error::format(
            path,
            format!("truncated at byte {actual}: dimensions {dims:?} need {expected_len} bytes"),
        ));
    }
    let trailing = std::io::copy(
        &mut (&mut src).take(MAX_TRAILING_COUNTED + 1),
        &mut std::io::sink(),
    )
    .map_err(|e| stream_error(path, e))?;
    if trailing > 0 {
        let how_many = if trailing > MAX_TRAILING_COUNTED {
            format!("more than {MAX_TRAILING_COUNTED}")
        } else {
            trailing.to_string()
        };
        return Err(Error::format(
            path,
            format!(
                "{how_many} unexpected bytes after the data, which ends at byte {expected_len} for dimensions {dims:?}"
            ),
        ));
    }
    Ok(IdxArray { dims, data })
}

/// Reads an IDX image file (`n × rows × cols` unsigned bytes) of at most `limit`
/// bytes of pixels.
pub fn read_images(path: &Path, limit: u64) -> Result<IdxArray> {
    let arr = read_idx_file(path, IMAGES_MAGIC, limit)?;
    check_images(arr, path)
}

fn check_images(arr: IdxArray, path: &Path) -> Result<IdxArray> {
    if arr.dims[1] == 0 || arr.dims[2] == 0 {
        return Err(Error::format(path, "images have a zero dimension"));
    }
    Ok(arr)
}

/// Reads an IDX label file (`n` unsigned bytes) of at most `limit` labels, checking
/// every label is below `classes`.
pub fn read_labels(path: &Path, classes: usize, limit: u64) -> Result<IdxArray> {
    let arr = read_idx_file(path, LABELS_MAGIC, limit)?;
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
