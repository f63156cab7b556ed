//! The model file: round trips, and clear errors for files that are not models.

use crate::common;

use std::collections::BTreeMap;

use scrawl::model::Sequential;
use scrawl::presets::preset;

#[test]
fn save_then_load_gives_bit_identical_predictions() {
    let data = common::random_dataset(20, [28, 28, 1], 10, 1);
    let dir = tempfile::tempdir().unwrap();
    for name in ["mlp-512", "dlfs", "mlp:30,20"] {
        let m = Sequential::new(preset(name).unwrap(), 3).unwrap();
        let path = dir.path().join("m.safetensors");
        let mut info = BTreeMap::new();
        info.insert("test_accuracy".to_string(), serde_json::json!(0.5));
        m.save_with_info(&path, &info).unwrap();
        let (back, info_back) = Sequential::load_with_info(&path).unwrap();
        assert_eq!(info_back, info);
        assert_eq!(back.config(), m.config());
        let (a, b) = (
            m.predict(&data, 7).unwrap(),
            back.predict(&data, 7).unwrap(),
        );
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}

#[test]
fn not_a_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("junk.safetensors");
    std::fs::write(&p, b"hello, I am not a model").unwrap();
    let e = Sequential::load(&p).unwrap_err().to_string();
    assert!(
        e.contains("junk.safetensors") && e.contains("not a valid safetensors file"),
        "{e}"
    );

    // A valid safetensors file without scrawl's metadata.
    let data = vec![0u8; 8];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &data).unwrap();
    std::fs::write(&p, safetensors::serialize(vec![("w", view)], None).unwrap()).unwrap();
    let e = Sequential::load(&p).unwrap_err().to_string();
    assert!(e.contains("not a scrawl model"), "{e}");
}

#[test]
fn shapes_that_disagree_with_the_architecture_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    let m = Sequential::new(preset("mlp:8").unwrap(), 0).unwrap();
    let bytes = m.to_bytes(&BTreeMap::new()).unwrap();
    // Rewrite the architecture in the header to 9 hidden units: same byte length.
    let text = String::from_utf8_lossy(&bytes).to_string();
    assert!(text.contains(r#"\"units\":8"#));
    let tampered = bytes
        .windows(9)
        .position(|w| w == br#"units\":8"#)
        .map(|i| {
            let mut b = bytes.clone();
            b[i + 8] = b'9';
            b
        })
        .unwrap();
    std::fs::write(&p, tampered).unwrap();
    let e = Sequential::load(&p).unwrap_err().to_string();
    assert!(
        e.contains("dense/kernel has shape [784, 8] but the architecture needs [784, 9]"),
        "{e}"
    );
}

#[test]
fn truncated_model_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    let m = Sequential::new(preset("mlp:8").unwrap(), 0).unwrap();
    let bytes = m.to_bytes(&BTreeMap::new()).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 10]).unwrap();
    assert!(Sequential::load(&p).is_err());
}

#[test]
fn failed_save_leaves_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    let m = Sequential::new(preset("mlp:8").unwrap(), 0).unwrap();
    m.save(&p).unwrap();
    let before = std::fs::read(&p).unwrap();
    // Make the folder read-only so the temporary file cannot be created.
    let mut perm = std::fs::metadata(dir.path()).unwrap().permissions();
    use std::os::unix::fs::PermissionsExt;
    perm.set_mode(0o555);
    std::fs::set_permissions(dir.path(), perm.clone()).unwrap();
    let other = Sequential::new(preset("mlp:8").unwrap(), 1).unwrap();
    let result = other.save(&p);
    perm.set_mode(0o755);
    std::fs::set_permissions(dir.path(), perm).unwrap();
    // root ignores directory permissions; then the save succeeds and that is fine too.
    if result.is_err() {
        assert_eq!(std::fs::read(&p).unwrap(), before);
    }
    assert!(Sequential::load(&p).is_ok());
}

#[test]
fn summary_of_mlp_512_matches_keras() {
    let m = Sequential::new(preset("mlp-512").unwrap(), 0).unwrap();
    let s = m.summary();
    assert!(
        s.contains("dense (Dense)") && s.contains("(None, 512)") && s.contains("401,920"),
        "{s}"
    );
    assert!(s.contains("dense_1 (Dense)") && s.contains("5,130"), "{s}");
    assert!(s.contains("Total params: 407,050"), "{s}");
    assert_eq!(m.param_count(), 407_050);
}

/// A CNN with batch normalization: the moving statistics (non-trainable, changed by
/// training) are saved and restored, so inference is identical after loading.
#[test]
fn cnn_with_batch_norm_round_trips_its_moving_statistics() {
    let data = common::random_dataset(16, [28, 28, 1], 10, 2);
    let cfg = preset("conv(4,3,same) bn relu maxpool Flatten Dense(10,softmax)").unwrap();
    let mut m = Sequential::new(cfg, 3).unwrap();
    m.compile(
        &scrawl::optim::OptimizerConfig::adam(),
        scrawl::loss::Loss::default(),
    )
    .unwrap();
    let idx: Vec<usize> = (0..16).collect();
    m.train_on_batch(&data, &idx).unwrap();
    let moving = |m: &Sequential| -> Vec<f32> {
        m.named_params()
            .iter()
            .filter(|(n, _)| n.contains("moving"))
            .flat_map(|(_, p)| p.value.clone())
            .collect()
    };
    assert!(
        moving(&m)[..4].iter().any(|&v| v != 0.0),
        "training moved the mean"
    );
    let bytes = m.to_bytes(&BTreeMap::new()).unwrap();
    let (back, _) = Sequential::from_bytes(&bytes).unwrap();
    assert_eq!(moving(&back), moving(&m));
    assert_eq!(
        back.predict(&data, 5).unwrap(),
        m.predict(&data, 5).unwrap()
    );
}

