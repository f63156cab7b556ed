#!/usr/bin/env bash
# Training-step speed of this checkout against an earlier commit, alternated over
# ROUNDS rounds in one run: builds the train_step benchmark of COMMIT in a worktree
# (target in ../scrawl-ab-target) and of this checkout, then runs mlp-512 (batch 200),
# cnn and cnn-best (batch 128) on each, printing images/s.
# Usage: bench/ab/run.sh COMMIT [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
commit=${1:?usage: bench/ab/run.sh COMMIT [ROUNDS]}
rounds=${2:-3}
tree=../scrawl-ab-$commit
target=$(pwd)/../scrawl-ab-target
[ -d "$tree" ] || git worktree add -f "$tree" "$commit" -q
bin_of() { ls -t "$1"/release/deps/train_step-* | grep -v '\.d$' | head -1; }
(cd "$tree" && CARGO_TARGET_DIR=$target cargo build --release --bench train_step -q)
cargo build --release --bench train_step -q
old=$(bin_of "$target")
new=$(bin_of target)
lscpu | grep 'Model name'
for r in $(seq "$rounds"); do
  for side in old new; do
    bin=$old; [ "$side" = new ] && bin=$new
    for m in "mlp-512 200 300" "cnn 128 30" "cnn-best 128 30"; do
      set -- $m
      rate=$("$bin" "$1" "$2" "$3" | sed -n 's/.*training: \([0-9]*\) images.*/\1/p')
      echo "round $r $side $1 $rate images/s"
    done
  done
done
