#!/usr/bin/env bash
# Seconds an epoch of `scrawl train` for this checkout against an earlier commit,
# alternated over ROUNDS rounds in one run: builds scrawl at COMMIT in a worktree
# (target in ../scrawl-ab-target) and this checkout, then runs the same training
# command on each in turn, printing before each run the cache-line round trip between
# the pool's two threads (`cargo bench --bench ownership -- round-trip`: about 60 ns
# when the host keeps the two virtual CPUs close, about 350 ns when it does not).
# Usage: bench/ab/epochs.sh COMMIT [ROUNDS] [TRAIN ARGS...]
# Default TRAIN ARGS: --model mlp-512-512 --epochs 2 --batch-size 32 --optimizer rmsprop --seed 1
set -euo pipefail
cd "$(dirname "$0")/../.."
commit=${1:?usage: bench/ab/epochs.sh COMMIT [ROUNDS] [TRAIN ARGS...]}
rounds=${2:-3}
shift $(( $# < 2 ? $# : 2 ))
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--model mlp-512-512 --epochs 2 --batch-size 32 --optimizer rmsprop --seed 1)
tree=../scrawl-ab-$commit
target=$(pwd)/../scrawl-ab-target
[ -d "$tree" ] || git worktree add -f "$tree" "$commit" -q
(cd "$tree" && CARGO_TARGET_DIR=$target cargo build --release --bin scrawl -q)
cargo build --release --bin scrawl -q
cargo bench --bench ownership --no-run -q 2>/dev/null
probe=$(ls -t target/release/deps/ownership-* | grep -v '\.d$' | head -1)
. bench/ab/common.sh
for r in $(seq "$rounds"); do
  for side in old new; do
    bin=$target/release/scrawl; [ "$side" = new ] && bin=target/release/scrawl
    trip=$("$probe" round-trip | sed -n 's/.*: \([0-9]*\) ns/\1/p')
    echo "round $r $side (round trip $trip ns): $(epochs "$bin")"
  done
done
