//! Finite-difference checks of every layer's backward, of the loss, and of whole
//! small networks.

use crate::common;

use common::{check_layer_gradients, random_dataset, rel_err};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scrawl::activations::Activation;
use scrawl::layers::{LayerConfig, Padding};
use scrawl::loss::Loss;
use scrawl::model::{ModelConfig, Sequential};
use scrawl::tensor::Tensor;

const ACTS: [Activation; 5] = [
    Activation::Linear,
    Activation::Relu,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Softmax,
];

fn build(cfg: LayerConfig, input: &[usize]) -> Box<dyn scrawl::layers::Layer> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    cfg.build("layer".into(), input, &mut rng, 11).unwrap()
}

/// A Dense layer of `units` with a bias and no activation, on `k` inputs.
fn linear_dense(units: usize, k: usize) -> Box<dyn scrawl::layers::Layer> {
    let dense = LayerConfig::Dense {
        units,
        activation: Activation::Linear,
        use_bias: true,
    };
    build(dense, &[k])
}

#[test]
fn dense_gradients_for_every_activation() {
    for act in ACTS {
        for use_bias in [true, false] {
            let mut l = build(
                LayerConfig::Dense {
                    units: 7,
                    activation: act,
                    use_bias,
                },
                &[13],
            );
            check_layer_gradients(l.as_mut(), &[5, 13], true, 3);
        }
    }
}

/// Inputs with all-zero columns (MNIST's empty borders): forward equals the plain
/// product and the kernel rows of zero columns get exactly zero gradient.
#[test]
fn dense_gradients_with_zero_input_columns() {
    let (n, k) = (6, 16);
    let mut xs: Vec<f32> = common::random_vec(n * k, 8)
        .iter()
        .map(|v| v.signum() * (0.05 + 0.95 * v.abs()))
        .collect();
    let zero_cols = [0, 1, 2, 7, 15];
    for row in xs.chunks_exact_mut(k) {
        for &j in &zero_cols {
            row[j] = 0.0;
        }
    }
    let x = Tensor::from_vec(xs, &[n, k]);
    for act in [Activation::Relu, Activation::Softmax] {
        let mut l = build(
            LayerConfig::Dense {
                units: 5,
                activation: act,
                use_bias: true,
            },
            &[k],
        );
        common::check_layer_gradients_at(l.as_mut(), &x, true, 4);
        // The forward equals the plain product.
        let mut y = Tensor::default();
        l.forward(&x, &mut y, false);
        let p = l.params();
        let (w, b) = (&p[0].value, &p[1].value);
        for i in 0..n {
            let mut z: Vec<f32> = (0..5)
                .map(|u| b[u] + (0..k).map(|j| x.row(i)[j] * w[j * 5 + u]).sum::<f32>())
                .collect();
            act.forward_row(&mut z);
            for (u, (&want, &got)) in z.iter().zip(y.row(i)).enumerate() {
                assert!(
                    (want - got).abs() < 1e-5,
                    "row {i} unit {u}: {want} vs {got}"
                );
            }
        }
        // Kernel rows of zero columns get no gradient.
        l.for_each_param_mut(&mut |p| p.grad.fill(0.0));
        let mut dy = Tensor::from_vec(vec![1.0; n * 5], &[n, 5]);
        l.backward(&x, &y, &mut dy, None);
        let g = &l.params()[0].grad;
        for &j in &zero_cols {
            assert!(g[j * 5..(j + 1) * 5].iter().all(|&v| v == 0.0));
        }
    }
}

