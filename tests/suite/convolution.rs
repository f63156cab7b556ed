//! Convolution, pooling and batch normalization: forward against naive loops written
//! independently of the layers' geometry code, finite-difference gradients, and a
//! whole small CNN.

use crate::common;

use common::{check_layer_gradients, check_layer_gradients_at, random_dataset, random_vec};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scrawl::activations::Activation;
use scrawl::layers::{Layer, LayerConfig, Padding, Size2};
use scrawl::model::{ModelConfig, Sequential};
use scrawl::tensor::Tensor;

fn build(cfg: LayerConfig, input: &[usize]) -> Box<dyn Layer> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    cfg.build("layer".into(), input, &mut rng, 11).unwrap()
}

/// The output length and leading padding of axis `axis`, derived from TensorFlow's
/// documentation (`same`, `valid`) and PyTorch's (a number of cells a side).
fn tf_axis(input: usize, k: usize, s: usize, pad: Padding, axis: usize) -> (usize, usize) {
    match pad {
        Padding::Same => {
            let out = input.div_ceil(s);
            let total = ((out - 1) * s + k).saturating_sub(input);
            (out, total / 2)
        }
        Padding::Valid => ((input - k) / s + 1, 0),
        Padding::Explicit(Size2(cells)) => ((input + 2 * cells[axis] - k) / s + 1, cells[axis]),
    }
}

fn conv_cfg(f: usize, k: [usize; 2], s: [usize; 2], pad: Padding, act: Activation) -> LayerConfig {
    LayerConfig::Conv2D {
        filters: f,
        kernel_size: Size2(k),
        strides: Size2(s),
        padding: pad,
        activation: act,
        use_bias: true,
    }
}

/// (h, w, c, filters, kernel, strides, padding, batch)
type Case = (
    usize,
    usize,
    usize,
    usize,
    [usize; 2],
    [usize; 2],
    Padding,
    usize,
);

const CASES: &[Case] = &[
    (7, 7, 1, 4, [3, 3], [1, 1], Padding::Same, 3),
    (7, 7, 1, 4, [3, 3], [1, 1], Padding::Valid, 3),
    (8, 6, 3, 5, [3, 2], [2, 2], Padding::Same, 2),
    (9, 9, 2, 3, [5, 5], [2, 1], Padding::Valid, 1),
    (6, 5, 4, 2, [2, 2], [2, 2], Padding::Same, 5),
    (5, 5, 2, 3, [4, 4], [3, 3], Padding::Same, 2),
    // Patches of 1,280 values: images straddle bands of the im2col buffer (a
    // non-square kernel, so im2col runs forward, dW, and dx as a convolution of dz).
    (14, 14, 64, 8, [5, 4], [1, 1], Padding::Same, 3),
    // Forward and backward run these (stride 1, square kernels, 8+ channels) by Winograd's
    // F(4×4, r×r) (or F(5×5, 3×3), below): outputs that are not multiples of the tile, both paddings, even
    // kernels, and the `cnn` preset's 5×5 layer.
    (13, 11, 8, 16, [3, 3], [1, 1], Padding::Same, 2),
    (12, 9, 9, 7, [3, 3], [1, 1], Padding::Valid, 2),
    (10, 10, 8, 3, [2, 2], [1, 1], Padding::Same, 1),
    (9, 7, 16, 4, [4, 4], [1, 1], Padding::Valid, 2),
    (28, 28, 32, 32, [5, 5], [1, 1], Padding::Same, 1),
    // 3×3 kernels over 10×10 outputs run F(5×5, 3×3) (4 tiles of 7×7): `speedrun`'s
    // second layer (its `dx`, 12×12, by F(4×4, 3×3)), and both ways at once.
    (12, 12, 24, 32, [3, 3], [1, 1], Padding::Valid, 2),
    (10, 10, 8, 8, [3, 3], [1, 1], Padding::Same, 2),
    // One input channel, stride 1, filters a multiple of 8: the direct kernels
    // (vectors of 16 and 8 filters; rows of outputs not a multiple of the pixel
    // block; tap counts that leave blocks of 4, 2 and 1), with `dx` by im2col.
    (28, 28, 1, 24, [5, 5], [1, 1], Padding::Valid, 3),
    (28, 28, 1, 32, [5, 5], [1, 1], Padding::Same, 1),
    (7, 7, 1, 16, [3, 3], [1, 1], Padding::Same, 3),
    (11, 9, 1, 8, [3, 4], [1, 1], Padding::Valid, 2),
    // More taps (8×7 = 56) than forward holds as vectors on the stack.
    (14, 12, 1, 16, [8, 7], [1, 1], Padding::Valid, 2),
    (
        9,
        10,
        1,
        8,
        [2, 3],
        [1, 1],
        Padding::Explicit(Size2([1, 2])),
        2,
    ),
    // Explicit paddings (PyTorch's `padding=`): under the window (dx by the
    // flipped-kernel convolution, or Winograd's on 8+ channels), strided, and as wide
    // as the window (dx by scattering, even at stride 1).
    (
        9,
        8,
        3,
        4,
        [3, 3],
        [1, 1],
        Padding::Explicit(Size2([1, 2])),
        2,
    ),
    (
        12,
        10,
        8,
        6,
        [3, 3],
        [1, 1],
        Padding::Explicit(Size2([2, 2])),
        2,
    ),
    (
        6,
        6,
        2,
        3,
        [3, 3],
        [2, 2],
        Padding::Explicit(Size2([2, 1])),
        2,
    ),
    (
        5,
        5,
        2,
        2,
        [2, 2],
        [1, 1],
        Padding::Explicit(Size2([3, 2])),
        1,
    ),
];