/// A config or model file that asks for absurd sizes is refused with a message before
/// anything is allocated (it used to abort the process on the failed allocation).
#[test]
fn absurd_sizes_are_refused_before_allocating() {
    use scrawl::model::ModelConfig;
    let build = |json: &str| {
        let config: ModelConfig = serde_json::from_str(json).unwrap();
        Sequential::new(config, 0).unwrap_err().to_string()
    };
    let dense = r#"{"name": "m", "input_shape": [784], "layers": [
        {"type": "Dense", "units": 4000000000}]}"#;
    let e = build(dense);
    assert!(
        e.contains("dense (Dense) would have 784 x 4000000000 weights"),
        "{e}"
    );
    let overflow = r#"{"name": "m", "input_shape": [784], "layers": [
        {"type": "Dense", "units": 18446744073709551615}]}"#;
    assert!(build(overflow).contains("more than the limit"));
    let input = r#"{"name": "m", "input_shape": [100000, 100000, 1], "layers": [
        {"type": "Flatten"}, {"type": "Dense", "units": 10}]}"#;
    let e = build(input);
    assert!(
        e.contains("input_shape (None, 100000, 100000, 1) has more than"),
        "{e}"
    );
    let conv = r#"{"name": "m", "input_shape": [28, 28, 1], "layers": [
        {"type": "Conv2D", "filters": 1000000000, "kernel_size": 3, "padding": "same"}]}"#;
    assert!(build(conv).contains("conv2d (Conv2D) would have 3 x 3 x 1 x 1000000000"));
    let window = r#"{"name": "m", "input_shape": [28, 28, 1], "layers": [
        {"type": "MaxPooling2D", "pool_size": 100000000, "padding": "same"}]}"#;
    assert!(build(window).contains("between 1 and 4096"));
    let wide = r#"{"name": "m", "input_shape": [28, 28, 1], "layers": [
        {"type": "Conv2D", "filters": 40000, "kernel_size": 1},
        {"type": "Flatten"}, {"type": "Dense", "units": 10}]}"#;
    assert!(build(wide).contains("the output of layer conv2d"));
    // Each layer at the per-layer limit (2^25), the two together over the model's.
    let total = r#"{"name": "m", "input_shape": [4096], "layers": [
        {"type": "Dense", "units": 8192, "use_bias": false},
        {"type": "Dense", "units": 4096}]}"#;
    let e = build(total);
    assert!(
        e.contains("more than 67108864 weights by layer dense_1"),
        "{e}"
    );

    // The same inside a model file: the architecture in its header asks for 4e9 units.
    let m = Sequential::new(preset("mlp:8").unwrap(), 0).unwrap();
    let bytes = m.to_bytes(&BTreeMap::new()).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + n].to_vec()).unwrap();
    assert!(header.contains(r#"units\":8"#));
    let header = header.replacen(r#"units\":8"#, r#"units\":4000000000"#, 1);
    let mut tampered = (header.len() as u64).to_le_bytes().to_vec();
    tampered.extend_from_slice(header.as_bytes());
    tampered.extend_from_slice(&bytes[8 + n..]);
    let e = Sequential::from_bytes(&tampered).err().unwrap().to_string();
    assert!(e.contains("more than the limit"), "{e}");
}

/// A model loaded from a file carries no gradient buffers (half the memory of its
/// weights and gradients) until it is compiled; then it trains as before, and a
/// loaded model with a frozen layer trains too.
#[test]
fn a_loaded_model_carries_no_gradients_until_compiled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let data = crate::common::random_dataset(64, [28, 28, 1], 10, 3);
    let config =
        scrawl::stack::parse_stack("Conv2D(4,3,relu) BatchNormalization Flatten Dense(10,softmax)")
            .unwrap();
    let mut fresh = Sequential::new(config, 5).unwrap();
    assert!(fresh.has_gradients());
    fresh.save(&path).unwrap();

    let mut loaded = Sequential::load(&path).unwrap();
    assert!(!loaded.has_gradients());
    assert!(loaded.named_params().iter().all(|(_, p)| p.grad.is_empty()));
    // Inference needs none.
    let p = loaded.predict(&data, 32).unwrap();
    assert_eq!(p, fresh.predict(&data, 32).unwrap());

    // compute_gradients allocates what it needs and agrees with the fresh model.
    let indices: Vec<usize> = (0..16).collect();
    let a = loaded.compute_gradients(&data, &indices, false);
    let b = fresh.compute_gradients(&data, &indices, false);
    assert_eq!(a, b);
    for ((name, p), (_, q)) in loaded.named_params().iter().zip(fresh.named_params()) {
        assert_eq!(p.grad, q.grad, "{name}");
    }

    // Frozen, then compiled: trains without touching the frozen kernel.
    let mut tuned = Sequential::load(&path).unwrap();
    tuned.freeze("conv2d").unwrap();
    tuned
        .compile(&scrawl::optim::OptimizerConfig::adam(), Default::default())
        .unwrap();
    assert!(tuned.has_gradients());
    let before = tuned.named_params()[0].1.value.clone();
    tuned.train_on_batch(&data, &indices).unwrap();
    tuned.train_on_batch(&data, &indices).unwrap();
    assert_eq!(tuned.named_params()[0].1.value, before);
    assert_ne!(
        tuned.named_params()[2].1.value,
        fresh.named_params()[2].1.value
    );
}
