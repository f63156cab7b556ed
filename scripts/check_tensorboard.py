#!/usr/bin/env python3
"""Reads scrawl's TensorBoard event files with the `tensorboard` PyPI package's own
reader and checks them against the run's history.csv.

    python3 -m venv ../venv-tb && ../venv-tb/bin/pip install tensorboard
    ../venv-tb/bin/python scripts/check_tensorboard.py [RUN ...]

Without RUN folders it trains two small runs into a temporary folder first (MNIST from
$SCRAWL_DATA or ../shared/data/mnist). For each run it checks:
- every epoch's loss, accuracy (train and validation) and learning rate equals the
  value in history.csv rounded to f32 (scalars are f32 in TensorBoard, as Keras writes
  them; history.csv prints the f64);
- the batch loss is there every --tensorboard-update-freq steps;
- every weight tensor has a histogram per epoch whose counts add up to its size;
- the mistakes gallery is a PNG of the size its record states;
- the hparams plugin parses the run's settings and its end.
Not run by CI (it needs the tensorboard package); run it after changing src/tensorboard.rs.
"""
import csv
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import metadata as hp_metadata
from tensorboard.util import tensor_util

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRAWL = os.path.join(ROOT, "target", "release", "scrawl")


def load(folder):
    acc = event_accumulator.EventAccumulator(
        folder, size_guidance={event_accumulator.TENSORS: 0, event_accumulator.HISTOGRAMS: 0,
                               event_accumulator.IMAGES: 0})
    acc.Reload()
    return acc


def scalars(acc, tag):
    return {e.step: tensor_util.make_ndarray(e.tensor_proto).item() for e in acc.Tensors(tag)}


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def check_run(run):
    failures = []

    def expect(ok, what):
        if not ok:
            failures.append(what)

    with open(os.path.join(run, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(run, "config.json")) as f:
        config = json.load(f)
    tb = config["callbacks"]["tensorboard"]
    logdir = tb.get("log_dir") or os.path.join(run, "tensorboard")
    train, val, top = load(os.path.join(logdir, "train")), load(os.path.join(logdir, "validation")), load(logdir)

    loss, accuracy, lr = (scalars(train, t) for t in ("epoch_loss", "epoch_accuracy", "epoch_learning_rate"))
    vloss, vacc = scalars(val, "epoch_loss"), scalars(val, "epoch_accuracy")
    compared = 0
    for r in rows:
        e = int(r["epoch"])
        expect(loss.get(e) == f32(float(r["loss"])), f"epoch {e} loss {loss.get(e)} != {r['loss']}")
        expect(accuracy.get(e) == f32(float(r["accuracy"])), f"epoch {e} accuracy {accuracy.get(e)} != {r['accuracy']}")
        expect(e in lr and f32(lr[e]) == f32(float(r["learning_rate"])), f"epoch {e} lr {lr.get(e)} != {r['learning_rate']}")
        compared += 3
        if r["val_loss"]:
            expect(vloss.get(e) == f32(float(r["val_loss"])), f"epoch {e} val_loss {vloss.get(e)} != {r['val_loss']}")
            expect(vacc.get(e) == f32(float(r["val_accuracy"])), f"epoch {e} val_accuracy {vacc.get(e)} != {r['val_accuracy']}")
            compared += 2
        else:
            expect(e not in vloss, f"epoch {e} was not validated but has a val_loss")
    expect(sorted(loss) == [int(r["epoch"]) for r in rows], f"epochs {sorted(loss)} != history's")

    freq = tb.get("update_freq")
    batches = scalars(train, "batch_loss") if "batch_loss" in train.Tags()["tensors"] else {}
    if freq:
        expect(batches and all(s % freq == 0 for s in batches), f"batch_loss steps {sorted(batches)[:5]}... not every {freq}")
        expect(all(0 < v < 100 for v in batches.values()), "a batch loss out of range")
    else:
        expect(not batches, "batch_loss written without update_freq")

    histos = train.Tags()["histograms"]
    expect(len(histos) > 0, "no histograms")
    for tag in histos:
        events = train.Histograms(tag)
        expect(len(events) == len(rows), f"{tag}: {len(events)} histograms for {len(rows)} epochs")
        for h in events:
            v = h.histogram_value
            expect(sum(v.bucket) == v.num and v.min <= v.max, f"{tag} step {h.step}: counts {sum(v.bucket)} != {v.num}")

    images = top.Tags()["images"]
    expect("mistakes" in images, f"no mistakes image (images: {images})")
    for im in top.Images("mistakes") if "mistakes" in images else []:
        png = im.encoded_image_string
        expect(png[:8] == b"\x89PNG\r\n\x1a\n", "the mistakes image is not a PNG")
        w, h = struct.unpack(">II", png[16:24])
        expect((w, h) == (im.width, im.height), f"PNG {w}x{h} but the record says {im.width}x{im.height}")

    start = end = None
    for tag, content in top.PluginTagToContent("hparams").items():
        if tag == hp_metadata.SESSION_START_INFO_TAG:
            start = hp_metadata.parse_session_start_info_plugin_data(content)
        elif tag == "_hparams_/session_end_info":
            end = hp_metadata.parse_session_end_info_plugin_data(content)
    expect(start is not None, "no hparams session_start_info")
    if start is not None:
        hp = start.hparams
        expect(hp["batch_size"].number_value == config["batch_size"], "hparams batch_size")
        expect(hp["seed"].number_value == config["seed"], "hparams seed")
        expect(hp["model"].string_value == config["model"]["name"], "hparams model")
    expect(end is not None and end.status == 1, "no successful session_end_info")
    print(f"{run}: {compared} epoch scalars equal history.csv's (as f32); {len(batches)} batch losses; "
          f"{len(histos)} weight histograms x {len(rows)} epochs; mistakes image; hparams "
          f"{sorted(start.hparams) if start else None}"
          + ("" if not failures else f"\n  FAILED: " + "\n  FAILED: ".join(failures)))
    return not failures


def main():
    runs = sys.argv[1:]
    if not runs:
        tmp = tempfile.mkdtemp(prefix="scrawl-tb-")
        env = dict(os.environ)
        env.setdefault("SCRAWL_DATA", os.path.join(ROOT, "..", "shared", "data", "mnist"))
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
        for name, args in [("a", ["--model", "mlp-512", "--optimizer", "adam", "--epochs", "3",
                                  "--batch-size", "200", "--tensorboard-update-freq", "20"]),
                           ("b", ["--model", "cnn", "--epochs", "2", "--batch-size", "128",
                                  "--validation-freq", "2"])]:
            out = os.path.join(tmp, "runs", name)
            subprocess.run([SCRAWL, "train", "--limit", "6000", "--tensorboard", "--quiet", "--out", out] + args,
                           env=env, check=True)
            runs.append(out)
        print(f"trained {len(runs)} runs under {tmp}/runs (tensorboard --logdir {tmp}/runs shows them)")
    ok = all([check_run(r) for r in runs])
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