/// A batch of mostly-zero inputs (as MNIST's pixels, a sixth nonzero) small enough
/// for the kernel gradient that skips zeros: finite differences, the training
/// forward pass and `dW = xᵀ · dz` against f64 loops, for batches on both sides of the sparse path's limit.
#[test]
fn dense_gradients_on_sparse_inputs() {
    let k = 100;
    for n in [20, 64, 65] {
        let xs: Vec<f32> = common::random_vec(n * k, 12)
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if (i * 7919) % 6 == 0 {
                    0.1 + v.abs()
                } else {
                    0.0
                }
            })
            .collect();
        let x = Tensor::from_vec(xs, &[n, k]);
        let mut l = build(
            LayerConfig::Dense {
                units: 40,
                activation: Activation::Tanh,
                use_bias: true,
            },
            &[k],
        );
        common::check_layer_gradients_at(l.as_mut(), &x, true, 13);
        let mut y = Tensor::default();
        l.forward(&x, &mut y, true);
        // The training forward pass skips the zeros too: y = tanh(x · W + b) in f64.
        let (w, b) = (&l.params()[0].value, &l.params()[1].value);
        for i in 0..n {
            for u in 0..40 {
                let z: f64 = b[u] as f64
                    + (0..k)
                        .map(|p| x.data()[i * k + p] as f64 * w[p * 40 + u] as f64)
                        .sum::<f64>();
                let got = y.data()[i * 40 + u] as f64;
                assert!(
                    (got - z.tanh()).abs() < 1e-5,
                    "batch {n}: y[{i}][{u}] = {got}, want {}",
                    z.tanh()
                );
            }
        }
        let dy0 = common::random_vec(n * 40, 14);
        let mut dy = Tensor::from_vec(dy0.clone(), &[n, 40]);
        l.for_each_param_mut(&mut |p| p.grad.fill(0.0));
        l.backward(&x, &y, &mut dy, None);
        let dw = &l.params()[0].grad;
        for p in 0..k {
            for u in 0..40 {
                let want: f64 = (0..n)
                    .map(|i| {
                        let out = y.data()[i * 40 + u] as f64;
                        let dz = dy0[i * 40 + u] as f64 * (1.0 - out * out);
                        x.data()[i * k + p] as f64 * dz
                    })
                    .sum();
                let got = dw[p * 40 + u] as f64;
                assert!(
                    (got - want).abs() < 1e-5 * (1.0 + want.abs()),
                    "batch {n}: dW[{p}][{u}] = {got}, want {want}"
                );
            }
        }
    }
}

#[test]
fn activation_layer_gradients() {
    for act in ACTS {
        let mut l = build(LayerConfig::Activation { activation: act }, &[9]);
        check_layer_gradients(l.as_mut(), &[4, 9], true, 5);
    }
}

#[test]
fn flatten_gradients() {
    let mut l = build(LayerConfig::Flatten, &[3, 4, 2]);
    check_layer_gradients(l.as_mut(), &[2, 3, 4, 2], true, 9);
}

#[test]
fn dropout_is_identity_in_inference_and_gradient_follows_mask() {
    let mut l = build(LayerConfig::Dropout { rate: 0.4 }, &[1000]);
    // Inference: identity, and its gradient is the identity.
    check_layer_gradients(l.as_mut(), &[3, 1000], false, 1);
    // Training: each value is 0 or x / 0.6, about 40% zeros, and backward uses the same mask.
    let x = Tensor::from_vec(vec![1.0; 3000], &[3, 1000]);
    let mut y = Tensor::default();
    l.forward(&x, &mut y, true);
    let zeros = y.data().iter().filter(|&&v| v == 0.0).count();
    assert!(
        (1000..1400).contains(&zeros),
        "{zeros} of 3000 dropped at rate 0.4"
    );
    assert!(
        y.data()
            .iter()
            .all(|&v| v == 0.0 || (v - 1.0 / 0.6).abs() < 1e-6)
    );
    let mut dy = Tensor::from_vec(vec![2.0; 3000], &[3, 1000]);
    let mut dx = Tensor::default();
    l.backward(&x, &y, &mut dy, Some(&mut dx));
    for (d, o) in dx.data().iter().zip(y.data()) {
        assert_eq!(*d, 2.0 * o);
    }
}

