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
. bench/ab/common.sh
for r in $(seq "$rounds"); do
  echo "round $r avx512: $(epochs target/release/scrawl)"
  echo "round $r avx2: $(SCRAWL_ISA=avx2 epochs "$target/release/scrawl")"
done
