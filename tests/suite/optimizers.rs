//! One or two optimizer steps against values worked out by hand, with
//! w = [1, -2] and g = [0.5, 0.25].

use scrawl::layers::Param;
use scrawl::optim::OptimizerConfig;

fn steps(cfg: OptimizerConfig, n: usize) -> Param {
    let mut opt = cfg.build().unwrap();
    let mut p = Param::kernel(vec![2], vec![1.0, -2.0]);
    for _ in 0..n {
        p.grad.copy_from_slice(&[0.5, 0.25]);
        opt.begin_step();
        opt.update(0, &mut p);
        assert_eq!(
            p.grad,
            vec![0.0, 0.0],
            "update consumes (zeroes) the gradient"
        );
    }
    p
}

fn close(got: &[f32], want: &[f64]) {
    for (g, w) in got.iter().zip(want) {
        assert!((*g as f64 - w).abs() < 1e-6, "got {got:?}, want {want:?}");
    }
}

fn sgd(lr: f32, momentum: f32, nesterov: bool, decay: f32) -> OptimizerConfig {
    OptimizerConfig::Sgd {
        learning_rate: lr,
        momentum,
        nesterov,
        decay,
    }
}

#[test]
fn sgd_plain() {
    // w - 0.1 g
    close(&steps(sgd(0.1, 0.0, false, 0.0), 1).value, &[0.95, -2.025]);
}

#[test]
fn sgd_momentum_two_steps() {
    // v1 = -0.1 g = [-0.05, -0.025]; v2 = 0.9 v1 - 0.1 g = [-0.095, -0.0475]
    close(
        &steps(sgd(0.1, 0.9, false, 0.0), 2).value,
        &[1.0 - 0.05 - 0.095, -2.0 - 0.025 - 0.0475],
    );
}

#[test]
fn sgd_nesterov_one_step() {
    // v = [-0.05, -0.025]; w += 0.9 v - 0.1 g = [-0.095, -0.0475]
    close(&steps(sgd(0.1, 0.9, true, 0.0), 1).value, &[0.905, -2.0475]);
}

#[test]
fn sgd_time_based_decay() {
    // step 0 uses lr 0.1, step 1 uses 0.1 / (1 + 0.5) = 1/15
    close(
        &steps(sgd(0.1, 0.0, false, 0.5), 2).value,
        &[1.0 - 0.05 - 0.5 / 15.0, -2.0 - 0.025 - 0.25 / 15.0],
    );
}

#[test]
fn adam_first_steps_move_by_the_learning_rate() {
    // Step 1: m = 0.1 g, v = 0.001 g², α = 0.001·√0.001/0.1, so Δw = α·m/(√v + ε)
    // = 0.001·|g|/(|g| + ε/√0.001) ≈ 0.001 for either g: the classic "first Adam step is
    // lr·sign(g)". Exactly: 0.001 · 0.5/(0.5 + 1e-7/√0.001).
    let p = steps(OptimizerConfig::adam(), 1);
    let d0 = 0.001 * 0.5 / (0.5 + 1e-7 / 0.001f64.sqrt());
    let d1 = 0.001 * 0.25 / (0.25 + 1e-7 / 0.001f64.sqrt());
    close(&p.value, &[1.0 - d0, -2.0 - d1]);
    // With a constant gradient m and v stay at g and g² after bias correction, so every
    // step moves by ≈ lr again: after 3 steps ≈ 3·lr.
    let p = steps(OptimizerConfig::adam(), 3);
    close(&p.value, &[1.0 - 0.003, -2.0 - 0.003]);
}

fn adamw(weight_decay: f32) -> OptimizerConfig {
    OptimizerConfig::Adamw {
        learning_rate: 0.001,
        weight_decay,
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-7,
        decay: 0.0,
    }
}

