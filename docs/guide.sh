#!/usr/bin/env bash
# Runs every command of docs/GUIDE.md, in order, in ./guide-work/work (made here), and
# keeps what each printed in guide-work/out/NN.txt. About 15 minutes on 2 cores, plus
# 30-60 minutes for the two CNN runs of tutorial 001.
#   bash docs/guide.sh            # all of them
#   bash docs/guide.sh --quick    # all but the trainings, the sweep and what needs
#                                 # their runs (a minute); tests/suite/guide.rs runs
#                                 # this and compares every output with GUIDE.md
# SCRAWL_BIN=path/to/scrawl uses that binary instead of building one.
set -uo pipefail
quick=0
[ "${1:-}" = --quick ] && quick=1
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$root/../shared" && pwd)
if [ -z "${SCRAWL_BIN:-}" ]; then
  cargo build --release --manifest-path "$root/Cargo.toml" -q
fi
S=${SCRAWL_BIN:-$root/target/release/scrawl}
# A fresh folder each time: scrawl refuses to write a run or any file over an
# earlier one without --overwrite, and the guide shows first runs. The commands run
# in guide-work/work with ../shared beside it, so they read as in GUIDE.md.
rm -rf guide-work
mkdir -p guide-work/work guide-work/out && ln -s "$shared" guide-work/shared
cd guide-work/work
export SCRAWL_DATA=../shared/data/mnist
n=0
run() { n=$((n+1)); f=$(printf "../out/%02d.txt" $n); echo "\$ scrawl ${*}" > "$f"; $S "$@" >> "$f" 2>&1; echo "rc=$?" >> "$f"; }
# A long command: with --quick, recorded as skipped.
long() {
  if [ $quick = 1 ]; then
    n=$((n+1)); f=$(printf "../out/%02d.txt" $n); echo "\$ scrawl ${*}" > "$f"; echo "skipped (--quick)" >> "$f"
  else
    run "$@"
  fi
}
# 000
run data export --format csv --out mnist-csv
run data head --rows 5 --train mnist-csv/mnist_train.csv
run data info --train mnist-csv/mnist_train.csv --test mnist-csv/mnist_test.csv
run data plot-labels --out labels.png
run data show --index 1 --out digit-1.png
run data onehot --rows 3
run summary --model mlp-512-1024-256
long train --model mlp-512-1024-256 --optimizer sgd --lr 0.001 --epochs 20 --batch-size 32 --train mnist-csv/mnist_train.csv --test mnist-csv/mnist_test.csv --out runs/t000-sgd
long plot runs/t000-sgd --out t000-curves.png
# 001
long sweep --hidden 10,10 --hidden 10,20,10 --hidden 10,80,240,80,10 --hidden 10,20,40,80,40,20,10 --hidden 10,20,40,80,160,80,40,20,10 --hidden 10,80,240,960,240,80,10 --hidden 10,80,240,480,960,480,240,80,10 --test-size 0.3 --seed 42 --out sweep.md
long train --model mlp-1024-512-256-128-32 --optimizer adam --epochs 20 --batch-size 500 --validation-split 0.2 --seed 42 --out runs/t001-mlp
long train --model cnn --optimizer adam --epochs 10 --batch-size 500 --validation-split 0.2 --seed 42 --out runs/t001-cnn
long train --model cnn-deep --optimizer adam --epochs 10 --batch-size 500 --validation-split 0.2 --seed 42 --out runs/t001-cnn-deep
run data export --format kaggle --out kaggle
long predict --model runs/t001-mlp/model.safetensors --csv kaggle/test.csv --out submission.csv
# 002
run data show --index 0
long train --model mlp-512-512 --optimizer rmsprop --epochs 5 --batch-size 32 --out runs/t002
# 003
run import dlfs ../shared/data/dlfs/sample_weight.pkl --out dlfs.safetensors
run evaluate --model dlfs.safetensors --batch-size 1
run evaluate --model dlfs.safetensors --batch-size 100
# 004
long train --model mlp-512 --optimizer adam --epochs 30 --batch-size 200 --checkpoint 'model/mnist-{epoch:02d}-{val_loss:.4f}.safetensors' --monitor val_loss --early-stopping 10 --out runs/t004
