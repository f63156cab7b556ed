#!/usr/bin/env python3
"""PyTorch networks through `torch.onnx.export`, for `scrawl import onnx` (not run by CI).

    python3 -m venv ../venv-torch && ../venv-torch/bin/pip install torch numpy onnx onnxscript onnxruntime
    ../venv-torch/bin/python scripts/torch_onnx.py fixtures   # tests/data/torch/*.onnx + predictions
    ../venv-torch/bin/python scripts/torch_onnx.py check      # the tutorial CNN vs onnxruntime, 10,000 images

`fixtures` writes small networks (an MLP, a CNN with BatchNorm, padding and both
poolings) trained for a few steps, with the probabilities PyTorch gave for the first 8
test images; tests/suite/onnx_import.rs compares scrawl's import with them.
`check` trains tutorial 001's CNN (conv 5x5 32 x2 'same', pool, conv 3x3 64 x2, pool,
dense 256, softmax) in PyTorch for one epoch on 12,000 images, exports it, imports it
with scrawl, and compares scrawl's predicted digit for all 10,000 test images
(`scrawl predict --csv`) with onnxruntime's, and the two accuracies.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRAWL = os.path.join(ROOT, "target", "release", "scrawl")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_idx import idx  # noqa: E402  (reads MNIST's IDX files)


def data(n_train):
    x = idx("train-images-idx3-ubyte")[:n_train].astype("float32")[:, None] / 255.0
    y = idx("train-labels-idx1-ubyte")[:n_train].astype("int64")
    xt = idx("t10k-images-idx3-ubyte").astype("float32")[:, None] / 255.0
    yt = idx("t10k-labels-idx1-ubyte").astype("int64")
    return torch.tensor(x), torch.tensor(y), xt, yt


def train(model, x, y, epochs=1, batch=100):
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    for _ in range(epochs):
        for i in range(0, len(x), batch):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[i:i + batch]), y[i:i + batch])
            loss.backward()
            opt.step()
    model.eval()
    return model


class Probabilities(nn.Module):
    """The network, then LogSoftmax (as tutorials end a PyTorch classifier)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return nn.functional.log_softmax(self.net(x), dim=1)


def export(model, path):
    # eval(): the exporter puts the module back in the mode it found it in, and a
    # wrapper in training mode would switch the Dropout layers back on.
    torch.onnx.export(Probabilities(model).eval(), torch.zeros(1, 1, 28, 28), path, input_names=["input"],
                      output_names=["log_probabilities"], dynamic_axes={"input": {0: "N"}}, dynamo=False)


def fixtures():
    torch.manual_seed(7)
    out = os.path.join(ROOT, "tests", "data", "torch")
    os.makedirs(out, exist_ok=True)
    x, y, xt, _ = data(2000)
    nets = {
        "mlp": nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10)),
        "cnn": nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=(1, 2)), nn.Sigmoid(), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(8 * 7 * 8, 16), nn.Tanh(), nn.Linear(16, 10)),
    }
    for name, net in nets.items():
        train(net, x, y)
        path = os.path.join(out, f"{name}.onnx")
        export(net, path)
        with torch.no_grad():
            probs = Probabilities(net).eval()(torch.tensor(xt[:8])).exp().numpy()
        with open(os.path.join(out, f"{name}.predictions.json"), "w") as f:
            json.dump({"torch": torch.__version__, "images": "the first 8 MNIST test images, pixels / 255",
                       "probabilities": probs.astype(float).round(8).tolist()}, f, indent=1)
        print(name, os.path.getsize(path), "bytes")


def check():
    import onnxruntime as ort
    torch.manual_seed(1)
    x, y, xt, yt = data(12000)
    cnn = nn.Sequential(
        nn.Conv2d(1, 32, 5, padding="same"), nn.ReLU(), nn.Conv2d(32, 32, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding="same"), nn.ReLU(), nn.Conv2d(64, 64, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Linear(256, 10))
    train(cnn, x, y)
    tmp = tempfile.mkdtemp(prefix="scrawl-torch-")
    onnx_path = os.path.join(tmp, "cnn.onnx")
    export(cnn, onnx_path)
    sess = ort.InferenceSession(onnx_path)
    theirs = np.concatenate([sess.run(None, {"input": xt[i:i + 500]})[0] for i in range(0, 10000, 500)]).argmax(1)
    env = dict(os.environ)
    env.setdefault("SCRAWL_DATA", os.path.join(ROOT, "..", "shared", "data", "mnist"))
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    model = os.path.join(tmp, "cnn.safetensors")
    subprocess.run([SCRAWL, "import", "onnx", onnx_path, "--out", model], check=True, stdout=subprocess.DEVNULL)
    kaggle = os.path.join(tmp, "kaggle")
    subprocess.run([SCRAWL, "data", "export", "--format", "kaggle", "--out", kaggle], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    sub = os.path.join(tmp, "submission.csv")
    subprocess.run([SCRAWL, "predict", "--model", model, "--csv", os.path.join(kaggle, "test.csv"), "--out", sub],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    with open(sub) as f:
        ours = np.array([int(r["Label"]) for r in csv.DictReader(f)])
    same = int((ours == theirs).sum())
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}: tutorial CNN, the same digit for {same}/10000 "
          f"test images; accuracy onnxruntime {(theirs == yt).mean():.4f}, scrawl {(ours == yt).mean():.4f}")
    sys.exit(0 if same == 10000 else 1)


if __name__ == "__main__":
    {"fixtures": fixtures, "check": check}[sys.argv[1] if len(sys.argv) > 1 else "check"]()
