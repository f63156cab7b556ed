//! TensorBoard event files, as Keras's `TensorBoard` callback writes them: scalars,
//! histograms, images and hyperparameters that `tensorboard --logdir` shows.
//!
//! An event file is a sequence of TFRecords, each an `Event` protocol buffer:
//!
//! ```text
//! record = length: u64 LE | masked_crc32c(length): u32 LE | data | masked_crc32c(data): u32 LE
//! masked_crc32c(b) = ((c >> 15) | (c << 17)) + 0xa282ead8,   c = CRC-32C(b)
//! ```
//!
//! The first event of a file holds `file_version = "brain.Event:2"`. The messages
//! below are the subset of TensorFlow's `event.proto`, `summary.proto`, `tensor.proto`
//! and the hparams plugin's `plugin_data.proto` that scrawl writes, field numbers as
//! there; prost encodes them. Scalars are 0-d `DT_FLOAT` tensors for the "scalars"
//! plugin, as Keras writes them: TensorBoard's fast loader reads no other kind, so it
//! holds `history.csv`'s f64 values rounded to f32.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use prost::Message;

use crate::error::{Error, Result};

/// One record's framing around `data`.
pub fn frame_record(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

/// TFRecord's masked CRC-32C (a CRC of data that holds CRCs is itself weak, so the
/// format rotates and offsets it).
pub fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c::crc32c(data);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// `tensorflow.Event`.
#[derive(Clone, PartialEq, Message)]
pub struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The global step (the epoch for per-epoch values, as Keras writes them).
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// The file version (first event) or a summary.
    #[prost(oneof = "What", tags = "3, 5")]
    pub what: Option<What>,
}

/// What an [`Event`] carries.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    /// `"brain.Event:2"`.
    #[prost(string, tag = "3")]
    FileVersion(String),
    /// Values.
    #[prost(message, tag = "5")]
    Summary(Summary),
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, Message)]
pub struct Summary {
    /// The values.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `tensorflow.Summary.Value`.
#[derive(Clone, PartialEq, Message)]
pub struct SummaryValue {
    /// The name TensorBoard shows (`epoch_loss`, `dense/kernel`).
    #[prost(string, tag = "1")]
    pub tag: String,
    /// Which plugin reads it.
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
    /// The value.
    #[prost(oneof = "ValueKind", tags = "4, 5, 8")]
    pub value: Option<ValueKind>,
}

/// The kinds of value scrawl writes.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum ValueKind {
    /// An encoded image.
    #[prost(message, tag = "4")]
    Image(Image),
    /// A histogram.
    #[prost(message, tag = "5")]
    Histo(Histogram),
    /// A tensor (scalars, the hparams plugin's empty tensor).
    #[prost(message, tag = "8")]
    Tensor(TensorProto),
}

/// `tensorflow.SummaryMetadata`.
#[derive(Clone, PartialEq, Message)]
pub struct SummaryMetadata {
    /// The plugin and its data.
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
    /// 1 = scalar, 2 = tensor, 3 = blob sequence; 0 = unknown.
    #[prost(int32, tag = "4")]
    pub data_class: i32,
}