#[test]
fn adamw_shrinks_kernels_then_steps_like_adam() {
    // Step 1: w ← w·(1 − η·λ) − Δw_adam, with η = 0.001 and λ = 0.1.
    let p = steps(adamw(0.1), 1);
    let d0 = 0.001 * 0.5 / (0.5 + 1e-7 / 0.001f64.sqrt());
    let d1 = 0.001 * 0.25 / (0.25 + 1e-7 / 0.001f64.sqrt());
    let shrink = 1.0 - 0.001 * 0.1;
    close(&p.value, &[1.0 * shrink - d0, -2.0 * shrink - d1]);
    // λ = 0 is Adam exactly, bit for bit.
    assert_eq!(
        steps(adamw(0.0), 3).value,
        steps(OptimizerConfig::adam(), 3).value
    );
    // Biases are not decayed.
    let mut opt = adamw(0.1).build().unwrap();
    let mut bias = Param::new("bias", vec![2], vec![1.0, -2.0]);
    bias.grad.copy_from_slice(&[0.5, 0.25]);
    opt.begin_step();
    opt.update(0, &mut bias);
    close(&bias.value, &[1.0 - d0, -2.0 - d1]);
    // The configuration survives a round trip (checkpoints store it).
    assert_eq!(adamw(0.1).build().unwrap().config(), adamw(0.1));
    assert!(adamw(1.5).build().is_err());
    assert!(adamw(f32::NAN).build().is_err());
}

#[test]
fn rmsprop_first_step() {
    // s = 0.1 g²; Δw = 0.001 g / √(0.1 g² + 1e-7) ≈ 0.001/√0.1 = 0.0031623 for both
    let p = steps(OptimizerConfig::rmsprop(), 1);
    let d = |g: f64| 0.001 * g / (0.1 * g * g + 1e-7).sqrt();
    close(&p.value, &[1.0 - d(0.5), -2.0 - d(0.25)]);
    assert!((d(0.5) - 0.0031623).abs() < 1e-6);
}

#[test]
fn bad_settings_are_errors() {
    for cfg in [
        sgd(-0.1, 0.0, false, 0.0),
        sgd(0.1, 1.5, false, 0.0),
        sgd(f32::NAN, 0.0, false, 0.0),
        OptimizerConfig::Adam {
            learning_rate: 0.001,
            beta_1: 1.0,
            beta_2: 0.999,
            epsilon: 1e-7,
            decay: 0.0,
        },
        OptimizerConfig::Rmsprop {
            learning_rate: 0.001,
            rho: 0.9,
            epsilon: 0.0,
            decay: 0.0,
        },
    ] {
        assert!(cfg.build().is_err(), "{cfg:?} should be refused");
    }
    assert!(
        OptimizerConfig::by_name("adagrad")
            .unwrap_err()
            .to_string()
            .contains("sgd, adam, adamw or rmsprop")
    );
}

/// `apply_and_spend` (the model's step) leaves the gradient in place, marked spent;
/// updating again with no new gradient in between applies a zero gradient (plain SGD
/// then moves nothing), not the old one.
#[test]
fn a_spent_gradient_counts_as_zero() {
    let mut opt = sgd(0.1, 0.0, false, 0.0).build().unwrap();
    let mut p = Param::kernel(vec![2], vec![1.0, -2.0]);
    p.grad.copy_from_slice(&[0.5, 0.25]);
    opt.begin_step();
    opt.apply_and_spend(0, &mut p);
    let after = p.value.clone();
    close(&after, &[1.0 - 0.05, -2.0 - 0.025]);
    assert!(p.grad_stale);
    assert_eq!(p.grad, vec![0.5, 0.25], "left in place, not zeroed");
    opt.begin_step();
    opt.update(0, &mut p);
    assert_eq!(p.value, after);
    assert_eq!(p.grad, vec![0.0, 0.0]);
    assert!(!p.grad_stale);
}

