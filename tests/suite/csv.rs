//! The CSV layouts: every layout written from IDX reads back equal, and each kind of
//! malformed file is an error naming the file, line and column.

use crate::common;

use scrawl::data::csv::{CsvLayout, read_csv, write_csv};

#[test]
fn every_layout_round_trips() {
    let m = common::mnist();
    let data = m.train.take(300);
    let dir = tempfile::tempdir().unwrap();
    for layout in [
        CsvLayout::MnistCsv,
        CsvLayout::Kaggle,
        CsvLayout::KaggleTest,
        CsvLayout::LabelledNoHeader,
        CsvLayout::UnlabelledNoHeader,
    ] {
        let p = dir.path().join(format!("{layout:?}.csv"));
        write_csv(&data, &p, layout).unwrap();
        let back = read_csv(&p).unwrap();
        assert_eq!(back.layout, layout);
        assert_eq!(back.dataset.images, data.images, "{layout:?}");
        if layout.labelled() {
            assert_eq!(back.dataset.labels, data.labels, "{layout:?}");
        } else {
            assert!(back.dataset.labels.iter().all(|&l| l == 0));
        }
    }
    // The first line of each header.
    let text = std::fs::read_to_string(dir.path().join("MnistCsv.csv")).unwrap();
    assert!(text.starts_with("label,1x1,1x2,"), "{}", &text[..40]);
    assert!(text.lines().next().unwrap().ends_with(",28x27,28x28"));
    let text = std::fs::read_to_string(dir.path().join("KaggleTest.csv")).unwrap();
    assert!(text.starts_with("pixel0,pixel1,"));
    assert_eq!(text.lines().count(), 301);
}

#[test]
fn malformed_files_name_the_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let header: Vec<String> = std::iter::once("label".to_string())
        .chain((0..784).map(|i| format!("pixel{i}")))
        .collect();
    let row = |label: &str, fill: &str, n: usize| -> String {
        std::iter::once(label.to_string())
            .chain(std::iter::repeat_n(fill.to_string(), n))
            .collect::<Vec<_>>()
            .join(",")
    };
    let good = row("3", "0", 784);
    let cases = [
        (
            row("3", "0", 700),
            "line 3: 701 columns, expected 785 (a short row)",
        ),
        (
            row("12", "0", 784),
            "line 3: column 1 (label): '12' is not a label 0-9",
        ),
        (
            row("3", "300", 784),
            "line 3: column 2 (pixel 0): 300 is outside 0-255",
        ),
        (
            row("3", "x", 784),
            "line 3: column 2 (pixel 0): 'x' is not a whole number",
        ),
        (row("3", "-1", 784), "is not a whole number"),
    ];
    for (bad, want) in cases {
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, format!("{}\n{good}\n{bad}\n{good}\n", header.join(","))).unwrap();
        let err = read_csv(&p).unwrap_err().to_string();
        assert!(err.contains(want), "want '{want}' in: {err}");
        assert!(err.contains("bad.csv"), "{err}");
    }
    let p = dir.path().join("empty.csv");
    std::fs::write(&p, "").unwrap();
    assert!(read_csv(&p).unwrap_err().to_string().contains("empty"));
    std::fs::write(&p, format!("{}\n", header.join(","))).unwrap();
    assert!(
        read_csv(&p)
            .unwrap_err()
            .to_string()
            .contains("no data rows")
    );
    std::fs::write(&p, "1,2,3\n").unwrap();
    let err = read_csv(&p).unwrap_err().to_string();
    assert!(err.contains("line 1: 3 columns and no header"), "{err}");
    let err = read_csv(&dir.path().join("missing.csv"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.csv"), "{err}");
}

/// A file with no line breaks is refused once a line passes 1 MiB, raw or gzipped,
/// instead of being buffered whole; the message names the file and the line.
#[test]
fn endless_lines_are_refused() {
    use scrawl::data::csv::parse_csv;
    use std::io::Write;
    let path = std::path::Path::new("endless.csv");
    let mut text = b"label,".to_vec();
    text.extend(std::iter::repeat_n(b'0', 3 << 20));
    let e = parse_csv(&text, path).unwrap_err().to_string();
    assert!(
        e.contains("endless.csv") && e.contains("line 1 is longer than"),
        "{e}"
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&text).unwrap();
    let e = parse_csv(&gz.finish().unwrap(), path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 1 is longer than 1048576 bytes"), "{e}");
}