/// Numeric gradient of the mean loss w.r.t. logits z, where p = softmax(z).
#[test]
fn fused_softmax_cross_entropy_gradient() {
    let (n, k) = (4, 10);
    let z = common::random_vec(n * k, 21)
        .iter()
        .map(|v| v * 3.0)
        .collect::<Vec<_>>();
    let labels = [3u8, 0, 9, 5];
    for smoothing in [0.0f32, 0.1] {
        let loss = Loss::CategoricalCrossentropy {
            label_smoothing: smoothing,
        };
        let probs = |z: &[f32]| {
            let mut p = z.to_vec();
            p.chunks_exact_mut(k)
                .for_each(scrawl::activations::softmax_row);
            Tensor::from_vec(p, &[n, k])
        };
        let mut g = Tensor::default();
        loss.compute(&probs(&z), &labels, Some(&mut g), true);
        let h = 1e-2;
        for i in 0..n * k {
            let mut zp = z.clone();
            zp[i] += h;
            let lp = loss.compute(&probs(&zp), &labels, None, false).loss_sum / n as f64;
            zp[i] -= 2.0 * h;
            let lm = loss.compute(&probs(&zp), &labels, None, false).loss_sum / n as f64;
            let num = (lp - lm) / (2.0 * h as f64);
            assert!(
                rel_err(g.data()[i] as f64, num) < 5e-3,
                "dz[{i}] {} vs {num}",
                g.data()[i]
            );
        }
    }
}

/// Gradient w.r.t. probabilities (a model not ending in softmax).
#[test]
fn cross_entropy_gradient_wrt_probabilities() {
    let (n, k) = (3, 4);
    let p: Vec<f32> = common::random_vec(n * k, 4)
        .iter()
        .map(|v| 0.3 + 0.25 * v)
        .collect();
    let labels = [1u8, 3, 0];
    let loss = Loss::default();
    let mut g = Tensor::default();
    loss.compute(
        &Tensor::from_vec(p.clone(), &[n, k]),
        &labels,
        Some(&mut g),
        false,
    );
    let h = 1e-3;
    for i in 0..n * k {
        let mut pp = p.clone();
        pp[i] += h;
        let lp = loss
            .compute(&Tensor::from_vec(pp.clone(), &[n, k]), &labels, None, false)
            .loss_sum
            / n as f64;
        pp[i] -= 2.0 * h;
        let lm = loss
            .compute(&Tensor::from_vec(pp, &[n, k]), &labels, None, false)
            .loss_sum
            / n as f64;
        let num = (lp - lm) / (2.0 * h as f64);
        assert!(
            rel_err(g.data()[i] as f64, num) < 5e-3,
            "dp[{i}] {} vs {num}",
            g.data()[i]
        );
    }
}

/// Whole networks: the gradient of the mean loss over a batch w.r.t. every parameter
/// of every layer, through the fused softmax and through a plain sigmoid output.
#[test]
fn whole_network_gradients() {
    let nets = [
        vec![
            LayerConfig::Flatten,
            LayerConfig::Dense {
                units: 8,
                activation: Activation::Tanh,
                use_bias: true,
            },
            LayerConfig::Dense {
                units: 6,
                activation: Activation::Relu,
                use_bias: true,
            },
            LayerConfig::Dense {
                units: 5,
                activation: Activation::Softmax,
                use_bias: true,
            },
        ],
        vec![
            LayerConfig::Flatten,
            LayerConfig::Dense {
                units: 7,
                activation: Activation::Linear,
                use_bias: false,
            },
            LayerConfig::Activation {
                activation: Activation::Sigmoid,
            },
            LayerConfig::Dense {
                units: 5,
                activation: Activation::Linear,
                use_bias: true,
            },
            LayerConfig::Activation {
                activation: Activation::Softmax,
            },
        ],
        // No last activation: logits, the softmax taken inside the loss.
        vec![
            LayerConfig::Flatten,
            LayerConfig::Dense {
                units: 5,
                activation: Activation::Linear,
                use_bias: true,
            },
        ],
        // Flattens the model does not call (the layer before writes their output):
        // after a convolution and after a Dense.
        vec![
            LayerConfig::conv2d(8, 3, Padding::Valid, Activation::Tanh),
            LayerConfig::Flatten,
            LayerConfig::Dense {
                units: 6,
                activation: Activation::Tanh,
                use_bias: true,
            },
            LayerConfig::Flatten,
            LayerConfig::Dense {
                units: 5,
                activation: Activation::Softmax,
                use_bias: true,
            },
        ],
    ];
    let data = random_dataset(6, [4, 4, 1], 5, 3);
    let idx: Vec<usize> = (0..6).collect();
    for layers in nets {
        let cfg = ModelConfig {
            name: "t".into(),
            input_shape: vec![4, 4, 1],
            layers,
        };
        let mut m = Sequential::new(cfg, 5).unwrap();
        m.compute_gradients(&data, &idx, false);
        common::check_model_gradients(&mut m, &data, &idx, false, 1);
    }
}