/// `tensorflow.SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, Message)]
pub struct PluginData {
    /// `scalars`, `hparams`, ...
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    /// The plugin's own protocol buffer, encoded.
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

/// `tensorflow.Summary.Image`.
#[derive(Clone, PartialEq, Message)]
pub struct Image {
    /// Pixels high.
    #[prost(int32, tag = "1")]
    pub height: i32,
    /// Pixels wide.
    #[prost(int32, tag = "2")]
    pub width: i32,
    /// 1 grey, 3 RGB, 4 RGBA.
    #[prost(int32, tag = "3")]
    pub colorspace: i32,
    /// The PNG file.
    #[prost(bytes = "vec", tag = "4")]
    pub encoded_image_string: Vec<u8>,
}

/// `tensorflow.HistogramProto`: bucket `i` counts values up to `bucket_limit[i]`.
#[derive(Clone, PartialEq, Message)]
pub struct Histogram {
    /// Smallest value.
    #[prost(double, tag = "1")]
    pub min: f64,
    /// Largest value.
    #[prost(double, tag = "2")]
    pub max: f64,
    /// How many values.
    #[prost(double, tag = "3")]
    pub num: f64,
    /// Their sum.
    #[prost(double, tag = "4")]
    pub sum: f64,
    /// The sum of their squares.
    #[prost(double, tag = "5")]
    pub sum_squares: f64,
    /// Right edges of the buckets.
    #[prost(double, repeated, tag = "6")]
    pub bucket_limit: Vec<f64>,
    /// Counts of the buckets.
    #[prost(double, repeated, tag = "7")]
    pub bucket: Vec<f64>,
}

/// `tensorflow.TensorProto`, the fields scrawl uses.
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    /// `DT_FLOAT` = 1.
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// The shape (no dimensions: a scalar).
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShape>,
    /// The values of a `DT_FLOAT` tensor.
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
}

/// `tensorflow.TensorShapeProto`.
#[derive(Clone, PartialEq, Message)]
pub struct TensorShape {
    /// The dimensions.
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
}

/// `tensorflow.TensorShapeProto.Dim`.
#[derive(Clone, PartialEq, Message)]
pub struct Dim {
    /// Its size.
    #[prost(int64, tag = "1")]
    pub size: i64,
}

/// The hparams plugin's `HParamsPluginData`.
#[derive(Clone, PartialEq, Message)]
pub struct HParamsPluginData {
    /// Always 0.
    #[prost(int32, tag = "1")]
    pub version: i32,
    /// Start or end of a session (a run).
    #[prost(oneof = "HParamsData", tags = "3, 4")]
    pub data: Option<HParamsData>,
}

/// What [`HParamsPluginData`] carries.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum HParamsData {
    /// The run's settings.
    #[prost(message, tag = "3")]
    SessionStartInfo(SessionStartInfo),
    /// How the run ended.
    #[prost(message, tag = "4")]
    SessionEndInfo(SessionEndInfo),
}

/// The hparams plugin's `SessionStartInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct SessionStartInfo {
    /// Setting name to value.
    #[prost(btree_map = "string, message", tag = "1")]
    pub hparams: BTreeMap<String, ProtoValue>,
    /// The group the session belongs to (its own name: every run is a trial).
    #[prost(string, tag = "4")]
    pub group_name: String,
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "5")]
    pub start_time_secs: f64,
}

/// The hparams plugin's `SessionEndInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct SessionEndInfo {
    /// 1 = success, 3 = failure.
    #[prost(int32, tag = "1")]
    pub status: i32,
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "2")]
    pub end_time_secs: f64,
}

/// `google.protobuf.Value`, the kinds a setting takes.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoValue {
    /// The value.
    #[prost(oneof = "Kind", tags = "2, 3, 4")]
    pub kind: Option<Kind>,
}

/// A setting's value.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    /// A number.
    #[prost(double, tag = "2")]
    Number(f64),
    /// A string.
    #[prost(string, tag = "3")]
    Text(String),
    /// A flag.
    #[prost(bool, tag = "4")]
    Flag(bool),
}

/// A run's settings as TensorBoard's hparams dashboard shows them.
pub type HParams = BTreeMap<String, Kind>;

