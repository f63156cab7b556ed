//! IDX parsing: valid files (raw and gzipped) and each kind of corruption, each
//! giving an error that names the file and what is wrong.

use crate::common;

use std::io::Write;
use std::path::Path;

use scrawl::data::idx::{self, IMAGES_MAGIC, LABELS_MAGIC, encode_idx, parse_idx};
use scrawl::data::locate::load_pair;

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn images(n: usize) -> Vec<u8> {
    encode_idx(&[n, 2, 3], &(0..n * 6).map(|i| i as u8).collect::<Vec<_>>())
}

fn err(bytes: &[u8], magic: u32) -> String {
    parse_idx(bytes, magic, Path::new("f.idx"))
        .unwrap_err()
        .to_string()
}

#[test]
fn valid_raw_and_gzipped_files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (ip, lp) = (dir.path().join("img"), dir.path().join("lab.gz"));
    std::fs::write(&ip, images(4)).unwrap();
    std::fs::write(&lp, gz(&encode_idx(&[4], &[0, 9, 3, 3]))).unwrap();
    let d = load_pair(&ip, &lp).unwrap();
    assert_eq!(d.len(), 4);
    assert_eq!(d.image_shape, [2, 3, 1]);
    assert_eq!(d.image(1), &[6, 7, 8, 9, 10, 11]);
    assert_eq!(d.labels, vec![0, 9, 3, 3]);
}

#[test]
fn bad_magic() {
    let e = err(&images(1), LABELS_MAGIC);
    assert!(
        e.contains("f.idx") && e.contains("bad magic number 0x00000803"),
        "{e}"
    );
    let mut b = images(1);
    b[2] = 0x0D; // float type
    assert!(err(&b, IMAGES_MAGIC).contains("bad magic number 0x00000d03"));
}

#[test]
fn truncated_header_and_data() {
    assert!(err(&[0, 0], IMAGES_MAGIC).contains("truncated at byte 2"));
    let b = images(3);
    assert!(err(&b[..10], IMAGES_MAGIC).contains("truncated at byte 10: the header"));
    let e = err(&b[..30], IMAGES_MAGIC);
    assert!(
        e.contains("truncated at byte 30") && e.contains("need 34 bytes"),
        "{e}"
    );
}

#[test]
fn trailing_bytes() {
    let mut b = images(1);
    b.extend_from_slice(&[1, 2]);
    assert!(
        err(&b, IMAGES_MAGIC).contains("2 unexpected bytes after the data, which ends at byte 22")
    );
}

#[test]
fn huge_claimed_size_is_refused_before_allocating() {
    let b = encode_idx(&[4_000_000_000, 28, 28], &[]);
    let e = err(&b, IMAGES_MAGIC);
    assert!(e.contains("over the limit"), "{e}");
}

#[test]
fn count_mismatch_and_bad_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (ip, lp) = (dir.path().join("img"), dir.path().join("lab"));
    std::fs::write(&ip, images(4)).unwrap();
    std::fs::write(&lp, encode_idx(&[3], &[0, 1, 2])).unwrap();
    let e = load_pair(&ip, &lp).unwrap_err().to_string();
    assert!(
        e.contains("lab") && e.contains("count mismatch: 3 labels here but 4 images"),
        "{e}"
    );
    std::fs::write(&lp, encode_idx(&[4], &[0, 1, 12, 2])).unwrap();
    let e = load_pair(&ip, &lp).unwrap_err().to_string();
    assert!(e.contains("label 12 at index 2 (byte 10)"), "{e}");
}

#[test]
fn corrupt_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.gz");
    let mut b = gz(&images(50));
    let n = b.len();
    b.truncate(n / 2);
    std::fs::write(&p, &b).unwrap();
    let e = idx::read_images(&p, idx::MAX_IDX_BYTES)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("x.gz") && e.contains("corrupt gzip stream"),
        "{e}"
    );
}

#[test]
fn missing_file_names_the_path() {
    let e = idx::read_images(Path::new("/nonexistent/imgs"), idx::MAX_IDX_BYTES)
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/imgs"), "{e}");
}

#[test]
fn real_mnist_loads_with_the_expected_shapes() {
    let m = common::mnist();
    assert_eq!((m.train.len(), m.test.len()), (60000, 10000));
    assert_eq!(m.train.image_shape, [28, 28, 1]);
    assert_eq!(m.train.pixel_range(), (0, 255));
    assert_eq!(m.train.label_counts()[1], 6742);
    assert_eq!(m.test.labels[..5], [7, 2, 1, 0, 4]);
}

#[test]
fn shipped_files_match_the_compiled_in_checksums() {
    for (stem, sha) in scrawl::data::locate::MNIST_FILES {
        let bytes = std::fs::read(common::mnist_dir().join(format!("{stem}.gz"))).unwrap();
        scrawl::data::locate::verify(&bytes, sha).unwrap();
        assert!(scrawl::data::locate::verify(&bytes[..bytes.len() - 100], sha).is_err());
    }
}

#[test]
fn explicit_folder_without_files_is_an_error_listing_what_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    let e = scrawl::data::find_mnist(Some(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--data") && e.contains("train-images-idx3-ubyte[.gz]"),
        "{e}"
    );
}
