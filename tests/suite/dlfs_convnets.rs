//! The book's convolutional networks (chapter 7's SimpleConvNet, chapter 8's
//! DeepConvNet) as its code pickles them: made here with the book's layouts (NCHW
//! kernels, C,H,W flatten order, DeepConvNet's pad of 2 and its test-time dropout
//! scaling), imported, and checked against a direct f64 forward pass written as the
//! book's code computes it.

use crate::common;

use std::path::Path;

use scrawl::interop::dlfs::dlfs_from_bytes;

/// A NumPy float64 array in a pickle, as `pickle.dump` (protocol 3) writes it.
fn push_array(out: &mut Vec<u8>, shape: &[usize], values: &[f64]) {
    out.extend(b"cnumpy.core.multiarray\n_reconstruct\n");
    out.extend(b"cnumpy\nndarray\n");
    out.extend(b"K\x00\x85C\x01b\x87R(K\x01(");
    for &d in shape {
        out.push(b'J');
        out.extend((d as i32).to_le_bytes());
    }
    out.extend(b"tcnumpy\ndtype\n");
    out.extend(b"X\x02\x00\x00\x00f8\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89B");
    out.extend(((values.len() * 8) as u32).to_le_bytes());
    for v in values {
        out.extend(v.to_le_bytes());
    }
    out.extend(b"tb");
}

/// `pickle.dump(params)` of a dict of arrays.
fn pickle_params(params: &[(String, Vec<usize>, Vec<f64>)]) -> Vec<u8> {
    let mut out = b"\x80\x03}(".to_vec();
    for (name, shape, values) in params {
        out.push(b'X');
        out.extend((name.len() as u32).to_le_bytes());
        out.extend(name.as_bytes());
        push_array(&mut out, shape, values);
    }
    out.extend(b"u.");
    out
}

/// Random weights of `shape`, uniform in ±`scale`.
pub(crate) fn weights(shape: &[usize], scale: f64, seed: u64) -> Vec<f64> {
    let n = shape.iter().product();
    common::random_vec(n, seed)
        .iter()
        .map(|&v| v as f64 * scale)
        .collect()
}

/// A feature map `[C, H, W]`, the book's layout.
pub(crate) struct Map {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub v: Vec<f64>,
}

/// The book's `Convolution` (stride 1, `pad` zeros each side) then `Relu`.
pub(crate) fn conv_relu(x: &Map, w: &[f64], b: &[f64], [n, k]: [usize; 2], pad: usize) -> Map {
    let (oh, ow) = (x.h + 2 * pad - k + 1, x.w + 2 * pad - k + 1);
    let mut v = vec![0.0; n * oh * ow];
    for f in 0..n {
        for y in 0..oh {
            for z in 0..ow {
                let mut s = b[f];
                for c in 0..x.c {
                    for i in 0..k {
                        for j in 0..k {
                            let (yy, zz) = (
                                (y + i) as isize - pad as isize,
                                (z + j) as isize - pad as isize,
                            );
                            if yy < 0 || zz < 0 || yy >= x.h as isize || zz >= x.w as isize {
                                continue;
                            }
                            let xv = x.v[(c * x.h + yy as usize) * x.w + zz as usize];
                            s += xv * w[((f * x.c + c) * k + i) * k + j];
                        }
                    }
                }
                v[(f * oh + y) * ow + z] = s.max(0.0);
            }
        }
    }
    Map {
        c: n,
        h: oh,
        w: ow,
        v,
    }
}

/// The book's `Pooling(2, 2, stride=2)`.
pub(crate) fn pool(x: &Map) -> Map {
    let (oh, ow) = (x.h / 2, x.w / 2);
    let mut v = vec![f64::NEG_INFINITY; x.c * oh * ow];
    for c in 0..x.c {
        for y in 0..oh {
            for z in 0..ow {
                for i in 0..2 {
                    for j in 0..2 {
                        let o = &mut v[(c * oh + y) * ow + z];
                        *o = o.max(x.v[(c * x.h + 2 * y + i) * x.w + 2 * z + j]);
                    }
                }
            }
        }
    }
    Map {
        c: x.c,
        h: oh,
        w: ow,
        v,
    }
}

