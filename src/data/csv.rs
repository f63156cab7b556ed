//! MNIST as CSV, in the layouts Kaggle publishes:
//!
//! - `mnist_train.csv` / `mnist_test.csv`: header `label,1x1,1x2,...,28x28`;
//! - Digit Recognizer `train.csv`: header `label,pixel0,...,pixel783`;
//! - Digit Recognizer `test.csv`: header `pixel0,...,pixel783`, no labels;
//! - no header: label-first with 785 columns, unlabelled with 784.
//!
//! Rows stream through the `csv` crate one at a time into the image bytes, so reading
//! needs little more memory than the pixels themselves. Every error names the file,
//! the line and the column.

use std::io::{BufReader, Read, Write};
use std::path::Path;

use super::Dataset;
use crate::error::{Error, Result};

/// Pixels per image in the CSV layouts (28 × 28).
pub const PIXELS: usize = 784;
/// The longest line read (an MNIST row is under 4 KiB): a file with no line breaks
/// must not make the reader buffer all of it.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// The most images a CSV file may hold (256 MiB of pixels, over five times MNIST's
/// training set), so a small gzip bomb cannot fill memory.
pub const MAX_IMAGES: usize = (256 << 20) / PIXELS;

/// Fails the read once a line runs past [`MAX_LINE_BYTES`].
struct LineLimit<R> {
    inner: R,
    /// Bytes since the last line break.
    run: usize,
    /// Line breaks seen.
    lines: u64,
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.run = match buf[..n].iter().rposition(|&b| b == b'\n') {
            Some(i) => {
                self.lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                n - 1 - i
            }
            None => self.run + n,
        };
        if self.run > MAX_LINE_BYTES {
            return Err(std::io::Error::other(format!(
                "line {} is longer than {MAX_LINE_BYTES} bytes",
                self.lines + 1
            )));
        }
        Ok(n)
    }
}

/// Which CSV layout a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvLayout {
    /// `label,1x1,...,28x28` (Kaggle's `mnist_train.csv`).
    MnistCsv,
    /// `label,pixel0,...,pixel783` (Kaggle Digit Recognizer `train.csv`).
    Kaggle,
    /// `pixel0,...,pixel783` without labels (Digit Recognizer `test.csv`).
    KaggleTest,
    /// No header, 785 columns, label first.
    LabelledNoHeader,
    /// No header, 784 pixel columns.
    UnlabelledNoHeader,
}

impl CsvLayout {
    /// Whether rows start with a label.
    pub fn labelled(self) -> bool {
        !matches!(self, CsvLayout::KaggleTest | CsvLayout::UnlabelledNoHeader)
    }

    /// A short description.
    pub fn describe(self) -> &'static str {
        match self {
            CsvLayout::MnistCsv => "label,1x1..28x28, the mnist-in-csv layout",
            CsvLayout::Kaggle => "label,pixel0..pixel783 (Kaggle train.csv)",
            CsvLayout::KaggleTest => "pixel0..pixel783 (Kaggle test.csv, unlabelled)",
            CsvLayout::LabelledNoHeader => "no header, label then 784 pixels",
            CsvLayout::UnlabelledNoHeader => "no header, 784 pixels, unlabelled",
        }
    }

    /// The header row, if the layout has one.
    fn header(self) -> Option<Vec<String>> {
        let pixels: Vec<String> = match self {
            CsvLayout::MnistCsv => (0..PIXELS)
                .map(|i| format!("{}x{}", i / 28 + 1, i % 28 + 1))
                .collect(),
            CsvLayout::Kaggle | CsvLayout::KaggleTest => {
                (0..PIXELS).map(|i| format!("pixel{i}")).collect()
            }
            _ => return None,
        };
        let mut h = Vec::with_capacity(PIXELS + 1);
        if self.labelled() {
            h.push("label".to_string());
        }
        h.extend(pixels);
        Some(h)
    }
}

/// Images read from a CSV file, with their labels when the file has them (an
/// unlabelled file's `dataset` has every label 0).
#[derive(Debug, Clone)]
pub struct CsvData {
    /// The layout found.
    pub layout: CsvLayout,
    /// The images (28×28×1) and labels.
    pub dataset: Dataset,
}

impl CsvData {
    /// Whether the file had labels.
    pub fn labelled(&self) -> bool {
        self.layout.labelled()
    }
}

/// Reads a CSV file in any of the layouts (gzip-compressed too, by its magic bytes).
pub fn read_csv(path: &Path) -> Result<CsvData> {
    let file = crate::files::open_regular(path)?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let gz = {
        use std::io::BufRead;
        let buf = reader.fill_buf().map_err(|e| Error::io(path, e))?;
        buf.starts_with(&[0x1f, 0x8b])
    };
    if gz {
        read_from(path, flate2::read::MultiGzDecoder::new(reader))
    } else {
        read_from(path, reader)
    }
}

/// [`read_csv`] of bytes held in memory (gzip too); `path` is only used in messages.
pub fn parse_csv(bytes: &[u8], path: &Path) -> Result<CsvData> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        read_from(path, flate2::read::MultiGzDecoder::new(bytes))
    } else {
        read_from(path, bytes)
    }
}

