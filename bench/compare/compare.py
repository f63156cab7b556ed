#!/usr/bin/env python3
"""Train the same networks (MLPs and CNNs) in scrawl and in PyTorch on this machine, one after the other,
and print seconds per epoch and the ratio scrawl / PyTorch.

Same model, batch size, optimizer (with Keras's epsilon), data scaled by 1/255,
shuffled each epoch, and the test set evaluated after each epoch in both (as Keras's
validation_data does). Not part of CI. Setup: see README.md in this folder.

    python bench/compare/compare.py [--epochs 3] [--case mlp-512/200/adam ...]
    python bench/compare/compare.py --epochs 2 --case cnn/128/adam
    python bench/compare/compare.py --isa avx2 ...   # both held to AVX2 (isa.py)
"""
import argparse, gzip, json, os, statistics, subprocess, sys, time
from pathlib import Path

import isa as isas

isas.hold_torch(isas.requested())  # before torch loads: it reads the variables then
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]


def mlp(hidden):
    """(scrawl --model, torch module builder, forward FLOPs per layer per image)"""
    sizes = [784] + hidden + [10]

    def build():
        layers, prev = [torch.nn.Flatten()], 784
        for h in hidden:
            layers += [torch.nn.Linear(prev, h), torch.nn.ReLU()]
            prev = h
        return torch.nn.Sequential(*layers, torch.nn.Linear(prev, 10))

    return "mlp:" + ",".join(map(str, hidden)), build, [2 * a * b for a, b in zip(sizes, sizes[1:])]


def cnn():
    """The tutorial CNN (scrawl preset `cnn`), NCHW in PyTorch."""
    nn = torch.nn

    def build():
        return nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.Conv2d(32, 32, 5, padding=2), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3136, 256), nn.ReLU(), nn.Linear(256, 10))

    conv = lambda px, k, cin, cout: 2 * px * k * k * cin * cout
    return "cnn", build, [conv(784, 5, 1, 32), conv(784, 5, 32, 32), conv(196, 3, 32, 64),
                          conv(196, 3, 64, 64), 2 * 3136 * 256, 2 * 256 * 10]


def convnet():
    """Keras's simple MNIST convnet (scrawl preset `convnet`)."""
    nn = torch.nn

    def build():
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))

    return "convnet", build, [2 * 676 * 9 * 32, 2 * 121 * 9 * 32 * 64, 2 * 1600 * 10]


CASES = {
    # name: ((scrawl model, torch builder, forward FLOPs per layer), batch size, optimizer)
    "mlp-512/200/adam": (mlp([512]), 200, "adam"),
    "mlp-512-512/32/rmsprop": (mlp([512, 512]), 32, "rmsprop"),
    "mlp-512-512/32/adam": (mlp([512, 512]), 32, "adam"),
    "cnn/128/adam": (cnn(), 128, "adam"),
    "convnet/128/adam": (convnet(), 128, "adam"),
}
DEFAULT_CASES = ["mlp-512/200/adam", "mlp-512-512/32/rmsprop", "mlp-512-512/32/adam"]


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def mnist(dirpath):
    d = Path(dirpath)
    x = idx(d / "train-images-idx3-ubyte.gz").reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    y = idx(d / "train-labels-idx1-ubyte.gz").astype(np.int64)
    xt = idx(d / "t10k-images-idx3-ubyte.gz").reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    yt = idx(d / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    return [torch.from_numpy(a) for a in (x, y, xt, yt)]


def torch_epochs(build, batch, opt_name, epochs, data):
    x, y, xt, yt = data
    torch.manual_seed(42)
    model = build()
    if opt_name == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    else:
        opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    times, acc = [], 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            idx_ = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx_]), y[idx_])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            correct = 0
            for i in range(0, len(xt), batch):
                correct += (model(xt[i:i + batch]).argmax(1) == yt[i:i + batch]).sum().item()
        acc = correct / len(xt)
        times.append(time.perf_counter() - t0)
    return times, acc


def scrawl_epochs(exe, env, model, batch, opt_name, epochs, data_dir):
    out = subprocess.run(
        [str(exe), "train", "--model", model, "--epochs", str(epochs), "--batch-size", str(batch),
         "--optimizer", opt_name, "--json", "--quiet", "--data", data_dir, "--out", "/tmp/scrawl-compare-run", "--overwrite"],
        check=True, capture_output=True, text=True, env=os.environ | env).stdout
    res = json.loads(out.strip().splitlines()[-1])
    return [e["seconds"] for e in res["history"]], res["test_accuracy"]


def flops_per_epoch(layer_flops, n=60000, n_test=10000):
    fwd = sum(layer_flops)
    # backward: weight gradients for every layer, input gradients for all but the first
    bwd = fwd + sum(layer_flops[1:])
    return n * (fwd + bwd) + n_test * fwd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--case", action="append", choices=sorted(CASES))
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--rounds", type=int, default=1,
                    help="run each case this many times, scrawl and PyTorch alternately, and "
                         "print the median of the per-round ratios with their range")
    ap.add_argument("--isa", choices=isas.CHOICES, default="native",
                    help="avx2: hold scrawl and PyTorch to AVX2 on an AVX-512 CPU (see isa.py)")
    args = ap.parse_args()
    exe, env = isas.scrawl_binary(args.isa)
    print(isas.cpu_line(args.isa))
    data = mnist(args.data)
    print(f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}), "
          f"{torch.get_num_threads()} threads; epochs timed: {args.epochs} "
          f"(median; the first is warm-up when there are 3 or more)")
    print(f"{'case':26} {'scrawl s/ep':>11} {'GFLOP/s':>8} {'torch s/ep':>11} {'GFLOP/s':>8} {'ratio':>6}  acc scrawl/torch")
    for name in args.case or DEFAULT_CASES:
        (model, build, layer_flops), batch, opt = CASES[name]
        ratios = []
        for r in range(args.rounds):
            st, sa = scrawl_epochs(exe, env, model, batch, opt, args.epochs, args.data)
            tt, ta = torch_epochs(build, batch, opt, args.epochs, data)
            skip = 1 if args.epochs >= 3 else 0
            s, t = statistics.median(st[skip:]), statistics.median(tt[skip:])
            f = flops_per_epoch(layer_flops) / 1e9
            ratios.append(s / t)
            label = name if args.rounds == 1 else f"{name} #{r + 1}"
            print(f"{label:26} {s:11.3f} {f / s:8.1f} {t:11.3f} {f / t:8.1f} {s / t:6.2f}  {sa:.4f}/{ta:.4f}", flush=True)
        if args.rounds > 1:
            print(f"{name}: ratio median {statistics.median(ratios):.2f} "
                  f"(range {min(ratios):.2f}-{max(ratios):.2f}, {args.rounds} rounds)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
