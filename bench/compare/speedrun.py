#!/usr/bin/env python3
"""The "99% on MNIST in one epoch" recipe, in scrawl and in PyTorch, alternately.

Each round runs, one after the other on the same machine:
- scrawl: the first command of bench/time-to-accuracy.txt with `--seed R`, timed as a
  whole process (start to exit: start-up, reading MNIST, training, testing);
- PyTorch: the same network, standardization, batch (256), Adam (lr 0.01, betas
  0.7/0.9) and one-cycle schedule over one epoch, with torch's seed R, on 2 threads.
  Timed as a whole process too, and separately from the first batch to the test
  accuracy (torch's import alone takes about a second).

It prints every round, then the medians and the median of the per-round ratios with
their range. Not part of CI. Setup: see README.md in this folder.

With `--isa avx2` on an AVX-512 CPU, both sides are held to AVX2 (isa.py says how).

    python bench/compare/speedrun.py [--rounds 5] [--isa avx2]
"""
import argparse, json, os, statistics, subprocess, sys, time
from pathlib import Path

import isa as isas

ROOT = Path(__file__).resolve().parents[1].parent
RECIPE = (ROOT / "bench" / "time-to-accuracy.txt").read_text().splitlines()[0].split()

TORCH = r'''
import sys, time, json
t0 = time.time()
import torch, numpy as np
sys.path.insert(0, sys.argv[3])
from compare import mnist
torch.manual_seed(int(sys.argv[1])); torch.set_num_threads(2)
x, y, xt, yt = mnist(sys.argv[2])
norm = lambda a: (a - 0.1307) / 0.3081  # mnist() gives [N, 1, 28, 28] scaled to [0, 1]
x, xt = norm(x), norm(xt)
nn = torch.nn
model = nn.Sequential(nn.Conv2d(1, 24, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(24, 32, 3),
                      nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(800, 256), nn.ReLU(),
                      nn.Linear(256, 10))
batch = 256
steps = (len(x) + batch - 1) // batch
opt = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.7, 0.9))
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=steps)
t1 = time.time()
perm = torch.randperm(len(x))
model.train()
for i in range(steps):
    idx = perm[i * batch:(i + 1) * batch]
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
    loss.backward()
    opt.step()
    sched.step()
model.eval()
with torch.no_grad():
    acc = sum((model(xt[i:i + 1000]).argmax(1) == yt[i:i + 1000]).sum().item()
              for i in range(0, len(xt), 1000)) / len(xt)
print(json.dumps({"accuracy": acc, "train_seconds": time.time() - t1}))
'''


def scrawl_round(exe, seed, data, env):
    cmd = [exe] + RECIPE[1:] + ["--seed", str(seed), "--out", "/tmp/scrawl-speedrun",
                                "--overwrite", "--json", "--quiet", "--data", data]
    t = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env=os.environ | {"SCRAWL_DATA": data} | env)
    wall = time.time() - t
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return wall, res["test_accuracy"], res["seconds"]


def torch_round(seed, data, env):
    t = time.time()
    out = subprocess.run([sys.executable, "-c", TORCH, str(seed), data, str(ROOT / "bench" / "compare")],
                         capture_output=True, text=True, check=True, env=os.environ | env)
    wall = time.time() - t
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return wall, res["accuracy"], res["train_seconds"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--isa", choices=isas.CHOICES, default="native",
                    help="avx2: hold both sides to AVX2 on an AVX-512 CPU (see isa.py)")
    args = ap.parse_args()
    exe, env_scrawl = isas.scrawl_binary(args.isa)
    env_torch = isas.AVX2_TORCH if args.isa == "avx2" else {}
    print(f"{isas.cpu_line(args.isa)}; command: {' '.join(RECIPE)}")
    if args.isa == "avx2":
        probe = "import torch; print(torch.backends.cpu.get_cpu_capability())"
        cap = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             check=True, env=os.environ | env_torch).stdout.strip()
        print(f"scrawl: {exe} with {env_scrawl}; PyTorch's CPU capability: {cap}")
    rows = []
    for r in range(1, args.rounds + 1):
        s = scrawl_round(exe, r, args.data, env_scrawl)
        t = torch_round(r, args.data, env_torch)
        rows.append((s, t))
        print(f"round {r}: scrawl {s[0]:.2f} s whole ({s[2]:.2f} s training) acc {s[1]:.4f} | "
              f"PyTorch {t[0]:.2f} s whole ({t[2]:.2f} s training) acc {t[1]:.4f} | "
              f"ratio whole {s[0] / t[0]:.2f}, training {s[2] / t[2]:.2f}")
    med = lambda v: statistics.median(v)
    sw, tw = [s[0] for s, _ in rows], [t[0] for _, t in rows]
    ratios = [s[0] / t[0] for s, t in rows]
    tr = [s[2] / t[2] for s, t in rows]
    print(f"scrawl: median {med(sw):.2f} s whole, accuracy mean {statistics.mean(s[1] for s, _ in rows):.4f} "
          f"min {min(s[1] for s, _ in rows):.4f}")
    print(f"PyTorch: median {med(tw):.2f} s whole, accuracy mean {statistics.mean(t[1] for _, t in rows):.4f} "
          f"min {min(t[1] for _, t in rows):.4f}")
    print(f"ratio scrawl/PyTorch, whole process: median {med(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f}); "
          f"training only: median {med(tr):.2f} (range {min(tr):.2f}-{max(tr):.2f})")


if __name__ == "__main__":
    main()
