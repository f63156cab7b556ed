#!/usr/bin/env python3
"""Checks `scrawl export --format keras` with real Keras (not run by CI):

    python3 -m venv ../venv-keras && ../venv-keras/bin/pip install keras jax h5py
    KERAS_BACKEND=jax ../venv-keras/bin/python scripts/check_keras_export.py

Trains small scrawl models (an MLP, a CNN with BatchNormalization, explicit padding
and pooling, one ending in logits, and `speedrun`, which starts with a Rescaling and
is exported to take raw pixels) on a slice of MNIST, exports each as `.keras`,
opens it with `keras.models.load_model`, and compares Keras's probabilities on the
first 20 test images with scrawl's (`scrawl predict --index I --json`): they must agree
to 1e-5.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import keras

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRAWL = os.path.join(ROOT, "target", "release", "scrawl")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_idx import idx  # noqa: E402

MODELS = [
    "mlp-512",
    "Conv2D(8,3,relu,padding=same) BatchNormalization MaxPooling2D Conv2D(8,3,relu,padding=1) AveragePooling2D Flatten Dropout(0.2) Dense(32,tanh) Dense(10,softmax)",
    "ZeroPadding2D(((1,0),(2,1))) Conv2D(6,5,strides=2) Activation(relu) GlobalAveragePooling2D Dense(10)",
    # Starts with a Rescaling (standardization): the file takes raw pixels.
    "speedrun",
]


def main():
    env = dict(os.environ)
    env.setdefault("SCRAWL_DATA", os.path.join(ROOT, "..", "shared", "data", "mnist"))
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    raw = idx("t10k-images-idx3-ubyte")[:20].astype("float32")
    x = raw / 255.0
    tmp = tempfile.mkdtemp(prefix="scrawl-keras-")
    worst_all = 0.0
    for i, arch in enumerate(MODELS):
        run = os.path.join(tmp, f"run{i}")
        subprocess.run([SCRAWL, "train", "--model", arch, "--limit", "2000", "--epochs", "1", "--quiet", "--out", run],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        path = os.path.join(tmp, f"m{i}.keras")
        subprocess.run([SCRAWL, "export", "--model", run, "--format", "keras", "--out", path], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        model = keras.models.load_model(path)
        shape = model.input_shape[1:]
        # A model exported with a Rescaling of its own first takes raw pixels.
        pixels = raw if type(model.layers[0]).__name__ == "Rescaling" else x
        theirs = model.predict(pixels.reshape((20,) + tuple(shape)), verbose=0)
        ours = np.array([json.loads(subprocess.run([SCRAWL, "predict", "--model", run, "--index", str(j), "--json"],
                                                   env=env, check=True, capture_output=True).stdout)["probabilities"]
                         for j in range(20)])
        worst = float(np.abs(ours - theirs).max())
        same = int((ours.argmax(1) == theirs.argmax(1)).sum())
        worst_all = max(worst_all, worst)
        print(f"{arch[:60]:<60} Keras {keras.__version__}: largest difference {worst:.2e}, same class {same}/20")
    print("OK" if worst_all <= 1e-5 else "FAILED")
    sys.exit(0 if worst_all <= 1e-5 else 1)


if __name__ == "__main__":
    main()