/// The naive convolution's index pattern, from TensorFlow's geometry (not the layer's):
/// calls `tap(yi, xi, wi)` for every output element `yi` of the NHWC output, every
/// input element `xi` under its window (padding skipped) and the weight `wi` in
/// (kh, kw, c, f) order that joins them.
fn for_each_tap(case: &Case, mut tap: impl FnMut(usize, usize, usize)) {
    let &(h, w, c, f, k, s, pad, n) = case;
    let (oh, pt) = tf_axis(h, k[0], s[0], pad, 0);
    let (ow, pl) = tf_axis(w, k[1], s[1], pad, 1);
    for i in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ky in 0..k[0] {
                    for kx in 0..k[1] {
                        let iy = (oy * s[0] + ky) as isize - pt as isize;
                        let ix = (ox * s[1] + kx) as isize - pl as isize;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        let x0 = ((i * h + iy as usize) * w + ix as usize) * c;
                        let y0 = ((i * oh + oy) * ow + ox) * f;
                        for ci in 0..c {
                            for o in 0..f {
                                tap(y0 + o, x0 + ci, ((ky * k[1] + kx) * c + ci) * f + o);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Each case's inputs: dense random values, and for one-channel cases also sparse
/// versions (a fifth of the pixels off a background of 0 or of -0.42, as MNIST's
/// pixels raw and standardized), whose kernel gradient the direct path computes by
/// skipping the background.
fn inputs(case: &Case, seed: u64) -> Vec<(Tensor, &'static str)> {
    let &(h, w, c, _, _, _, _, n) = case;
    let dense = random_vec(n * h * w * c, seed);
    let shape = [n, h, w, c];
    let mut out = vec![(Tensor::from_vec(dense.clone(), &shape), "dense")];
    if c == 1 {
        for (background, name) in [(0.0, "sparse"), (-0.42, "sparse off -0.42")] {
            let sparse = dense
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    if (i * 7919 + 2) % 5 == 0 {
                        v
                    } else {
                        background
                    }
                })
                .collect();
            out.push((Tensor::from_vec(sparse, &shape), name));
        }
    }
    out
}

#[test]
fn conv2d_forward_matches_naive_loops() {
    // Training (im2col) and inference (Winograd where it applies).
    let runs = CASES.iter().flat_map(|case| {
        let xs = inputs(case, 1);
        xs.into_iter()
            .flat_map(move |(x, name)| [(case, x.clone(), name, true), (case, x, name, false)])
    });
    // Linear, and relu, which the kernels apply with the bias as they store outputs.
    let runs = runs.flat_map(|(case, x, name, training)| {
        [Activation::Linear, Activation::Relu].map(|act| (case, x.clone(), name, training, act))
    });
    for (case, x, inputs, training, act) in runs {
        let &(h, w, c, f, k, s, pad, n) = case;
        let mut l = build(conv_cfg(f, k, s, pad, act), &[h, w, c]);
        let mut y = Tensor::default();
        // A first pass with the initial weights: inference caches a transformed
        // kernel, which the weight change below must invalidate.
        l.forward(&x, &mut y, training);
        // A nonzero bias, so it is checked too, and a different kernel.
        l.for_each_param_mut(&mut |p| {
            if p.name == "bias" {
                p.value = random_vec(f, 3);
            } else {
                p.value.iter_mut().for_each(|v| *v *= -0.5);
            }
        });
        l.forward(&x, &mut y, training);
        let p = l.params();
        let (wt, b) = (&p[0].value, &p[1].value);
        let (oh, ow) = (
            tf_axis(h, k[0], s[0], pad, 0).0,
            tf_axis(w, k[1], s[1], pad, 1).0,
        );
        assert_eq!(y.shape(), &[n, oh, ow, f], "case {h}x{w}x{c} k{k:?} s{s:?}");
        let mut want: Vec<f64> = (0..y.data().len()).map(|yi| b[yi % f] as f64).collect();
        for_each_tap(case, |yi, xi, wi| {
            want[yi] += x.data()[xi] as f64 * wt[wi] as f64;
        });
        if act == Activation::Relu {
            want.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        for (yi, (&got, &want)) in y.data().iter().zip(&want).enumerate() {
            assert!(
                (want - got as f64).abs() < 1e-4,
                "case {h}x{w}x{c} k{k:?} s{s:?} {pad:?} {act:?} training={training} {inputs}: y[{yi}] = {got}, want {want}"
            );
        }
    }
}

/// Backward against naive loops in f64: `dx`, `dW` and `db` for a random `dy`
/// through a tanh and through a relu, on every case (stride-1 square kernels on 8+
/// channels compute `dx` and `dW` by Winograd). Tighter than finite differences,
/// whose f32 forward passes are themselves rounded.
#[test]
fn conv2d_backward_matches_naive_loops() {
    let runs = CASES.iter().flat_map(|case| {
        inputs(case, 4).into_iter().flat_map(move |(x, name)| {
            [Activation::Tanh, Activation::Relu].map(|act| (case, x.clone(), name, act))
        })
    });
    for (case, x, inputs, act) in runs {
        let &(h, w, c, f, k, s, pad, _) = case;
        let mut l = build(conv_cfg(f, k, s, pad, act), &[h, w, c]);
        let mut y = Tensor::default();
        l.forward(&x, &mut y, true);
        let dy0 = random_vec(y.data().len(), 5);
        let mut dy = Tensor::from_vec(dy0.clone(), y.shape());
        let mut dx = Tensor::default();
        l.for_each_param_mut(&mut |p| p.grad.fill(0.0));
        l.backward(&x, &y, &mut dy, Some(&mut dx));
        assert_eq!(dx.shape(), x.shape());
        let p = l.params();
        let (wt, dw, db) = (&p[0].value, &p[0].grad, &p[1].grad);
        // The gradient at each output, through the activation.
        let g: Vec<f64> = y
            .data()
            .iter()
            .zip(&dy0)
            .map(|(&out, &d)| match act {
                Activation::Relu if out > 0.0 => d as f64,
                Activation::Relu => 0.0,
                _ => d as f64 * (1.0 - out as f64 * out as f64),
            })
            .collect();
        let mut want_db = vec![0.0f64; f];
        for (yi, gi) in g.iter().enumerate() {
            want_db[yi % f] += gi;
        }
        let mut want_dx = vec![0.0f64; x.data().len()];
        let mut want_dw = vec![0.0f64; wt.len()];
        for_each_tap(case, |yi, xi, wi| {
            want_dx[xi] += g[yi] * wt[wi] as f64;
            want_dw[wi] += g[yi] * x.data()[xi] as f64;
        });
        let case = format!("case {h}x{w}x{c} f{f} k{k:?} s{s:?} {pad:?} {act:?} {inputs}");
        for (what, got, want) in [
            ("dx", dx.data(), &want_dx),
            ("dW", &dw[..], &want_dw),
            ("db", &db[..], &want_db),
        ] {
            // Measured against the gradient's largest value, not each element's own:
            // Winograd's transforms add and cancel terms of the whole tile, so their
            // rounding scales with the gradient, not with each sum (4e-6 of it on the
            // 5×5 case, 7 times the im2col sums'; a wrong index misses by the value).
            let scale = want.iter().fold(1.0f64, |a, w| a.max(w.abs()));
            for (j, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                assert!(
                    (*g as f64 - w).abs() < 2e-5 * scale,
                    "{case}: {what}[{j}] = {g}, want {w} (largest {scale})"
                );
            }
        }
    }
}

/// A Winograd layer keeps its transformed (flipped) kernel for `dx` between calls;
/// once the weights change (as an optimizer changes them, through
/// `for_each_param_mut`), `dx` must come from the new ones: the same bits as a layer
/// built with them.
#[test]
fn winograd_dx_follows_changed_weights() {
    let (h, w, c, f) = (13, 11, 8, 16);
    let cfg = conv_cfg(f, [3, 3], [1, 1], Padding::Same, Activation::Relu);
    let x = Tensor::from_vec(random_vec(2 * h * w * c, 21), &[2, h, w, c]);
    let grads = |l: &mut Box<dyn Layer>| {
        let (mut y, mut dx) = (Tensor::default(), Tensor::default());
        l.forward(&x, &mut y, true);
        let mut dy = Tensor::from_vec(random_vec(y.data().len(), 22), y.shape());
        l.backward(&x, &y, &mut dy, Some(&mut dx));
        dx.data().to_vec()
    };
    let mut used = build(cfg.clone(), &[h, w, c]);
    let before = grads(&mut used);
    let mut step = 0;
    used.for_each_param_mut(&mut |p| {
        step += 1;
        let shift = random_vec(p.value.len(), 30 + step);
        p.value.iter_mut().zip(shift).for_each(|(v, d)| *v += d);
    });
    let after = grads(&mut used);
    assert_ne!(before, after, "the weights changed, so must dx");
    let mut fresh = build(cfg, &[h, w, c]);
    let mut values = used.params().into_iter().map(|p| p.value.clone());
    fresh.for_each_param_mut(&mut |p| p.value = values.next().unwrap());
    let want = grads(&mut fresh);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&after), bits(&want));
}

/// Forward splits the batch's output pixels over the threads, so one image is cut
/// mid-image: any thread count must give the same values.
#[test]
fn conv2d_forward_is_the_same_on_any_thread_count() {
    for &(h, w, c, f, k, s, pad, n) in CASES {
        let run = |threads: usize, n: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut l = build(conv_cfg(f, k, s, pad, Activation::Relu), &[h, w, c]);
            let x = Tensor::from_vec(random_vec(n * h * w * c, 1), &[n, h, w, c]);
            let mut y = Tensor::default();
            pool.install(|| l.forward(&x, &mut y, false));
            y.data().to_vec()
        };
        let one = run(1, n);
        for threads in [2, 3, 7] {
            let many = run(threads, n);
            assert_eq!(one.len(), many.len());
            for (a, b) in one.iter().zip(&many) {
                assert!(
                    (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                    "{threads} threads: {a} vs {b}"
                );
            }
        }
        // A batch of one image on many threads is the first image of the batch.
        let single = run(3, 1);
        for (a, b) in single.iter().zip(&one) {
            assert!(
                (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                "batch of one: {a} vs {b}"
            );
        }
    }
}

#[test]
fn conv2d_gradients() {
    // The layers that run by Winograd (stride 1, square kernel, 8+ channels) are
    // checked by the f64 loops above instead: a Winograd forward pass rounds every
    // output differently once any weight moves, and that rounding over the step 2h is
    // as large as the smaller derivatives. Finite differences cover the im2col path.
    for (ci, &(h, w, c, f, k, s, pad, n)) in CASES.iter().enumerate() {
        if s == [1, 1] && k[0] == k[1] && c >= 8 {
            continue;
        }
        for act in [Activation::Linear, Activation::Tanh] {
            let mut l = build(conv_cfg(f, k, s, pad, act), &[h, w, c]);
            check_layer_gradients(l.as_mut(), &[n, h, w, c], true, 20 + ci as u64);
        }
    }
    // Without a bias.
    let mut l = build(
        LayerConfig::Conv2D {
            filters: 3,
            kernel_size: Size2::square(3),
            strides: Size2::square(1),
            padding: Padding::Same,
            activation: Activation::Sigmoid,
            use_bias: false,
        },
        &[5, 5, 2],
    );
    assert_eq!(l.params().len(), 1);
    check_layer_gradients(l.as_mut(), &[2, 5, 5, 2], true, 30);
}

fn pool_cfg(max: bool, size: usize, strides: Option<usize>, pad: Padding) -> LayerConfig {
    let (pool_size, strides) = (Size2::square(size), strides.map(Size2::square));
    if max {
        LayerConfig::MaxPooling2D {
            pool_size,
            strides,
            padding: pad,
        }
    } else {
        LayerConfig::AveragePooling2D {
            pool_size,
            strides,
            padding: pad,
        }
    }
}

#[test]
fn pooling_forward_matches_naive_loops() {
    // 27 channels cross every vector path: 16 + 8 + 3 lanes under AVX-512, 3 × 8 + 3
    // under AVX2. On 8×6 images, 2×2 windows tile the image (max pooling's own path).
    for (c, h, w) in [(3, 7, 6), (27, 7, 6), (27, 8, 6)] {
        pooling_forward_matches_naive_loops_on(c, h, w);
    }
}

fn pooling_forward_matches_naive_loops_on(c: usize, h: usize, w: usize) {
    let n = 2;
    let x = Tensor::from_vec(random_vec(n * h * w * c, 5), &[n, h, w, c]);
    for max in [true, false] {
        for (size, stride, pad) in [
            (2, None, Padding::Valid),
            (2, None, Padding::Same),
            (3, Some(2), Padding::Same),
            (3, Some(1), Padding::Valid),
            (3, Some(2), Padding::Explicit(Size2([1, 2]))),
        ] {
            // Training mode (max pooling records its winners) and inference mode.
            for training in [true, false] {
                let mut l = build(pool_cfg(max, size, stride, pad), &[h, w, c]);
                let mut y = Tensor::default();
                l.forward(&x, &mut y, training);
                let s = stride.unwrap_or(size);
                let (oh, pt) = tf_axis(h, size, s, pad, 0);
                let (ow, pl) = tf_axis(w, size, s, pad, 1);
                assert_eq!(y.shape(), &[n, oh, ow, c]);
                for i in 0..n {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            for ch in 0..c {
                                let mut vals = Vec::new();
                                for ky in 0..size {
                                    for kx in 0..size {
                                        let iy = (oy * s + ky) as isize - pt as isize;
                                        let ix = (ox * s + kx) as isize - pl as isize;
                                        if iy >= 0 && ix >= 0 && iy < h as isize && ix < w as isize
                                        {
                                            vals.push(
                                                x.data()[((i * h + iy as usize) * w + ix as usize)
                                                    * c
                                                    + ch],
                                            );
                                        }
                                    }
                                }
                                let want = if max {
                                    vals.iter().cloned().fold(f32::MIN, f32::max)
                                } else {
                                    vals.iter().sum::<f32>() / vals.len() as f32
                                };
                                let got = y.data()[((i * oh + oy) * ow + ox) * c + ch];
                                assert!(
                                    (want - got).abs() < 1e-6,
                                    "max={max} size {size} training={training}: {got} vs {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn pooling_gradients() {
    for max in [true, false] {
        for (size, stride, pad) in [
            (2, None, Padding::Valid),
            (2, None, Padding::Same),
            (3, Some(2), Padding::Same),
            (3, Some(1), Padding::Valid),
            (3, Some(2), Padding::Explicit(Size2([1, 2]))),
        ] {
            let mut l = build(pool_cfg(max, size, stride, pad), &[7, 6, 3]);
            check_layer_gradients(l.as_mut(), &[2, 7, 6, 3], true, 40);
        }
    }
    // Windows that tile the image (every input cell written once), and more channels
    // than max pooling's backward routes at a time.
    for max in [true, false] {
        let mut l = build(pool_cfg(max, 2, None, Padding::Valid), &[8, 6, 3]);
        check_layer_gradients(l.as_mut(), &[2, 8, 6, 3], true, 42);
        // Values 0.03 apart within each window, so no finite difference crosses a tie.
        let n = 2 * 4 * 4 * 70;
        let x: Vec<f32> = (0..n)
            .map(|i| ((i * 37) % 67) as f32 * 0.03 - 1.0)
            .collect();
        let mut l = build(pool_cfg(max, 2, None, Padding::Valid), &[4, 4, 70]);
        check_layer_gradients_at(l.as_mut(), &Tensor::from_vec(x, &[2, 4, 4, 70]), true, 43);
    }
    let mut l = build(LayerConfig::GlobalAveragePooling2D, &[4, 5, 3]);
    assert_eq!(l.output_shape(), &[3]);
    check_layer_gradients(l.as_mut(), &[2, 4, 5, 3], true, 41);
}

/// Max pooling's backward finds each window's winner again from `x` and `y`: on a
/// tie the first cell in row-major window order gets the whole gradient (the cell a
/// running maximum keeps), in tiling and in overlapping windows alike.
#[test]
fn max_pooling_routes_ties_to_the_first_cell() {
    // One 4×4 image, one channel, all values equal but one larger in the last window.
    let mut xv = vec![0.5f32; 16];
    xv[15] = 2.0;
    let x = Tensor::from_vec(xv, &[1, 4, 4, 1]);
    for (stride, want) in [
        // 2×2 windows tiling the image: cells 0, 2, 8 win their ties; 15 is larger.
        (None, vec![(0, 1.0), (2, 2.0), (8, 3.0), (15, 4.0)]),
        // 2×2 windows every 2 rows, every cell: overlapping windows add up.
        (Some(1), vec![]),
    ] {
        let mut l = build(pool_cfg(true, 2, stride, Padding::Valid), &[4, 4, 1]);
        let mut y = Tensor::default();
        l.forward(&x, &mut y, true);
        let outputs = y.data().len();
        let mut dy = Tensor::from_vec((1..=outputs).map(|v| v as f32).collect(), y.shape());
        let mut dx = Tensor::default();
        l.backward(&x, &y, &mut dy, Some(&mut dx));
        if stride.is_none() {
            let mut expect = [0.0f32; 16];
            for (cell, g) in want {
                expect[cell] = g;
            }
            assert_eq!(dx.data(), &expect[..]);
        } else {
            // 3×3 outputs; windows (oy, ox) not touching cell 15 tie, so their
            // gradient goes to their top-left cell (oy·4 + ox); the last window's to 15.
            let mut expect = [0.0f32; 16];
            for oy in 0..3 {
                for ox in 0..3 {
                    let g = (oy * 3 + ox + 1) as f32;
                    let cell = if (oy, ox) == (2, 2) { 15 } else { oy * 4 + ox };
                    expect[cell] += g;
                }
            }
            assert_eq!(dx.data(), &expect[..]);
        }
    }
}

/// A Rescaling first (the `speedrun` preset's standardization), then a convolution
/// of one channel (the direct kernels): the model's gradients against finite
/// differences, after `compile` (which stops backward at the first layer with
/// weights, here the convolution).
#[test]
fn rescaling_first_model_gradients() {
    let cfg = ModelConfig {
        name: "t".into(),
        input_shape: vec![8, 8, 1],
        layers: vec![
            LayerConfig::standardize(0.1307, 0.3081),
            conv_cfg(8, [3, 3], [1, 1], Padding::Valid, Activation::Tanh),
            // Average pooling: max pooling's ties would make finite differences jump.
            pool_cfg(false, 2, None, Padding::Valid),
            LayerConfig::Flatten,
            LayerConfig::Dense {
                units: 4,
                activation: Activation::Softmax,
                use_bias: true,
            },
        ],
    };
    let data = random_dataset(5, [8, 8, 1], 4, 7);
    let idx: Vec<usize> = (0..5).collect();
    let mut m = Sequential::new(cfg, 5).unwrap();
    m.compile(
        &scrawl::optim::OptimizerConfig::sgd(),
        scrawl::loss::Loss::default(),
    )
    .unwrap();
    m.compute_gradients(&data, &idx, true);
    let params: Vec<(String, Vec<f32>)> = m
        .named_params()
        .into_iter()
        .filter(|(_, p)| p.trainable)
        .map(|(n, p)| (n, p.grad.clone()))
        .collect();
    assert_eq!(params.len(), 4);
    // The same as a backward through every layer (a model not compiled runs them all).
    let mut full = Sequential::new(m.config().clone(), 5).unwrap();
    full.compute_gradients(&data, &idx, true);
    let full: Vec<(String, Vec<f32>)> = full
        .named_params()
        .into_iter()
        .map(|(n, p)| (n, p.grad.clone()))
        .collect();
    assert_eq!(params, full);
    common::check_model_gradients(&mut m, &data, &idx, true, 3);
}

/// `Rescaling`: `x · scale + offset` forward, `dy · scale` backward.
#[test]
fn rescaling_forward_and_gradients() {
    let mut l = build(LayerConfig::standardize(0.5, 0.25), &[3, 2, 1]);
    let x = Tensor::from_vec(random_vec(12, 8), &[2, 3, 2, 1]);
    let mut y = Tensor::default();
    l.forward(&x, &mut y, true);
    for (&xv, &yv) in x.data().iter().zip(y.data()) {
        assert!((yv - (xv - 0.5) / 0.25).abs() < 1e-5, "{xv} -> {yv}");
    }
    check_layer_gradients(l.as_mut(), &[2, 3, 2, 1], true, 9);
    let bad = LayerConfig::Rescaling {
        scale: f32::NAN,
        offset: 0.0,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let err = bad.build("r".into(), &[4], &mut rng, 1).err().unwrap();
    assert!(err.to_string().contains("Rescaling"), "{err}");
}

#[test]
fn batch_norm_normalizes_and_tracks_moving_statistics() {
    let mut l = build(
        LayerConfig::BatchNormalization {
            momentum: 0.9,
            epsilon: 1e-3,
        },
        &[3, 3, 2],
    );
    // Channel 0 has mean ≈ 5 and variance ≈ 4; channel 1 mean ≈ -1, variance ≈ 0.25.
    let n = 50;
    let r = random_vec(n * 18, 9);
    let xs: Vec<f32> = r
        .chunks_exact(2)
        .flat_map(|p| [5.0 + 2.0 * 1.7 * p[0], -1.0 + 0.5 * 1.7 * p[1]])
        .collect();
    let x = Tensor::from_vec(xs.clone(), &[n, 3, 3, 2]);
    let mut y = Tensor::default();
    l.forward(&x, &mut y, true);
    for ch in 0..2 {
        let v: Vec<f64> = y
            .data()
            .iter()
            .skip(ch)
            .step_by(2)
            .map(|&v| v as f64)
            .collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 1e-5, "channel {ch} mean {mean}");
        assert!((var - 1.0).abs() < 1e-2, "channel {ch} variance {var}");
        // Moving mean moved 10% of the way from 0 to the batch mean.
        let xm: f64 = xs
            .iter()
            .skip(ch)
            .step_by(2)
            .map(|&v| v as f64)
            .sum::<f64>()
            / v.len() as f64;
        let mm = l.params()[2].value[ch] as f64;
        assert!(
            (mm - 0.1 * xm).abs() < 1e-4,
            "moving mean {mm} vs {}",
            0.1 * xm
        );
    }
    assert_eq!(l.trainable_param_count(), 4);
    assert_eq!(l.param_count(), 8);
}

#[test]
fn batch_norm_gradients() {
    for shape in [vec![3, 3, 2], vec![7]] {
        for training in [true, false] {
            let mut l = build(
                LayerConfig::BatchNormalization {
                    momentum: 0.99,
                    epsilon: 1e-3,
                },
                &shape,
            );
            // Non-trivial γ and β (and moving statistics, for inference mode).
            l.for_each_param_mut(&mut |p| {
                let len = p.value.len();
                let r = random_vec(len, 50 + len as u64);
                match p.name {
                    "gamma" => p.value = r.iter().map(|v| 1.0 + 0.5 * v).collect(),
                    "beta" | "moving_mean" => p.value = r,
                    _ => p.value = r.iter().map(|v| 1.0 + 0.5 * v.abs()).collect(),
                }
            });
            let mut input = vec![4];
            input.extend(&shape);
            check_layer_gradients(l.as_mut(), &input, training, 51);
        }
    }
}

/// A BatchNormalization that runs the relu after it (`Layer::fuse_next`): output,
/// `dx`, `dγ` and `dβ` against f64 loops of `relu(γ·x̂ + β)` and its gradient, with
/// batch statistics (training) and moving ones (inference). Finite differences would
/// cross relu's kink; the loops need no step.
#[test]
fn batch_norm_fused_with_relu_against_f64_loops() {
    let (m, c) = (24, 3);
    for training in [true, false] {
        let mut bn = build(
            LayerConfig::BatchNormalization {
                momentum: 0.9,
                epsilon: 1e-3,
            },
            &[2, 2, c],
        );
        let relu = build(
            LayerConfig::Activation {
                activation: Activation::Relu,
            },
            &[2, 2, c],
        );
        assert!(bn.fuse_next(relu.as_ref()));
        let r = random_vec(4 * c, 60);
        bn.for_each_param_mut(&mut |p| match p.name {
            "gamma" => p.value = r[..c].iter().map(|v| 1.0 + 0.5 * v).collect(),
            "beta" => p.value = r[c..2 * c].to_vec(),
            "moving_mean" => p.value = r[2 * c..3 * c].to_vec(),
            _ => p.value = r[3 * c..].iter().map(|v| 0.5 + v.abs()).collect(),
        });
        let get = |l: &dyn Layer, name: &str| -> Vec<f64> {
            let p = l.params().into_iter().find(|p| p.name == name).unwrap();
            p.value.iter().map(|&v| v as f64).collect()
        };
        let (gamma, beta) = (get(bn.as_ref(), "gamma"), get(bn.as_ref(), "beta"));
        let (mm, mv) = (
            get(bn.as_ref(), "moving_mean"),
            get(bn.as_ref(), "moving_variance"),
        );
        let x = Tensor::from_vec(random_vec(m * c, 61), &[m / 4, 2, 2, c]);
        let dy = random_vec(m * c, 62);
        let mut y = Tensor::default();
        bn.forward(&x, &mut y, training);
        let mut dx = Tensor::default();
        let mut dy_t = Tensor::from_vec(dy.clone(), x.shape());
        bn.backward(&x, &y, &mut dy_t, Some(&mut dx));

        let xs: Vec<f64> = x.data().iter().map(|&v| v as f64).collect();
        for j in 0..c {
            let col = |v: &[f64]| -> Vec<f64> { (0..m).map(|i| v[i * c + j]).collect() };
            let xj = col(&xs);
            let (mean, var) = if training {
                let mean = xj.iter().sum::<f64>() / m as f64;
                (
                    mean,
                    xj.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m as f64,
                )
            } else {
                (mm[j], mv[j])
            };
            let inv = 1.0 / (var + 1e-3).sqrt();
            let xhat: Vec<f64> = xj.iter().map(|v| (v - mean) * inv).collect();
            let z: Vec<f64> = xhat.iter().map(|h| gamma[j] * h + beta[j]).collect();
            assert!(z.iter().all(|z| z.abs() > 1e-4), "an input on the kink");
            let g: Vec<f64> = (0..m)
                .map(|i| {
                    if z[i] > 0.0 {
                        dy[i * c + j] as f64
                    } else {
                        0.0
                    }
                })
                .collect();
            let (sum_g, sum_gx) = (
                g.iter().sum::<f64>(),
                g.iter().zip(&xhat).map(|(g, h)| g * h).sum::<f64>(),
            );
            let close = |what: &str, got: f32, want: f64| {
                let err = (got as f64 - want).abs() / want.abs().max(1.0);
                assert!(err < 1e-5, "training {training}, {what}: {got} vs {want}");
            };
            for i in 0..m {
                close("y", y.data()[i * c + j], z[i].max(0.0));
                let want = if training {
                    gamma[j] * inv * (g[i] - sum_g / m as f64 - xhat[i] * sum_gx / m as f64)
                } else {
                    gamma[j] * inv * g[i]
                };
                close("dx", dx.data()[i * c + j], want);
            }
            let grad = |name: &str| {
                let p = bn.params().into_iter().find(|p| p.name == name).unwrap();
                p.grad[j]
            };
            close("dgamma", grad("gamma"), sum_gx);
            close("dbeta", grad("beta"), sum_g);
        }
    }
}

/// A small CNN with every new layer: the mean loss's gradient w.r.t. every parameter.
#[test]
fn whole_cnn_gradients() {
    let layers = vec![
        conv_cfg(3, [3, 3], [1, 1], Padding::Same, Activation::Tanh),
        LayerConfig::BatchNormalization {
            momentum: 0.99,
            epsilon: 1e-3,
        },
        pool_cfg(true, 2, None, Padding::Valid),
        conv_cfg(4, [2, 2], [1, 1], Padding::Valid, Activation::Sigmoid),
        pool_cfg(false, 2, Some(1), Padding::Same),
        LayerConfig::Flatten,
        LayerConfig::Dense {
            units: 5,
            activation: Activation::Softmax,
            use_bias: true,
        },
    ];
    let cfg = ModelConfig {
        name: "t".into(),
        input_shape: vec![6, 6, 1],
        layers,
    };
    let data = random_dataset(5, [6, 6, 1], 5, 3);
    let idx: Vec<usize> = (0..5).collect();
    let mut m = Sequential::new(cfg, 5).unwrap();
    m.compute_gradients(&data, &idx, true);
    let params: Vec<(String, Vec<f32>)> = m
        .named_params()
        .into_iter()
        .filter(|(_, p)| p.trainable)
        .map(|(n, p)| (n, p.grad.clone()))
        .collect();
    assert_eq!(params.len(), 8);
    common::check_model_gradients(&mut m, &data, &idx, true, 3);
}

#[test]
fn preset_summaries_match_keras() {
    let m = Sequential::new(scrawl::presets::preset("cnn").unwrap(), 1).unwrap();
    let s = m.summary();
    for (row, params) in [
        ("conv2d (Conv2D)", "832"),
        ("conv2d_1 (Conv2D)", "25,632"),
        ("conv2d_2 (Conv2D)", "18,496"),
        ("conv2d_3 (Conv2D)", "36,928"),
        ("dense (Dense)", "803,072"),
        ("dense_1 (Dense)", "2,570"),
    ] {
        let line = s
            .lines()
            .find(|l| l.contains(row))
            .unwrap_or_else(|| panic!("{s}"));
        assert!(line.trim_end().ends_with(params), "{line}");
    }
    assert!(
        s.contains("(None, 28, 28, 32)") && s.contains("(None, 7, 7, 64)"),
        "{s}"
    );
    assert!(s.contains("Total params: 887,530"), "{s}");
    let m = Sequential::new(scrawl::presets::preset("convnet").unwrap(), 1).unwrap();
    assert_eq!(m.param_count(), 34_826, "{}", m.summary());
    let m = Sequential::new(scrawl::presets::preset("cnn-deep").unwrap(), 1).unwrap();
    assert!(m.summary().contains("(None, 3, 3, 128)"), "{}", m.summary());
}

#[test]
fn bad_image_layer_configs_are_clear_errors() {
    let json = r#"{"name": "x", "input_shape": [28, 28, 1], "layers": [
        {"type": "Conv2D", "filters": 8, "kernel_size": [3, 3], "padding": "same"},
        {"type": "MaxPooling2D"}, {"type": "Flatten"},
        {"type": "Dense", "units": 10, "activation": "softmax"}]}"#;
    let cfg: ModelConfig = serde_json::from_str(json).unwrap();
    assert_eq!(
        Sequential::new(cfg, 0).unwrap().param_count(),
        80 + 14 * 14 * 8 * 10 + 10
    );
    for (layer, needle) in [
        (
            r#"{"type": "Conv2D", "filters": 8, "kernel_size": 30}"#,
            "does not fit",
        ),
        (
            r#"{"type": "Conv2D", "filters": 0, "kernel_size": 3}"#,
            "filters",
        ),
        (
            r#"{"type": "Conv2D", "filters": 4, "kernel_size": 3, "strides": 0}"#,
            "strides",
        ),
        (
            r#"{"type": "MaxPooling2D", "pool_size": [0, 2]}"#,
            "pool_size",
        ),
        (
            r#"{"type": "BatchNormalization", "momentum": 2}"#,
            "momentum",
        ),
    ] {
        let json = format!(
            r#"{{"name": "x", "input_shape": [28, 28, 1], "layers": [{layer}, {{"type": "Flatten"}}, {{"type": "Dense", "units": 10}}]}}"#
        );
        let cfg: ModelConfig = serde_json::from_str(&json).unwrap();
        let err = Sequential::new(cfg, 0).unwrap_err().to_string();
        assert!(err.contains(needle), "{layer}: {err}");
    }
    // Conv2D on a flat input.
    let json = r#"{"name": "x", "input_shape": [784], "layers": [
        {"type": "Conv2D", "filters": 8, "kernel_size": 3}]}"#;
    let cfg: ModelConfig = serde_json::from_str(json).unwrap();
    let err = Sequential::new(cfg, 0).unwrap_err().to_string();
    assert!(err.contains("[28, 28, 1]"), "{err}");
    // A kernel size that is neither a number nor a pair.
    let json = r#"{"name": "x", "input_shape": [28, 28, 1], "layers": [
        {"type": "Conv2D", "filters": 8, "kernel_size": "big"}]}"#;
    let err = serde_json::from_str::<ModelConfig>(json)
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected a size"), "{err}");
}

#[test]
fn one_line_stacks_build_the_same_models_as_config_files() {
    let stack = scrawl::stack::parse_stack(
        "Conv2D(32,3,activation=relu) MaxPooling2D conv(64, 3x3, activation=relu), maxpool \
         Flatten Dropout(0.5) Dense(10,softmax)",
    )
    .unwrap();
    let preset = scrawl::presets::preset("convnet").unwrap();
    assert_eq!(stack.layers, preset.layers);
    assert_eq!(stack.input_shape, vec![28, 28, 1]);
    // The CLI's --model goes through preset(), which recognizes a stack.
    let m = scrawl::presets::preset("Dense(64,relu) Dense(10,activation=softmax)").unwrap();
    assert_eq!(m.input_shape, vec![784]);
    assert_eq!(m.layers.len(), 2);
    let a = scrawl::presets::preset("Conv2D(32,5,same,relu)").unwrap();
    let b = scrawl::presets::preset(
        "Conv2D(filters=32,kernel_size=5x5,padding=same,activation=relu,strides=1)",
    )
    .unwrap();
    assert_eq!(a.layers, b.layers);
    assert_eq!(
        a.layers[0],
        scrawl::presets::preset("cnn").unwrap().layers[0]
    );
    let m = scrawl::presets::preset("conv(8,3,2,same) bn relu gap Dense(10,softmax)").unwrap();
    assert!(matches!(
        m.layers[2],
        LayerConfig::Activation {
            activation: Activation::Relu
        }
    ));
    assert_eq!(
        Sequential::new(m, 0).unwrap().trainable_param_count(),
        80 + 16 + 90
    );
    for (spec, needle) in [
        (
            "Conv2D(32,big) Flatten",
            "unknown activation or padding 'big'",
        ),
        ("Conv2D(32,kernel_size=big) Flatten", "expected a size"),
        ("Conv2D(32,3,1,same,relu,7)", "too many positional"),
        ("Conv2D(32,3,1,same,relu,linear)", "given twice"),
        ("Conv2D(32,3) Dense(10", "unmatched '('"),
        ("Conv2D(32,3,kernel=3)", "unknown field `kernel`"),
        ("Conv2D(32,3) Pool(2)", "unknown layer 'Pool'"),
        ("Dense(units=3,4)", "after a key=value"),
        ("Dense(3,units=4)", "given twice"),
    ] {
        let err = scrawl::stack::parse_stack(spec).unwrap_err().to_string();
        assert!(err.contains(needle), "{spec}: {err}");
    }
}

#[test]
fn keras_spelling_of_layers_is_understood() {
    use scrawl::stack::parse_stack;
    let keras = parse_stack(
        "Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)) \
         MaxPooling2D(pool_size=(2, 2)) Conv2D(64, kernel_size=[3, 3], activation=\"relu\") \
         MaxPooling2D((2,2)) Flatten() Dropout(0.5) Dense(10, activation='softmax')",
    )
    .unwrap();
    let preset = scrawl::presets::preset("convnet").unwrap();
    assert_eq!(keras.layers, preset.layers);
    assert_eq!(keras.input_shape, vec![28, 28, 1]);
    // PyTorch-style padding in cells, Python's booleans, an input shape on a Dense.
    let m = parse_stack("Conv2D(4, 3, padding=2, use_bias=False) Flatten Dense(10)").unwrap();
    assert!(matches!(
        m.layers[0],
        LayerConfig::Conv2D {
            padding: Padding::Explicit(Size2([2, 2])),
            use_bias: false,
            ..
        }
    ));
    let model = Sequential::new(m, 0).unwrap();
    assert_eq!(model.layers()[0].output_shape(), &[30, 30, 4]);
    let m = parse_stack("Conv2D(4, 3, padding=(1, 0)) Flatten Dense(10)").unwrap();
    let model = Sequential::new(m, 0).unwrap();
    assert_eq!(model.layers()[0].output_shape(), &[28, 26, 4]);
    let m = parse_stack("Dense(16, input_shape=(784,)) Dense(10, activation='softmax')").unwrap();
    assert_eq!(m.input_shape, vec![784]);
    for (spec, needle) in [
        (
            "Dense(128,gelu) Dense(10)",
            "unknown activation or padding 'gelu'",
        ),
        ("Dense(128,'gelu') Dense(10)", "relu, sigmoid"),
        (
            "Dense(3) Dense(10, input_shape=(5,))",
            "belongs on the first layer",
        ),
        (
            "Dense(4, input_shape=(0,)) Dense(10)",
            "input_shape must be",
        ),
        ("Conv2D(8,3,padding='wide') Flatten", "expected a padding"),
        ("Conv2D(8,3,padding=99999) Flatten", "at most 4096"),
        ("Dense(3, activation='relu) Dense(10)", "unclosed quote"),
        ("Conv2D(8,(3,3) Flatten", "unmatched"),
    ] {
        let err = parse_stack(spec).unwrap_err().to_string();
        assert!(err.contains(needle), "{spec}: {err}");
    }
}

#[test]
fn explicit_padding_survives_json_and_model_files() {
    let config = ModelConfig::from_json(
        r#"{"name": "padded", "input_shape": [28, 28, 1], "layers": [
            {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": [2, 1], "activation": "relu"},
            {"type": "MaxPooling2D", "padding": 1},
            {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]}"#,
        std::path::Path::new("padded.json"),
    )
    .unwrap();
    let model = Sequential::new(config, 3).unwrap();
    assert_eq!(model.layers()[0].output_shape(), &[30, 28, 4]);
    assert_eq!(model.layers()[1].output_shape(), &[16, 15, 4]);
    let bytes = model.to_bytes(&Default::default()).unwrap();
    let (back, _) = Sequential::from_bytes(&bytes).unwrap();
    assert_eq!(back.config(), model.config());
    let x = random_vec(2 * 784, 9);
    assert_eq!(
        back.predict_values(&x).unwrap(),
        model.predict_values(&x).unwrap()
    );
}

#[test]
fn zero_padding_pads_crops_and_matches_a_padded_convolution() {
    use scrawl::layers::Margins;
    let (n, h, w, c) = (2, 4, 5, 3);
    let margins = [[1, 2], [3, 0]];
    let mut l = build(
        LayerConfig::ZeroPadding2D {
            padding: Margins(margins),
        },
        &[h, w, c],
    );
    let x = Tensor::from_vec(random_vec(n * h * w * c, 2), &[n, h, w, c]);
    let mut y = Tensor::default();
    l.forward(&x, &mut y, true);
    let (oh, ow) = (h + 3, w + 3);
    assert_eq!(y.shape(), &[n, oh, ow, c]);
    for i in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let (iy, ix) = (oy as isize - 1, ox as isize - 3);
                    let inside = (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                    let want = if inside {
                        x.data()[((i * h + iy as usize) * w + ix as usize) * c + ch]
                    } else {
                        0.0
                    };
                    assert_eq!(y.data()[((i * oh + oy) * ow + ox) * c + ch], want);
                }
            }
        }
    }
    check_layer_gradients(l.as_mut(), &[n, h, w, c], true, 5);
    // ZeroPadding2D(p) then a valid Conv2D is Conv2D(padding=p), weights and all.
    let pad = |p: Padding| conv_cfg(4, [3, 3], [1, 1], p, Activation::Relu);
    let a = ModelConfig {
        name: "a".into(),
        input_shape: vec![9, 8, 8],
        layers: vec![
            LayerConfig::ZeroPadding2D {
                padding: Margins([[2, 2], [1, 1]]),
            },
            pad(Padding::Valid),
            LayerConfig::Flatten,
            LayerConfig::dense(10, Activation::Softmax),
        ],
    };
    let b = ModelConfig {
        layers: vec![
            pad(Padding::Explicit(Size2([2, 1]))),
            LayerConfig::Flatten,
            LayerConfig::dense(10, Activation::Softmax),
        ],
        ..a.clone()
    };
    let (ma, mut mb) = (
        Sequential::new(a, 1).unwrap(),
        Sequential::new(b, 2).unwrap(),
    );
    let weights: Vec<Vec<f32>> = ma
        .named_params()
        .iter()
        .map(|(_, p)| p.value.clone())
        .collect();
    let mut k = 0;
    mb.for_each_param_mut(|_, p| {
        p.value.clone_from(&weights[k]);
        k += 1;
    });
    let x = random_vec(3 * 9 * 8 * 8, 6);
    let (pa, pb) = (
        ma.predict_values(&x).unwrap(),
        mb.predict_values(&x).unwrap(),
    );
    for (a, b) in pa.iter().zip(&pb) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    // Keras's three spellings, in strings and JSON.
    let stack = scrawl::stack::parse_stack;
    for (spec, want) in [
        ("ZeroPadding2D Flatten", [[1, 1], [1, 1]]),
        ("ZeroPadding2D(2) Flatten", [[2, 2], [2, 2]]),
        ("ZeroPadding2D(padding=(1, 2)) Flatten", [[1, 1], [2, 2]]),
        ("ZeroPadding2D(((1, 2), (3, 4))) Flatten", [[1, 2], [3, 4]]),
    ] {
        let m = stack(spec).unwrap();
        assert_eq!(m.input_shape, vec![28, 28, 1], "{spec}");
        assert_eq!(
            m.layers[0],
            LayerConfig::ZeroPadding2D {
                padding: Margins(want)
            },
            "{spec}"
        );
    }
    let err = stack("ZeroPadding2D((1, 2, 3)) Flatten")
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected margins"), "{err}");
}
