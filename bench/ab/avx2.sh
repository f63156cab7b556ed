#!/usr/bin/env bash
# Seconds an epoch of `scrawl train` with AVX-512 against the same commit held to AVX2,
# alternated over ROUNDS rounds on one machine: a stand-in, on an AVX-512 CPU, for the
# AVX2-only machines (AMD Zen 3) that a session may not draw. The AVX2 side is this
# checkout built in a worktree (../scrawl-avx2, target ../scrawl-avx2-target) without
# the `gemm` crate's `x86-v4` feature, and run with SCRAWL_ISA=avx2, so that neither
# the GEMM nor scrawl's own kernels use AVX-512. It is the same core at the same clock,
# so it measures the instruction set alone, not a slower machine.
# Usage: bench/ab/avx2.sh [ROUNDS] [TRAIN ARGS...]
# Default TRAIN ARGS: the first line of bench/time-to-accuracy.txt (`speedrun`), seed 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
shift $(( $# < 1 ? $# : 1 ))
args=("$@")
if [ ${#args[@]} -eq 0 ]; then
  read -r -a recipe < bench/time-to-accuracy.txt
  args=("${recipe[@]:2}" --seed 1)
fi
grep -q avx512f /proc/cpuinfo || { echo "this CPU has no AVX-512: nothing to compare" >&2; exit 1; }
tree=../scrawl-avx2
target=$(pwd)/../scrawl-avx2-target
[ -d "$tree" ] && git worktree remove --force "$tree"
git worktree add -f --detach "$tree" HEAD -q
# The working tree's changes too, so that both sides build the same code.
git diff HEAD | (cd "$tree" && git apply --allow-empty)
sed -i 's/"rayon", "x86-v4"\]/"rayon"]/' "$tree/Cargo.toml"
grep -q '"x86-v4"' "$tree/Cargo.toml" && { echo "could not turn x86-v4 off in $tree/Cargo.toml" >&2; exit 1; }
(cd "$tree" && CARGO_TARGET_DIR=$target cargo build --release --bin scrawl -q)
cargo build --release --bin scrawl -q
data=${SCRAWL_DATA:-../shared/data/mnist}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
lscpu | grep 'Model name'
echo "scrawl train ${args[*]}"
for r in $(seq "$rounds"); do
  for side in avx512 avx2; do
    if [ "$side" = avx512 ]; then bin=target/release/scrawl; isa=; else bin=$target/release/scrawl; isa=avx2; fi
    secs=$(SCRAWL_ISA=$isa "$bin" train "${args[@]}" --data "$data" --out "$out/run" --overwrite --json --quiet |
      tail -1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join("%.2f" % e["seconds"] for e in d["history"]), "s an epoch, test accuracy", d["test_accuracy"])')
    echo "round $r $side: $secs"
  done
done