/// `dx = dz · Wᵀ` against f64 loops, for batches on both sides of the size up to
/// which Dense reads `W` in place instead of through the `gemm` crate (64), and on
/// widths that leave every tail of its register blocks.
#[test]
fn dense_input_gradient_on_both_sides_of_the_small_batch_path() {
    for (n, k, units) in [(1, 7, 3), (32, 50, 37), (64, 100, 40), (65, 100, 40)] {
        let x = Tensor::from_vec(common::random_vec(n * k, 21), &[n, k]);
        let mut l = linear_dense(units, k);
        let mut y = Tensor::default();
        l.forward(&x, &mut y, true);
        let dz = common::random_vec(n * units, 22);
        let mut dy = Tensor::from_vec(dz.clone(), &[n, units]);
        let mut dx = Tensor::default();
        l.backward(&x, &y, &mut dy, Some(&mut dx));
        assert_eq!(dx.shape(), &[n, k]);
        let w = &l.params()[0].value;
        for i in 0..n {
            for p in 0..k {
                let want: f64 = (0..units)
                    .map(|u| dz[i * units + u] as f64 * w[p * units + u] as f64)
                    .sum();
                let got = dx.data()[i * k + p] as f64;
                assert!(
                    (got - want).abs() < 1e-5 * (1.0 + want.abs()),
                    "batch {n}: dx[{i}][{p}] = {got}, want {want}"
                );
            }
        }
    }
}

/// A large kernel's forward product and kernel gradient against f64 loops, on every
/// path a training batch takes: cut by the rows each thread owns (batches up to 64,
/// and up to 256 on mostly-zero inputs), and the `gemm` crate's and the whole-batch
/// sparse kernel's beyond. Inputs four fifths zeros (pixels) and dense (a hidden
/// layer's); the kernel gradient written fresh, then over a spent one.
#[test]
fn large_dense_products_on_every_training_path() {
    let (k, units) = (196, 170); // 33,320 weights: enough for the owned path
    for (n, sparse) in [
        (5, true),
        (64, false),
        (100, true),
        (100, false),
        (300, true),
    ] {
        let mut x = common::random_vec(n * k, 31);
        if sparse {
            x.iter_mut().enumerate().for_each(|(i, v)| {
                if (i * 7919) % 5 != 0 {
                    *v = 0.0
                }
            });
        }
        assert_eq!(scrawl::kernels::looks_sparse(n, k, &x), sparse);
        let x = Tensor::from_vec(x, &[n, k]);
        let mut l = linear_dense(units, k);
        let w = l.params()[0].value.clone();
        for round in 0..2 {
            let mut y = Tensor::default();
            l.forward(&x, &mut y, true);
            for i in 0..n {
                for u in 0..units {
                    let want: f64 = (0..k)
                        .map(|p| x.data()[i * k + p] as f64 * w[p * units + u] as f64)
                        .sum();
                    let got = y.data()[i * units + u] as f64;
                    assert!(
                        (got - want).abs() < 1e-5 * (1.0 + want.abs()),
                        "batch {n} sparse {sparse}: y[{i}][{u}] = {got}, want {want}"
                    );
                }
            }
            let dz = common::random_vec(n * units, 32 + round);
            let mut dy = Tensor::from_vec(dz.clone(), &[n, units]);
            l.backward(&x, &y, &mut dy, None);
            let g = &l.params()[0].grad;
            for p in 0..k {
                for u in 0..units {
                    let want: f64 = (0..n)
                        .map(|i| x.data()[i * k + p] as f64 * dz[i * units + u] as f64)
                        .sum();
                    let got = g[p * units + u] as f64;
                    assert!(
                        (got - want).abs() < 1e-5 * (1.0 + want.abs()),
                        "batch {n} sparse {sparse} round {round}: dW[{p}][{u}] = {got}, want {want}"
                    );
                }
            }
            // The next round writes over this gradient as a spent one.
            l.for_each_param_mut(&mut |p| p.spend_grad());
        }
    }
}