/// The book's `Affine` on a flat input (a map is flattened C,H,W, as its `reshape`).
pub(crate) fn affine(x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    let units = b.len();
    (0..units)
        .map(|u| {
            b[u] + x
                .iter()
                .enumerate()
                .map(|(i, xi)| xi * w[i * units + u])
                .sum::<f64>()
        })
        .collect()
}

pub(crate) fn softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

pub(crate) fn image(pixels: &[u8]) -> Map {
    Map {
        c: 1,
        h: 28,
        w: 28,
        v: pixels.iter().map(|&p| p as f64 / 255.0).collect(),
    }
}

type Params = Vec<(String, Vec<usize>, Vec<f64>)>;

fn get<'a>(p: &'a Params, name: &str) -> &'a [f64] {
    &p.iter().find(|(n, _, _)| n == name).unwrap().2
}

/// Imports `params` and compares its probabilities on 40 test images with `book`'s.
fn check_against_the_book(params: &Params, book: impl Fn(&Params, &Map) -> Vec<f64>, name: &str) {
    let model = dlfs_from_bytes(&pickle_params(params), Path::new("book.pkl")).unwrap();
    assert_eq!(model.config().name, name);
    let test = common::mnist().test.take(40);
    let ours = model.predict(&test, 40).unwrap();
    let mut agree = 0;
    for (i, row) in ours.chunks_exact(10).enumerate() {
        let theirs = book(params, &image(test.image(i)));
        for (a, b) in row.iter().zip(&theirs) {
            assert!(
                (*a as f64 - b).abs() < 1e-5,
                "image {i}: {row:?} vs {theirs:?}"
            );
        }
        let argmax = |v: &[f64]| (0..10).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
        let ours64: Vec<f64> = row.iter().map(|&v| v as f64).collect();
        agree += usize::from(argmax(&ours64) == argmax(&theirs));
    }
    assert_eq!(agree, 40, "the predicted digits differ from the book's");
}

#[test]
fn simple_convnet_predicts_what_the_books_forward_pass_does() {
    // SimpleConvNet(conv 6 filters 5x5, hidden 20): W2's rows are 6 x 12 x 12, C,H,W.
    let (fn_, k, hidden) = (6, 5, 20);
    let params: Params = vec![
        (
            "W1".into(),
            vec![fn_, 1, k, k],
            weights(&[fn_, 1, k, k], 0.3, 1),
        ),
        ("b1".into(), vec![fn_], weights(&[fn_], 0.1, 2)),
        (
            "W2".into(),
            vec![fn_ * 144, hidden],
            weights(&[fn_ * 144, hidden], 0.05, 3),
        ),
        ("b2".into(), vec![hidden], weights(&[hidden], 0.1, 4)),
        (
            "W3".into(),
            vec![hidden, 10],
            weights(&[hidden, 10], 0.3, 5),
        ),
        ("b3".into(), vec![10], weights(&[10], 0.1, 6)),
    ];
    let book = |p: &Params, x: &Map| {
        let h = pool(&conv_relu(x, get(p, "W1"), get(p, "b1"), [fn_, k], 0));
        let a: Vec<f64> = affine(&h.v, get(p, "W2"), get(p, "b2"))
            .iter()
            .map(|v| v.max(0.0))
            .collect();
        softmax(&affine(&a, get(p, "W3"), get(p, "b3")))
    };
    check_against_the_book(&params, book, "dlfs-simple-convnet");
}

