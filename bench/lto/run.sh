#!/usr/bin/env bash
# Training-step speed with and without thin LTO, alternated over 3 rounds in one run:
# builds the train_step benchmark twice (thin LTO into target/lto-thin, the project's
# profile into target/), then runs mlp-512 (batch 200) and cnn (batch 128) on each.
# Usage: bench/lto/run.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
bin_of() { ls -t "$1"/release/deps/train_step-* | grep -v '\.d$' | head -1; }
cargo build --release --bench train_step -q
CARGO_PROFILE_RELEASE_LTO=thin CARGO_TARGET_DIR=target/lto-thin \
  cargo build --release --bench train_step -q
none=$(bin_of target)
thin=$(bin_of target/lto-thin)
lscpu | grep 'Model name'
for r in $(seq "$rounds"); do
  for side in thin none; do
    bin=$thin; [ "$side" = none ] && bin=$none
    for m in "mlp-512 200 300" "cnn 128 40"; do
      set -- $m
      rate=$("$bin" "$1" "$2" "$3" | sed -n 's/.*training: \([0-9]*\) images.*/\1/p')
      echo "round $r lto=$side $1 $rate images/s"
    done
  done
done
