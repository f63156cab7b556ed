#!/usr/bin/env bash
# Makes a small starting corpus for each fuzz target under fuzz/corpus/<target>/ from
# MNIST, the test fixtures and the scrawl binary (built first). Run from the repo root.
set -euo pipefail
S=${SCRAWL:-target/release/scrawl}
C=fuzz/corpus
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p $C/{idx,csv,pickle,npz,model_file,model_config,image,api_predict,checkpoint,template}

"$S" data export --format kaggle --limit 3 --out "$W/kaggle" > /dev/null
"$S" data export --format csv --limit 2 --out "$W/csv" > /dev/null
"$S" data export --format png-dir --limit 3 --out "$W/png" > /dev/null
cp "$W/kaggle/train.csv" $C/csv/kaggle-train.csv
cp "$W/kaggle/test.csv" $C/csv/kaggle-test.csv
cp "$W/csv/mnist_test.csv" $C/csv/mnist_test.csv
gzip -c "$W/kaggle/train.csv" > $C/csv/kaggle-train.csv.gz
i=0
for f in "$W"/png/test/*.png; do cp "$f" $C/image/digit$i.png; i=$((i + 1)); done

python3 - "$C" <<'PY'
import gzip, json, struct, sys, zlib
c = sys.argv[1]
labels = struct.pack(">II", 0x801, 5) + bytes([7, 2, 1, 0, 4])
images = struct.pack(">IIII", 0x803, 2, 28, 28) + bytes(range(256)) * 6 + bytes(56)
for name, data in [("labels", labels), ("images", images)]:
    open(f"{c}/idx/{name}.idx", "wb").write(data)
    open(f"{c}/idx/{name}.idx.gz", "wb").write(gzip.compress(data))
configs = [
    {"name": "mlp", "input_shape": [784], "layers": [
        {"type": "Dense", "units": 16, "activation": "relu"},
        {"type": "Dropout", "rate": 0.2},
        {"type": "Dense", "units": 10, "activation": "softmax"}]},
    {"name": "cnn", "input_shape": [28, 28, 1], "layers": [
        {"type": "Conv2D", "filters": 4, "kernel_size": 3, "strides": 2, "padding": "same",
         "activation": "relu"},
        {"type": "BatchNormalization"},
        {"type": "MaxPooling2D", "pool_size": 2},
        {"type": "AveragePooling2D", "pool_size": [2, 1], "padding": "valid"},
        {"type": "Activation", "activation": "tanh"},
        {"type": "Flatten"},
        {"type": "Dense", "units": 10, "activation": "softmax"}]},
    {"name": "gap", "input_shape": [8, 8, 3], "layers": [
        {"type": "Conv2D", "filters": 10, "kernel_size": [2, 3], "use_bias": False},
        {"type": "GlobalAveragePooling2D"},
        {"type": "Activation", "activation": "softmax"}]},
]
for i, cfg in enumerate(configs):
    open(f"{c}/model_config/config{i}.json", "w").write(json.dumps(cfg))
open(f"{c}/api_predict/json", "wb").write(b"\x01" + json.dumps({"pixels": [0] * 300 + [255] * 184 + [0] * 300}).encode())
open(f"{c}/api_predict/empty-json", "wb").write(b"\x01{}")
PY
cp tests/data/pickle/*.pkl $C/pickle/
for f in $C/image/digit*.png; do printf '\x00' | cat - "$f" > "$C/api_predict/$(basename "$f")"; done

"$S" train --model "$C/model_config/config1.json" --epochs 1 --limit 100 --quiet --out "$W/run" > /dev/null
cp "$W/run/model.safetensors" $C/model_file/cnn.safetensors
"$S" export --model "$W/run/model.safetensors" --format npz --out $C/npz/cnn.npz > /dev/null
"$S" train --model mlp:8 --epochs 1 --limit 100 --quiet --out "$W/mlp" > /dev/null
cp "$W/mlp/model.safetensors" $C/model_file/mlp.safetensors
cp "$W/run/checkpoint.safetensors" $C/checkpoint/cnn.ckpt
"$S" train --model "Dense(8,relu) Dropout(0.3) Dense(10)" --epochs 2 --limit 100 --batch-size 30 \
  --optimizer adam --quiet --out "$W/drop" > /dev/null
cp "$W/drop/checkpoint.safetensors" $C/checkpoint/dropout-adam.ckpt
printf '\x03model/mnist-{epoch:02d}-{val_loss:.4f}.safetensors' > $C/template/keras
printf '\x06{{epoch}}-{accuracy:e}-{loss:08.3f}' > $C/template/braces
"$S" export --model "$W/mlp/model.safetensors" --format npz --out $C/npz/mlp.npz > /dev/null
ls $C/* | head -50