#[test]
fn deep_convnet_predicts_what_the_books_forward_pass_does() {
    // DeepConvNet with fewer filters: pads 1, 1, 1, 2, 1, 1; 28 -> 14 -> 16 -> 8 -> 4.
    let filters = [4, 4, 6, 6, 8, 8];
    let hidden = 12;
    let mut params: Params = Vec::new();
    let mut channels = 1;
    for (i, &f) in filters.iter().enumerate() {
        let scale = (2.0 / (channels * 9) as f64).sqrt() * 1.5;
        params.push((
            format!("W{}", i + 1),
            vec![f, channels, 3, 3],
            weights(&[f, channels, 3, 3], scale, 10 + i as u64),
        ));
        params.push((
            format!("b{}", i + 1),
            vec![f],
            weights(&[f], 0.05, 20 + i as u64),
        ));
        channels = f;
    }
    params.push((
        "W7".into(),
        vec![8 * 16, hidden],
        weights(&[8 * 16, hidden], 0.2, 30),
    ));
    params.push(("b7".into(), vec![hidden], weights(&[hidden], 0.05, 31)));
    params.push((
        "W8".into(),
        vec![hidden, 10],
        weights(&[hidden, 10], 0.5, 32),
    ));
    params.push(("b8".into(), vec![10], weights(&[10], 0.3, 33)));
    let book = |p: &Params, x: &Map| {
        let mut h = image_copy(x);
        for (i, pad) in [1, 1, 1, 2, 1, 1].into_iter().enumerate() {
            let (w, b) = (
                get(p, &format!("W{}", i + 1)),
                get(p, &format!("b{}", i + 1)),
            );
            h = conv_relu(&h, w, b, [b.len(), 3], pad);
            if i % 2 == 1 {
                h = pool(&h);
            }
        }
        assert_eq!((h.c, h.h, h.w), (8, 4, 4));
        // Relu, then Dropout(0.5) at test time: x * (1 - 0.5); the same after W8.
        let a: Vec<f64> = affine(&h.v, get(p, "W7"), get(p, "b7"))
            .iter()
            .map(|v| v.max(0.0) * 0.5)
            .collect();
        let z: Vec<f64> = affine(&a, get(p, "W8"), get(p, "b8"))
            .iter()
            .map(|v| v * 0.5)
            .collect();
        softmax(&z)
    };
    check_against_the_book(&params, book, "dlfs-deep-convnet");
}

fn image_copy(x: &Map) -> Map {
    Map {
        c: x.c,
        h: x.h,
        w: x.w,
        v: x.v.clone(),
    }
}

#[test]
fn broken_book_networks_are_refused_naming_the_array() {
    let ok: Params = vec![
        ("W1".into(), vec![2, 1, 5, 5], vec![0.1; 50]),
        ("b1".into(), vec![2], vec![0.0; 2]),
        ("W2".into(), vec![2 * 144, 4], vec![0.1; 2 * 144 * 4]),
        ("b2".into(), vec![4], vec![0.0; 4]),
        ("W3".into(), vec![4, 10], vec![0.1; 40]),
        ("b3".into(), vec![10], vec![0.0; 10]),
    ];
    let import = |p: &Params| dlfs_from_bytes(&pickle_params(p), Path::new("net.pkl")).map(|_| ());
    import(&ok).unwrap();
    let with = |name: &str, shape: Vec<usize>| -> Params {
        ok.iter()
            .map(|(n, s, v)| {
                if n == name {
                    let len = shape.iter().product();
                    (n.clone(), shape.clone(), vec![0.1; len])
                } else {
                    (n.clone(), s.clone(), v.clone())
                }
            })
            .collect()
    };
    let cases: Vec<(Params, &str)> = vec![
        // The C,H,W rows of W2 must be filters x 12 x 12.
        (
            with("W2", vec![2 * 100, 4]),
            "W2 has 200 rows but the layer before it gives 288 values",
        ),
        (with("W1", vec![2, 3, 5, 5]), "W1 has shape [2, 3, 5, 5]"),
        (with("b1", vec![3]), "b1 has shape [3] but W1 has 2 outputs"),
        (
            ok.iter().filter(|(n, _, _)| n != "b3").cloned().collect(),
            "no b3",
        ),
        (with("W1", vec![2, 5, 5]), "none of the book's networks"),
    ];
    for (params, says) in cases {
        let e = import(&params).unwrap_err().to_string();
        assert!(e.contains(says) && e.contains("net.pkl"), "{says}: {e}");
    }
}
