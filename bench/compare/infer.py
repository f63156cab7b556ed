#!/usr/bin/env python3
"""Inference speed: scrawl against onnxruntime running the same models exported by
`scrawl export --format onnx`, on the same machine and threads, one after the other.

    ../venv-ref/bin/pip install onnxruntime numpy
    ../venv-ref/bin/python bench/compare/infer.py [--model mlp-512 --model cnn] [--threads 2] [--rounds 5] [--isa avx2]

For each model: images/s at batch 1000 and ms per image at batch 1, and the ratios
scrawl / onnxruntime (throughput: scrawl better above 1; latency: scrawl faster below
1). The two run in alternation, `--rounds` times; each round gives a ratio, and the
median ratio is reported with its range. With `--isa avx2` scrawl is held to AVX2;
onnxruntime cannot be (isa.py), so it runs its AVX-512 kernels. Not part of CI.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import isa as isas

ROOT = Path(__file__).resolve().parents[2]


def scrawl(exe, *args, env=None):
    out = subprocess.run([str(exe), *args], check=True, capture_output=True, text=True, env=env)
    return out.stdout


def mnist_images(data_dir, count):
    """The first `count` training images scaled to [0, 1]: what `scrawl bench` predicts
    (its batch of 1000 and its single image), so both sides see the same pixels,
    zeros included."""
    import gzip
    path = Path(data_dir) / "train-images-idx3-ubyte.gz"
    raw = gzip.open(path).read() if path.exists() else (Path(data_dir) / "train-images-idx3-ubyte").read_bytes()
    return np.frombuffer(raw, dtype=np.uint8, offset=16)[: count * 784].reshape(count, 784).astype(np.float32) / 255.0


def ort_figures(path, input_shape, threads, reps, images):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    big = np.ascontiguousarray(images.reshape(1000, *input_shape))
    one = big[:1].copy()
    sess.run(None, {"input": big})
    thr = []
    for _ in range(reps):
        t = time.perf_counter()
        sess.run(None, {"input": big})
        thr.append(1000 / (time.perf_counter() - t))
    sess.run(None, {"input": one})
    t = time.perf_counter()
    sess.run(None, {"input": one})
    n = max(10, min(5000, int(0.3 / max(time.perf_counter() - t, 1e-6))))
    lat = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(n):
            sess.run(None, {"input": one})
        lat.append((time.perf_counter() - t) / n * 1e3)
    return statistics.median(thr), statistics.median(lat)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", action="append")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="timed repetitions inside each round")
    p.add_argument("--rounds", type=int, default=5,
                   help="rounds of scrawl then onnxruntime; the ratios are taken within each round")
    p.add_argument("--data", default=str(ROOT.parent / "shared/data/mnist"))
    p.add_argument("--isa", choices=isas.CHOICES, default="native",
                   help="avx2: hold scrawl to AVX2 on an AVX-512 CPU (see isa.py)")
    a = p.parse_args()
    models = a.model or ["mlp-512", "cnn"]
    exe, isa_env = isas.scrawl_binary(a.isa)
    print(isas.cpu_line(a.isa))
    env = dict(os.environ, SCRAWL_DATA=a.data, **isa_env)
    images = mnist_images(a.data, 1000)
    with tempfile.TemporaryDirectory() as tmp:
        onnx = {}
        for m in models:
            run = Path(tmp) / m
            scrawl(exe, "train", "--threads", str(a.threads), "--model", m, "--limit", "256", "--epochs", "1",
                   "--quiet", "--out", str(run), env=env)
            onnx[m] = Path(tmp) / f"{m}.onnx"
            scrawl(exe, "export", "--model", str(run / "model.safetensors"), "--format", "onnx", "--out", str(onnx[m]))
        # A shared machine's speed drifts by tens of percent from minute to minute, so
        # scrawl and onnxruntime are measured in alternation, and each round's ratio
        # compares figures taken seconds apart.
        rows = {m: [] for m in models}
        peaks = []
        for _ in range(a.rounds):
            ours = json.loads(scrawl(exe, "bench", "--threads", str(a.threads), "--json", "--repeats", str(a.repeats),
                                     *sum((["--model", m] for m in models), []), env=env))
            peaks.append(ours["gemm_peak_gflops"])
            for m, r in zip(models, ours["models"]):
                shape = (784,) if m.startswith("mlp") or m == "dlfs" else (28, 28, 1)
                thr, lat = ort_figures(onnx[m], shape, a.threads, a.repeats, images)
                rows[m].append((r["infer_images_per_s"]["median"], thr, r["latency_ms"]["median"], lat))
    med = statistics.median
    print(f"{a.threads} threads, onnxruntime {ort.__version__}; GEMM peak {med(peaks):.1f} GFLOP/s "
          f"[{min(peaks):.1f}-{max(peaks):.1f}]; medians of {a.rounds} rounds, ratio ranges in brackets")
    print(f"{'model':<10} {'batch 1000 images/s':>27} {'ratio':>18}   {'batch 1 ms/image':>23} {'ratio':>18}")
    for m in models:
        st, ot, sl, ol = (med(c) for c in zip(*rows[m]))
        tr = [r[0] / r[1] for r in rows[m]]
        lr = [r[2] / r[3] for r in rows[m]]
        print(f"{m:<10} scrawl {st:>8.0f} ort {ot:>8.0f} {med(tr):>6.2f} [{min(tr):.2f}-{max(tr):.2f}]   "
              f"scrawl {sl:>6.3f} ort {ol:>6.3f} {med(lr):>6.2f} [{min(lr):.2f}-{max(lr):.2f}]")


if __name__ == "__main__":
    main()
