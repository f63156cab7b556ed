#!/usr/bin/env bash
# Builds this checkout (its uncommitted changes too) a second time without the `gemm`
# crate's `x86-v4` feature, in a worktree (../scrawl-avx2, target
# ../scrawl-avx2-target), and prints the binary's path. Run with SCRAWL_ISA=avx2, that
# binary uses no AVX-512 at all (neither the GEMM nor scrawl's own kernels): a
# stand-in, on an AVX-512 CPU, for the AVX2-only machines (AMD Zen 3). It is the same
# core at the same clock, so it measures the instruction set alone, not a slower
# machine. Used by avx2.sh and ../compare/speedrun.py --isa avx2.
# Usage: bench/ab/build-avx2.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
tree=../scrawl-avx2
target=$(cd .. && pwd)/scrawl-avx2-target
[ -d "$tree" ] && git worktree remove --force "$tree"
git worktree add -f --detach "$tree" HEAD -q
git diff HEAD | (cd "$tree" && git apply --allow-empty)
sed -i 's/"rayon", "x86-v4"\]/"rayon"]/' "$tree/Cargo.toml"
if grep -q '"x86-v4"' "$tree/Cargo.toml"; then
  echo "could not turn x86-v4 off in $tree/Cargo.toml" >&2
  exit 1
fi
(cd "$tree" && CARGO_TARGET_DIR=$target cargo build --release --bin scrawl -q) >&2
echo "$target/release/scrawl"