fn read_from(path: &Path, input: impl Read) -> Result<CsvData> {
    let input = LineLimit {
        inner: input,
        run: 0,
        lines: 0,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let fail = |line: u64, msg: String| Error::format(path, format!("line {line}: {msg}"));
    let mut record = csv::ByteRecord::new();
    let mut layout = None;
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    let mut first = true;
    loop {
        let more = rdr.read_byte_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            match e.kind() {
                csv::ErrorKind::Io(_) if line == 0 => {
                    Error::format(path, format!("read failed: {e}"))
                }
                csv::ErrorKind::Io(_) => {
                    Error::format(path, format!("read failed near line {line}: {e}"))
                }
                _ => fail(line, format!("not valid CSV: {e}")),
            }
        })?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() == 1 && record[0].is_empty() {
            continue; // a blank line
        }
        if first {
            first = false;
            let cell0 = String::from_utf8_lossy(&record[0]).to_string();
            if cell0.parse::<f64>().is_err() {
                // A header: it decides the layout.
                let cell1 = record
                    .get(1)
                    .map(|c| String::from_utf8_lossy(c).to_string());
                let l = match (cell0.as_str(), cell1.as_deref()) {
                    ("label", Some("1x1")) => CsvLayout::MnistCsv,
                    ("label", _) => CsvLayout::Kaggle,
                    _ => CsvLayout::KaggleTest,
                };
                let want = PIXELS + l.labelled() as usize;
                if record.len() != want {
                    return Err(fail(
                        line,
                        format!(
                            "the header has {} columns; a {} file has {want}",
                            record.len(),
                            if l.labelled() {
                                "labelled"
                            } else {
                                "unlabelled"
                            }
                        ),
                    ));
                }
                layout = Some(l);
                continue;
            }
            layout = Some(match record.len() {
                785 => CsvLayout::LabelledNoHeader,
                784 => CsvLayout::UnlabelledNoHeader,
                n => {
                    return Err(fail(
                        line,
                        format!(
                            "{n} columns and no header; expected 785 (label + 784 pixels) or 784 (pixels)"
                        ),
                    ));
                }
            });
        }
        let l = layout.expect("set on the first row");
        if labels.len() >= MAX_IMAGES {
            return Err(fail(
                line,
                format!("more than {MAX_IMAGES} images (256 MiB of pixels); refusing"),
            ));
        }
        let labelled = l.labelled();
        let want = PIXELS + labelled as usize;
        if record.len() != want {
            return Err(fail(
                line,
                format!(
                    "{} columns, expected {want} (a {} row)",
                    record.len(),
                    if record.len() < want { "short" } else { "long" }
                ),
            ));
        }
        let mut cells = record.iter().enumerate();
        if labelled {
            let (_, cell) = cells.next().expect("checked length");
            match parse_int(cell) {
                Some(v) if v <= 9 => labels.push(v as u8),
                _ => {
                    return Err(fail(
                        line,
                        format!(
                            "column 1 (label): '{}' is not a label 0-9",
                            crate::files::clip(&String::from_utf8_lossy(cell), 40)
                        ),
                    ));
                }
            }
        } else {
            labels.push(0);
        }
        for (col, cell) in cells {
            match parse_int(cell) {
                Some(v) if v <= 255 => images.push(v as u8),
                Some(v) => {
                    return Err(fail(
                        line,
                        format!(
                            "column {} (pixel {}): {v} is outside 0-255",
                            col + 1,
                            col - labelled as usize
                        ),
                    ));
                }
                None => {
                    return Err(fail(
                        line,
                        format!(
                            "column {} (pixel {}): '{}' is not a whole number 0-255 as exporters write it (digits only)",
                            col + 1,
                            col - labelled as usize,
                            crate::files::clip(&String::from_utf8_lossy(cell), 40)
                        ),
                    ));
                }
            }
        }
    }
    let layout = layout.ok_or_else(|| Error::format(path, "the file is empty".to_string()))?;
    if labels.is_empty() {
        return Err(Error::format(path, "a header but no data rows".to_string()));
    }
    let dataset = Dataset::new(images, labels, [28, 28, 1], 10)?;
    Ok(CsvData { layout, dataset })
}

/// A non-negative whole number as exporters write it: digits, optionally followed by
/// a point and zeros (`7`, or `7.0` / `7.00` as pandas writes integers stored as
/// floats). Signs, exponents (`1e2`) and other fractions are refused: no exporter
/// writes pixels that way, so such a cell means the file is not what it seems.
fn parse_int(cell: &[u8]) -> Option<u32> {
    let (digits, fraction) = match cell.iter().position(|&b| b == b'.') {
        Some(i) => (&cell[..i], &cell[i + 1..]),
        None => (cell, &[][..]),
    };
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || !fraction.iter().all(|&b| b == b'0')
    {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Writes `data` as CSV in `layout` (atomically: a failed write leaves any old file).
/// The unlabelled layouts drop the labels.
pub fn write_csv(data: &Dataset, path: &Path, layout: CsvLayout) -> Result<()> {
    if data.sample_len() != PIXELS {
        return Err(Error::Shape(format!(
            "the CSV layouts hold 28x28 images; these are {:?}",
            data.image_shape
        )));
    }
    let mut w = csv::WriterBuilder::new().from_writer(Vec::with_capacity(data.len() * 2000));
    let io = |e: csv::Error| Error::format(path, format!("could not write CSV: {e}"));
    if let Some(h) = layout.header() {
        w.write_record(&h).map_err(io)?;
    }
    let numbers: Vec<String> = (0..256).map(|i| i.to_string()).collect();
    let labelled = layout.labelled();
    for i in 0..data.len() {
        let label = labelled.then(|| numbers[data.labels[i] as usize].as_str());
        let pixels = data.image(i).iter().map(|&p| numbers[p as usize].as_str());
        w.write_record(label.into_iter().chain(pixels))
            .map_err(io)?;
    }
    let mut bytes = w
        .into_inner()
        .map_err(|e| Error::format(path, format!("could not write CSV: {e}")))?;
    bytes.flush().ok();
    crate::files::write_atomic(path, &bytes)
}
