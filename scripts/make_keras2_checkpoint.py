#!/usr/bin/env python3
"""Makes tests/data/keras/tf_keras2/mnist-NN-LOSS.hdf5 the way tutorial 004 does, with
tf.keras 2 (not run by CI):

    python3 -m venv ../venv-tf && ../venv-tf/bin/pip install tensorflow-cpu tf_keras h5py
    TF_USE_LEGACY_KERAS=1 ../venv-tf/bin/python scripts/make_keras2_checkpoint.py

Tutorial 004's model (Dense 512 relu, Dense 10 softmax, here Dense 64 to keep the file
small) trained on 3,000 images with `ModelCheckpoint(filepath='.../mnist-{epoch:02d}-
{val_loss:.4f}.hdf5', monitor='val_loss', save_best_only=True)` for 2 epochs: Keras 2
writes whole models in HDF5, weights named `dense/kernel:0`. Beside the best file,
`checkpoint.predictions.json`: the file's name, the probabilities of the first 8 test
images and the test accuracy that model gives on all 10,000.
"""
import glob
import json
import os
import sys

import numpy as np
import tf_keras as keras

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_idx import idx  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "keras", "tf_keras2")


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in glob.glob(os.path.join(OUT, "*.hdf5")):
        os.remove(f)
    x = idx("train-images-idx3-ubyte")[:3000].reshape(-1, 784).astype("float32") / 255.0
    y = keras.utils.to_categorical(idx("train-labels-idx1-ubyte")[:3000], 10)
    xt = idx("t10k-images-idx3-ubyte").reshape(-1, 784).astype("float32") / 255.0
    yt = keras.utils.to_categorical(idx("t10k-labels-idx1-ubyte"), 10)
    keras.utils.set_random_seed(4)
    model = keras.models.Sequential([
        keras.layers.Dense(64, input_dim=784, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    checkpoint = keras.callbacks.ModelCheckpoint(
        filepath=os.path.join(OUT, "mnist-{epoch:02d}-{val_loss:.4f}.hdf5"),
        monitor="val_loss", verbose=0, save_best_only=True)
    model.fit(x, y, validation_data=(xt[:1000], yt[:1000]), epochs=2, batch_size=200, verbose=0,
              callbacks=[checkpoint])
    best = sorted(glob.glob(os.path.join(OUT, "*.hdf5")))[-1]
    for f in glob.glob(os.path.join(OUT, "*.hdf5")):
        if f != best:
            os.remove(f)
    saved = keras.models.load_model(best)
    loss, accuracy = saved.evaluate(xt, yt, verbose=0)
    with open(os.path.join(OUT, "checkpoint.predictions.json"), "w") as f:
        json.dump({"keras": keras.__version__, "file": os.path.basename(best),
                   "images": "the first 8 MNIST test images, pixels / 255, flat",
                   "probabilities": saved.predict(xt[:8], verbose=0).astype(float).round(8).tolist(),
                   "test_accuracy": float(accuracy), "test_loss": float(loss)}, f, indent=1)
    print(os.path.basename(best), os.path.getsize(best), "bytes, test accuracy", accuracy)


if __name__ == "__main__":
    main()
