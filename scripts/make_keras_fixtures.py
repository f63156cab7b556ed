#!/usr/bin/env python3
"""Makes the Keras fixtures of tests/data/keras/ with real Keras (not run by CI).

    python3 -m venv ../venv-keras && ../venv-keras/bin/pip install keras jax h5py
    KERAS_BACKEND=jax ../venv-keras/bin/python scripts/make_keras_fixtures.py

Small models of the layers scrawl has, trained for a few steps on MNIST (from
../shared/data/mnist) so their weights are not the initial ones, saved the ways Keras
users save them:
- `mlp.keras`, `cnn.keras`: `model.save("x.keras")` (Keras 3 archive: config.json +
  model.weights.h5);
- `mlp.h5`, `cnn.h5`: `model.save("x.h5")` (the legacy HDF5 file tf.keras 2 wrote and
  tutorial 004's ModelCheckpoint writes as `.hdf5`);
and `NAME.predictions.json`: the probabilities Keras gave for the first 8 test images
and the test accuracy `model.evaluate` reported on all 10,000, which
tests/suite/keras_import.rs compares with scrawl's (to 1e-5, and exactly).
"""
import json
import os
import sys

import keras
from keras import layers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_idx import idx  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "keras")


def main():
    os.makedirs(OUT, exist_ok=True)
    x = idx("train-images-idx3-ubyte")[:2000].astype("float32")[..., None] / 255.0
    y = idx("train-labels-idx1-ubyte")[:2000]
    xt_all = idx("t10k-images-idx3-ubyte").astype("float32")[..., None] / 255.0
    yt_all = idx("t10k-labels-idx1-ubyte")
    xt = xt_all[:8]
    keras.utils.set_random_seed(7)
    models = {
        "mlp": keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Rescaling(1.0),
            layers.Flatten(),
            layers.Dense(32, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ], name="mlp"),
        "cnn": keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(8, (3, 3), activation="relu", padding="same"),
            layers.BatchNormalization(),
            layers.MaxPooling2D((2, 2)),
            layers.ZeroPadding2D(1),
            layers.Conv2D(8, 3, strides=2, activation="relu"),
            layers.AveragePooling2D(2),
            layers.Flatten(),
            layers.Dense(16, activation="tanh"),
            layers.Dense(10, activation="softmax"),
        ], name="cnn"),
    }
    for name, model in models.items():
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, epochs=1, batch_size=100, verbose=0)
        model.save(os.path.join(OUT, f"{name}.keras"))
        model.save(os.path.join(OUT, f"{name}.h5"))
        probs = model.predict(xt, verbose=0)
        loss, accuracy = model.evaluate(xt_all, yt_all, verbose=0)
        with open(os.path.join(OUT, f"{name}.predictions.json"), "w") as f:
            json.dump({"keras": keras.__version__, "backend": keras.backend.backend(),
                       "images": "the first 8 MNIST test images, pixels / 255",
                       "probabilities": probs.astype(float).round(8).tolist(),
                       "test_accuracy": float(accuracy), "test_loss": float(loss)}, f, indent=1)
        print(name, "saved;", "sizes:", {e: os.path.getsize(os.path.join(OUT, f"{name}.{e}")) for e in ("keras", "h5")})


if __name__ == "__main__":
    main()
