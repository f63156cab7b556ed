#!/usr/bin/env bash
# Seconds an epoch of `scrawl train` with AVX-512 against the same commit held to AVX2,
# alternated over ROUNDS rounds on one machine: a stand-in, on an AVX-512 CPU, for the
# AVX2-only machines (AMD Zen 3) that a session may not draw. The AVX2 side is the
# binary build-avx2.sh makes, run with SCRAWL_ISA=avx2.
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
bin=$(bench/ab/build-avx2.sh)
cargo build --release --bin scrawl -q
. bench/ab/common.sh
for r in $(seq "$rounds"); do
  echo "round $r avx512: $(epochs target/release/scrawl)"
  echo "round $r avx2: $(SCRAWL_ISA=avx2 epochs "$bin")"
done