/// One event file, appended to record by record; a new file is made for every
/// writer, never an existing one overwritten.
#[derive(Debug)]
pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// Makes `dir` and a new event file in it, named as TensorFlow names them
    /// (`events.out.tfevents.SECONDS.scrawl.PID.N`), and writes the version event.
    pub fn create(dir: &Path) -> Result<EventWriter> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let secs = now() as u64;
        let pid = std::process::id();
        let mut n = 0u32;
        let (file, path) = loop {
            let path = dir.join(format!("events.out.tfevents.{secs}.scrawl.{pid}.{n}"));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => break (f, path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(Error::io(&path, e)),
            }
        };
        let mut w = EventWriter {
            out: BufWriter::new(file),
            path,
        };
        w.write(&Event {
            wall_time: now(),
            step: 0,
            what: Some(What::FileVersion("brain.Event:2".into())),
        })?;
        Ok(w)
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event.
    pub fn write(&mut self, event: &Event) -> Result<()> {
        self.out
            .write_all(&frame_record(&event.encode_to_vec()))
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Appends a summary of `values` at `step`.
    pub fn summary(&mut self, step: i64, values: Vec<SummaryValue>) -> Result<()> {
        self.write(&Event {
            wall_time: now(),
            step,
            what: Some(What::Summary(Summary { value: values })),
        })
    }

    /// Appends one scalar (a 0-d double tensor for the scalars plugin).
    pub fn scalar(&mut self, tag: &str, step: i64, value: f64) -> Result<()> {
        self.summary(step, vec![scalar(tag, value)])
    }

    /// Makes the records written so far reach the file (TensorBoard reads files as
    /// they grow).
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// Reads every event of an event file, checking each record's framing and both CRCs
/// (a file cut short in its last record, as a writer killed mid-write leaves it,
/// yields the events before that record).
pub fn read_events(path: &Path) -> Result<Vec<Event>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut events = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < 12 {
            break;
        }
        let len_bytes = &rest[..8];
        let crc = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes"));
        if crc != masked_crc(len_bytes) {
            return Err(Error::format(
                path,
                format!("the length CRC of the record at byte {at} does not match"),
            ));
        }
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
        let Some(end) = usize::try_from(len).ok().and_then(|l| l.checked_add(16)) else {
            return Err(Error::format(
                path,
                format!("the record at byte {at} is too long"),
            ));
        };
        if rest.len() < end {
            break;
        }
        let data = &rest[12..end - 4];
        let crc = u32::from_le_bytes(rest[end - 4..end].try_into().expect("4 bytes"));
        if crc != masked_crc(data) {
            return Err(Error::format(
                path,
                format!("the data CRC of the record at byte {at} does not match"),
            ));
        }
        let event = Event::decode(data).map_err(|e| {
            Error::format(
                path,
                format!("the record at byte {at} is not an Event: {e}"),
            )
        })?;
        events.push(event);
        at += end;
    }
    Ok(events)
}

/// Seconds since the Unix epoch.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A scalar value for the scalars plugin (rounded to f32).
pub fn scalar(tag: &str, value: f64) -> SummaryValue {
    SummaryValue {
        tag: tag.to_string(),
        metadata: Some(SummaryMetadata {
            plugin_data: Some(PluginData {
                plugin_name: "scalars".into(),
                content: Vec::new(),
            }),
            data_class: 1,
        }),
        value: Some(ValueKind::Tensor(TensorProto {
            dtype: 1,
            tensor_shape: Some(TensorShape::default()),
            float_val: vec![value as f32],
        })),
    }
}

/// A histogram of `values` in `buckets` equal-width buckets between their least and
/// greatest (one bucket when they are all equal), as `tf.summary.histogram` makes.
/// Non-finite values are left out.
pub fn histogram(tag: &str, values: &[f32], buckets: usize) -> SummaryValue {
    let finite = || values.iter().map(|&v| v as f64).filter(|v| v.is_finite());
    let (min, max) = finite().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let mut h = Histogram::default();
    if min <= max {
        let n = if max > min { buckets.max(1) } else { 1 };
        let width = (max - min) / n as f64;
        h.bucket = vec![0.0; n];
        h.bucket_limit = (1..=n).map(|i| min + width * i as f64).collect();
        h.bucket_limit[n - 1] = max;
        for v in finite() {
            let i = if width > 0.0 {
                (((v - min) / width) as usize).min(n - 1)
            } else {
                0
            };
            h.bucket[i] += 1.0;
            h.num += 1.0;
            h.sum += v;
            h.sum_squares += v * v;
        }
        (h.min, h.max) = (min, max);
    }
    SummaryValue {
        tag: tag.to_string(),
        metadata: None,
        value: Some(ValueKind::Histo(h)),
    }
}

