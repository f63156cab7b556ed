//! Model configs in Keras's own JSON (`model.to_json()`, `model.get_config()`).
//!
//! The fixtures in tests/data/keras/ follow the JSON that Keras 3 and tf.keras 2.15
//! write for these models, field for field; they were written out by hand from that
//! format (no Keras on the machine that made them), not saved by Keras itself.

use std::path::Path;

use scrawl::activations::Activation;
use scrawl::layers::LayerConfig;
use scrawl::model::ModelConfig;
use scrawl::presets::preset;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/keras")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn parse(json: &Value) -> scrawl::Result<ModelConfig> {
    ModelConfig::from_json(&json.to_string(), Path::new("model.json"))
}

#[test]
fn keras_3_and_tf_keras_2_configs_load() {
    let convnet = parse(&fixture("convnet_keras3.json")).unwrap();
    assert_eq!(convnet.layers, preset("convnet").unwrap().layers);
    assert_eq!(convnet.input_shape, vec![28, 28, 1]);
    // get_config(): the inner config, without the class_name wrapper.
    let inner = fixture("convnet_keras3.json")["config"].clone();
    assert_eq!(parse(&inner).unwrap().layers, convnet.layers);
    let mlp = parse(&fixture("mlp_tf_keras2.json")).unwrap();
    assert_eq!(mlp.input_shape, vec![784]);
    assert_eq!(
        mlp.layers,
        vec![
            LayerConfig::dense(512, Activation::Relu),
            LayerConfig::dropout(0.2),
            LayerConfig::dense(10, Activation::Softmax),
        ]
    );
    // And the model builds and names its layers as Keras did.
    let model = scrawl::model::Sequential::new(convnet, 0).unwrap();
    assert_eq!(model.param_count(), 34_826);
}

#[test]
fn keras_layers_scrawl_cannot_run_are_refused_by_name() {
    let base = fixture("convnet_keras3.json");
    let with = |layer: usize, key: &str, value: Value| {
        let mut j = base.clone();
        j["config"]["layers"][layer]["config"][key] = value;
        j
    };
    let renamed = |layer: usize, class: &str| {
        let mut j = base.clone();
        j["config"]["layers"][layer]["class_name"] = json!(class);
        j
    };
    let mut functional = base.clone();
    functional["class_name"] = json!("Functional");
    let mut rescale = base.clone();
    rescale["config"]["layers"][0] = json!({"class_name": "Rescaling", "config": {"name": "r", "scale": 0.00784313725, "offset": -1.0}});
    for (json, needles) in [
        (
            with(1, "dilation_rate", json!([2, 2])),
            vec!["layer 2 (conv2d, Conv2D)", "dilation_rate"],
        ),
        (
            with(1, "data_format", json!("channels_first")),
            vec!["conv2d", "channels_last"],
        ),
        (with(7, "activation", json!("gelu")), vec!["dense", "gelu"]),
        (
            renamed(3, "LSTM"),
            vec!["layer 4", "not a layer scrawl has", "ZeroPadding2D"],
        ),
        (functional, vec!["Functional", "Sequential models only"]),
        (rescale, vec!["Rescaling", "1/255"]),
    ] {
        let err = parse(&json).unwrap_err().to_string();
        for needle in needles {
            assert!(err.contains(needle), "'{needle}' missing from: {err}");
        }
        assert!(err.contains("model.json"), "{err}");
    }
    // After Rescaling(1/255), a Rescaling is scrawl's own layer.
    let mut two = base.clone();
    let layers = two["config"]["layers"].as_array_mut().unwrap();
    layers.insert(
        0,
        json!({"class_name": "Rescaling", "config": {"name": "p", "scale": 0.00392156862745098}}),
    );
    layers.insert(
        1,
        json!({"class_name": "Rescaling", "config": {"name": "r", "scale": 2.0, "offset": -1.0}}),
    );
    let got = parse(&two).unwrap().layers;
    assert_eq!(
        got[0],
        scrawl::layers::LayerConfig::Rescaling {
            scale: 2.0,
            offset: -1.0
        }
    );
    assert_eq!(got[1..], preset("convnet").unwrap().layers[..]);
    // Rescaling(1/255) at the input is scrawl's own scaling, so it is understood.
    let mut ok = base.clone();
    ok["config"]["layers"][0] = json!({"class_name": "Rescaling", "config": {"name": "r", "scale": 0.00392156862745098, "offset": 0.0}});
    assert_eq!(
        parse(&ok).unwrap().layers,
        preset("convnet").unwrap().layers
    );
}
