#!/usr/bin/env bash
# Runs every command of docs/GUIDE.md, in order, in ./guide-work (made here), and
# keeps what each printed in guide-work/out/NN.txt. About 15 minutes on 2 cores, plus
# 30-60 minutes for the two CNN runs of tutorial 001.
#   bash docs/guide.sh
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --manifest-path "$root/Cargo.toml" -q
# A fresh folder each time: scrawl refuses to write a run or an export over an
# earlier one without --overwrite, and the guide shows first runs.
rm -rf guide-work
mkdir -p guide-work && cd guide-work
export SCRAWL_DATA=${SCRAWL_DATA:-$root/../shared/data/mnist}
S=$root/target/release/scrawl
mkdir -p out
n=0
run() { n=$((n+1)); f=$(printf "out/%02d.txt" $n); echo "\$ scrawl ${*}" > "$f"; $S "$@" >> "$f" 2>&1; echo "rc=$?" >> "$f"; }
# 000
run data export --format csv --out mnist-csv
run data head --rows 5 --train mnist-csv/mnist_train.csv
run data info --train mnist-csv/mnist_train.csv --test mnist-csv/mnist_test.csv
run data plot-labels --out labels.png
run data show --index 1 --out digit-1.png
run data onehot --rows 3
run summary --model mlp-512-1024-256
run train --model mlp-512-1024-256 --optimizer sgd --lr 0.001 --epochs 20 --batch-size 32 --train mnist-csv/mnist_train.csv --test mnist-csv/mnist_test.csv --out runs/t000-sgd
run plot runs/t000-sgd --out t000-curves.png
# 001
run sweep --hidden 10,10 --hidden 10,20,10 --hidden 10,80,240,80,10 --hidden 10,20,40,80,40,20,10 --hidden 10,20,40,80,160,80,40,20,10 --hidden 10,80,240,960,240,80,10 --hidden 10,80,240,480,960,480,240,80,10 --test-size 0.3 --seed 42 --out sweep.md
run train --model mlp-1024-512-256-128-32 --optimizer adam --epochs 20 --batch-size 500 --validation-split 0.2 --seed 42 --out runs/t001-mlp
run train --model cnn --optimizer adam --epochs 10 --batch-size 500 --validation-split 0.2 --seed 42 --out runs/t001-cnn
run train --model cnn-deep --optimizer adam --epochs 10 --batch-size 500 --validation-split 0.2 --seed 42 --out runs/t001-cnn-deep
run data export --format kaggle --out kaggle
run predict --model runs/t001-mlp/model.safetensors --csv kaggle/test.csv --out submission.csv
# 002
run data show --index 0
run train --model mlp-512-512 --optimizer rmsprop --epochs 5 --batch-size 32 --out runs/t002
# 003
run import dlfs "$SCRAWL_DATA/../dlfs/sample_weight.pkl" --out dlfs.safetensors
run evaluate --model dlfs.safetensors --batch-size 1
run evaluate --model dlfs.safetensors --batch-size 100
# 004
run train --model mlp-512 --optimizer adam --epochs 30 --batch-size 200 --checkpoint 'model/mnist-{epoch:02d}-{val_loss:.4f}.safetensors' --monitor val_loss --early-stopping 10 --out runs/t004