/// The state every optimizer keeps decays through the subnormal numbers while a
/// weight's gradient is zero (a pixel blank in every recent batch), where Adam's and
/// SGD's would then stick; each one costs a microcode assist on Intel cores. The state
/// is stored with them flushed to 0, and the weights come out the same bits as the
/// formulas give without flushing (written out here in f32, as the optimizers
/// compute them): 5 steps of gradient, 3,000 of none, 5 of gradient again.
#[test]
fn state_holds_no_subnormals_and_the_weights_are_unchanged_by_it() {
    const W0: [f32; 4] = [1.0, -2.0, 0.3, 1e-3];
    const G: [f32; 4] = [0.5, 0.25, -1e-3, 3.0];
    let grad = |t: usize| if (5..3005).contains(&t) { [0.0; 4] } else { G };
    let steps = 3010;
    let adam_b2 = |beta_2: f32| OptimizerConfig::Adam {
        learning_rate: 0.001,
        beta_1: 0.9,
        beta_2,
        epsilon: 1e-7,
        decay: 0.0,
    };
    // The unflushed updates, one value at a time, in each optimizer's f32 arithmetic.
    let reference = |cfg: &OptimizerConfig| -> Vec<f32> {
        let (mut w, mut a, mut b) = (W0, [0.0f32; 4], [0.0f32; 4]);
        for t in 0..steps {
            let g = grad(t);
            for i in 0..4 {
                match *cfg {
                    OptimizerConfig::Sgd {
                        learning_rate: lr,
                        momentum: mu,
                        nesterov,
                        ..
                    } => {
                        a[i] = mu * a[i] - lr * g[i];
                        w[i] += if nesterov {
                            mu * a[i] - lr * g[i]
                        } else {
                            a[i]
                        };
                    }
                    OptimizerConfig::Rmsprop {
                        learning_rate: lr,
                        rho,
                        epsilon,
                        ..
                    } => {
                        a[i] = rho * a[i] + (1.0 - rho) * g[i] * g[i];
                        w[i] -= lr * g[i] / (a[i] + epsilon).sqrt();
                    }
                    OptimizerConfig::Adam {
                        learning_rate,
                        beta_1,
                        beta_2,
                        epsilon,
                        ..
                    } => {
                        let n = t as i32 + 1;
                        let alpha = (learning_rate as f64 * (1.0 - (beta_2 as f64).powi(n)).sqrt()
                            / (1.0 - (beta_1 as f64).powi(n)))
                            as f32;
                        a[i] += (g[i] - a[i]) * (1.0 - beta_1);
                        b[i] += (g[i] * g[i] - b[i]) * (1.0 - beta_2);
                        w[i] -= alpha * a[i] / (b[i].sqrt() + epsilon);
                    }
                    _ => unreachable!("not among the cases below"),
                }
            }
        }
        w.to_vec()
    };
    // (what, settings, how many of its state buffers have decayed to 0 by step 1,000:
    // all but Adam's second moment at β₂ = 0.999, of which 0.999¹⁰⁰⁰ is left)
    let cases = [
        ("SGD with momentum", sgd(0.1, 0.9, false, 0.0), 1),
        ("SGD with Nesterov momentum", sgd(0.1, 0.9, true, 0.0), 1),
        ("RMSprop", OptimizerConfig::rmsprop(), 1),
        ("Adam", OptimizerConfig::adam(), 1),
        ("Adam, beta_2 0.9", adam_b2(0.9), 2),
    ];
    for (what, cfg, decayed) in cases {
        let mut opt = cfg.build().unwrap();
        let mut p = Param::kernel(vec![4], W0.to_vec());
        let mut subnormals_seen = 0;
        for t in 0..steps {
            p.grad.copy_from_slice(&grad(t));
            opt.begin_step();
            opt.update(0, &mut p);
            let state = opt.state();
            subnormals_seen += state.iter().flatten().filter(|v| v.is_subnormal()).count();
            if t == 1000 {
                // By now the state of the unflushed formulas would be subnormal or 0
                // (0.9¹⁰⁰⁰ of it is left): flushed, it is exactly 0.
                assert!(
                    state[..decayed].iter().flatten().all(|&v| v == 0.0),
                    "{what}: {state:?}"
                );
            }
        }
        assert_eq!(subnormals_seen, 0, "{what}: subnormal state");
        let want = reference(&cfg);
        assert_eq!(
            p.value, want,
            "{what}: weights differ from the unflushed formulas"
        );
        assert!(
            p.value.iter().zip(W0).all(|(w, w0)| w != &w0),
            "{what}: it trained"
        );
    }
}
