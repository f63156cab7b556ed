//! Weights in and models out: the data-only pickle reader on pickles NumPy wrote
//! (tests/data/pickle, made by NumPy 2.4 with protocols 2-5), the book's network, .npz
//! round trips, and the ONNX export's
//! structure. Running exported ONNX files in an ONNX runtime scrawl did not write
//! (tract) is in onnx-check/, a crate of its own, so this tier never compiles tract.

use crate::common;

use std::path::Path;

use scrawl::interop::pickle::{self, Value};
use scrawl::interop::{dlfs, npz};
use scrawl::model::Sequential;
use scrawl::presets::preset;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/pickle")
            .join(name),
    )
    .unwrap()
}

fn array<'a>(v: &'a Value, key: &str) -> &'a pickle::NdArray {
    match v.get(key) {
        Some(Value::Array(a)) => a,
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn pickles_of_every_protocol_read_the_same() {
    for proto in 2..=5 {
        let v = pickle::parse(&fixture(&format!("mixed-p{proto}.pkl")))
            .unwrap_or_else(|e| panic!("protocol {proto}: {e}"));
        let f32a = array(&v, "f32");
        assert_eq!(f32a.shape, [3, 4]);
        assert_eq!(f32a.dtype, "<f4");
        for (i, &x) in f32a.values.iter().enumerate() {
            assert_eq!(x, (i as f32 / 7.0) as f64, "protocol {proto}");
        }
        // Fortran order comes back in C order: [[0, 1.5, 3], [4.5, 6, 7.5]].
        let fa = array(&v, "f64_fortran");
        assert_eq!(fa.shape, [2, 3]);
        assert_eq!(fa.values, [0.0, 1.5, 3.0, 4.5, 6.0, 7.5]);
        assert_eq!(array(&v, "i64").values, [1.0, -2.0, 3.0]);
        assert_eq!(array(&v, "u8").values, [0.0, 255.0, 7.0, 9.0]);
        let big = array(&v, "big_i32");
        assert_eq!(big.dtype, ">i4");
        assert_eq!(big.values, [2147483647.0, -2147483648.0]);
        assert_eq!(v.get("scalar"), Some(&Value::Float(3.25)));
        assert_eq!(v.get("name"), Some(&Value::Str("weights".into())));
        assert_eq!(v.get("n"), Some(&Value::Int(7)));
        assert_eq!(v.get("flag"), Some(&Value::Bool(true)));
        assert_eq!(v.get("none"), Some(&Value::None));
        assert_eq!(
            v.get("list"),
            Some(&Value::List(vec![
                Value::Int(1),
                Value::Float(2.5),
                Value::Str("x".into())
            ]))
        );
        assert_eq!(
            v.get("tuple"),
            Some(&Value::Tuple(vec![Value::Int(1), Value::Int(2)]))
        );
    }
}

#[test]
fn pickles_that_are_not_data_are_refused() {
    // {"x": Evil()} whose __reduce__ is os.system("echo pwned").
    let e = pickle::parse(&fixture("evil.pkl")).unwrap_err();
    assert!(e.contains("system") && e.contains("never runs code"), "{e}");
    let e = pickle::parse(&fixture("truncated.pkl")).unwrap_err();
    assert!(e.contains("truncated"), "{e}");
    let e = pickle::parse(b"").unwrap_err();
    assert!(e.contains("truncated"), "{e}");
    let e = pickle::parse(b"\x80\x02\xff").unwrap_err();
    assert!(e.contains("opcode 0xff at byte 2"), "{e}");
    // A persistent id (PyTorch's .pt) is named as such.
    let e = pickle::parse(b"\x80\x02X\x01\x00\x00\x00aQ.").unwrap_err();
    assert!(e.contains("persistent ids"), "{e}");
}

/// Pickles built to exhaust the reader: nesting that would overflow the stack when
/// dropped, shared references that double at every step, an array claiming 10^10
/// elements. Each is a clear error, fast.
#[test]
fn hostile_pickles_are_refused() {
    // 200 lists, each appended into the one below: nested 200 deep.
    let mut deep = b"\x80\x02".to_vec();
    deep.extend([b']'; 200]);
    deep.extend([b'a'; 199]);
    deep.push(b'.');
    let e = pickle::parse(&deep).unwrap_err();
    assert!(e.contains("nested more than 100 deep"), "{e}");
    // memo[i + 1] = [memo[i], memo[i]]: 2^40 copies from 300 bytes.
    let mut bomb = b"\x80\x02]q\x00".to_vec();
    for i in 0..40u8 {
        bomb.extend([b'(', b'h', i, b'h', i, b'l', b'q', i + 1]);
    }
    bomb.push(b'.');
    let e = pickle::parse(&bomb).unwrap_err();
    assert!(e.contains("expands past 256 MiB"), "{e}");
    // numpy.core.numeric._frombuffer(b"abcd", dtype("f4"), (10**10,), "C")
    let mut claim = b"\x80\x02cnumpy.core.numeric\n_frombuffer\n(C\x04abcd".to_vec();
    claim.extend(b"cnumpy\ndtype\n(X\x02\x00\x00\x00f4tR");
    claim.extend(b"\x8a\x05\x00\xe4\x0b\x54\x02\x85X\x01\x00\x00\x00CtR.");
    let e = pickle::parse(&claim).unwrap_err();
    assert!(
        e.contains("needs 10000000000 elements but its data holds 1"),
        "{e}"
    );
}

#[test]
fn the_books_network_scores_0_9352_one_at_a_time_and_in_batches() {
    let path = common::mnist_dir()
        .parent()
        .unwrap()
        .join("dlfs/sample_weight.pkl");
    let model = dlfs::import_dlfs(&path).unwrap();
    assert_eq!(
        model.param_count(),
        784 * 50 + 50 + 50 * 100 + 100 + 100 * 10 + 10
    );
    let test = common::mnist().test;
    for batch in [1, 100] {
        let e = model.evaluate(&test, batch).unwrap();
        assert_eq!(e.correct, 9352, "batch {batch}");
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pkl");
    std::fs::write(&bad, fixture("mixed-p3.pkl")).unwrap();
    let e = dlfs::import_dlfs(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.pkl") && e.contains("no W1"), "{e}");
}

#[test]
fn npz_round_trip_and_errors() {
    let model = Sequential::new(preset("cnn").unwrap(), 5).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cnn.npz");
    npz::export_npz(&model, &path).unwrap();
    let arrays = npz::read_npz(&path).unwrap();
    assert_eq!(arrays.len(), model.named_params().len());
    assert_eq!(arrays[0].0, "conv2d/kernel");
    assert_eq!(arrays[0].1, [5, 5, 1, 32]);
    let mut back = Sequential::new(preset("cnn").unwrap(), 99).unwrap();
    npz::import_npz(&mut back, &path).unwrap();
    for ((n, a), (_, b)) in model.named_params().into_iter().zip(back.named_params()) {
        assert_eq!(a.value, b.value, "{n}");
    }
    // The header is what NumPy writes: 64-byte aligned, C order, '<f4'.
    let bytes = npz::npy_bytes(&[2, 3], &[1.0; 6]);
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0);
    assert_eq!(npz::parse_npy(&bytes).unwrap(), (vec![2, 3], vec![1.0; 6]));
    // A different architecture: the first mismatch is named.
    let mut other = Sequential::new(preset("convnet").unwrap(), 0).unwrap();
    let e = npz::import_npz(&mut other, &path).unwrap_err().to_string();
    assert!(e.contains("conv2d/kernel has shape [5, 5, 1, 32]"), "{e}");
    std::fs::write(dir.path().join("junk.npz"), b"PK not really").unwrap();
    let e = npz::read_npz(&dir.path().join("junk.npz"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("junk.npz") && e.contains("zip"), "{e}");
}