/// An image value: a PNG file of `width` x `height` RGB pixels.
pub fn image(tag: &str, png: Vec<u8>, width: u32, height: u32) -> SummaryValue {
    SummaryValue {
        tag: tag.to_string(),
        metadata: None,
        value: Some(ValueKind::Image(Image {
            height: height as i32,
            width: width as i32,
            colorspace: 3,
            encoded_image_string: png,
        })),
    }
}

/// The hparams plugin's record of a run's settings (`_hparams_/session_start_info`),
/// named `group` (the run's name).
pub fn hparams(group: &str, settings: &HParams) -> SummaryValue {
    let start = SessionStartInfo {
        hparams: settings
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    ProtoValue {
                        kind: Some(v.clone()),
                    },
                )
            })
            .collect(),
        group_name: group.to_string(),
        start_time_secs: now(),
    };
    hparams_value(
        "_hparams_/session_start_info",
        HParamsData::SessionStartInfo(start),
    )
}

/// The hparams plugin's record that a run ended well (`_hparams_/session_end_info`).
pub fn session_end() -> SummaryValue {
    hparams_value(
        "_hparams_/session_end_info",
        HParamsData::SessionEndInfo(SessionEndInfo {
            status: 1,
            end_time_secs: now(),
        }),
    )
}

fn hparams_value(tag: &str, data: HParamsData) -> SummaryValue {
    let content = HParamsPluginData {
        version: 0,
        data: Some(data),
    }
    .encode_to_vec();
    SummaryValue {
        tag: tag.to_string(),
        metadata: Some(SummaryMetadata {
            plugin_data: Some(PluginData {
                plugin_name: "hparams".into(),
                content,
            }),
            data_class: 0,
        }),
        // The plugin's values carry an empty float tensor, as its own writer does.
        value: Some(ValueKind::Tensor(TensorProto {
            dtype: 1,
            tensor_shape: Some(TensorShape {
                dim: vec![Dim { size: 0 }],
            }),
            float_val: Vec::new(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::manual_rotate)] // spelled as TensorFlow's crc32c.h spells the mask
    fn crc32c_is_castagnoli_and_masked_as_tfrecord() {
        // The check value of CRC-32C (RFC 3720, appendix B.4).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        let c = 0xE306_9283u32;
        assert_eq!(
            masked_crc(b"123456789"),
            ((c >> 15) | (c << 17)).wrapping_add(0xa282_ead8)
        );
    }

    #[test]
    fn records_are_framed_as_tensorboards_own_writer_frames_them() {
        // The bytes `tensorboard.summary.writer.record_writer.RecordWriter` (the PyPI
        // package's pure-Python writer) wrote for b"scrawl".
        let theirs = [
            6, 0, 0, 0, 0, 0, 0, 0, 115, 105, 213, 55, 115, 99, 114, 97, 119, 108, 187, 4, 175, 74,
        ];
        assert_eq!(frame_record(b"scrawl"), theirs);
    }

    #[test]
    fn histogram_counts_every_finite_value_once() {
        let v = [0.0f32, 0.1, 0.5, 0.99, 1.0, f32::NAN, -1.0];
        let Some(ValueKind::Histo(h)) = histogram("w", &v, 4).value else {
            panic!("not a histogram")
        };
        assert_eq!(h.num, 6.0);
        assert_eq!(h.bucket.iter().sum::<f64>(), 6.0);
        assert_eq!((h.min, h.max), (-1.0, 1.0));
        assert_eq!(h.bucket, vec![1.0, 0.0, 2.0, 3.0]);
        assert_eq!(*h.bucket_limit.last().unwrap(), 1.0);
        let Some(ValueKind::Histo(one)) = histogram("w", &[2.0; 5], 30).value else {
            panic!("not a histogram")
        };
        assert_eq!(
            (one.bucket.clone(), one.bucket_limit.clone()),
            (vec![5.0], vec![2.0])
        );
    }
}
