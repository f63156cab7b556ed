#!/usr/bin/env bash
# Builds this checkout (its uncommitted changes too) a second time without the `gemm`
# crate's `x86-v4` feature and for `-C target-cpu=x86-64-v3` (AVX2 and FMA) instead of
# .cargo/config.toml's `native`, in a worktree (../scrawl-avx2, target
# ../scrawl-avx2-target), and prints the binary's path. Run with SCRAWL_ISA=avx2, that
# binary uses no AVX-512 at all: not the GEMM's kernels, not scrawl's own (chosen at
# run time), and not the loops the compiler vectorizes itself, which `native` on an
# AVX-512 CPU compiles with AVX-512's mask registers (builds before 2026-12-06 did). A
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
(cd "$tree" && RUSTFLAGS="-C target-cpu=x86-64-v3" CARGO_TARGET_DIR=$target \
  cargo build --release --bin scrawl -q) >&2
bin=$target/release/scrawl
# The promise above, checked: every function that touches a 512-bit or mask register
# must be one that runs only where AVX-512 was chosen at run time (`dispatch!`'s
# `wide`, its outlined intrinsics, crc32fast's AVX-512 routine).
if ! command -v objdump > /dev/null; then
  echo "objdump (binutils) is needed to check that $bin has no stray AVX-512" >&2
  exit 1
fi
stray=$(objdump -d --no-show-raw-insn "$bin" |
  awk '/^[0-9a-f]+ <.*>:$/ { name = $2 } /%zmm|%k[1-7]/ { print name }' | sort -u |
  grep -v -e '4wide17h' -e 'avx512f15__mm512' -e 'crc32fast.*calculate_avx512' || true)
if [ -n "$stray" ]; then
  echo "AVX-512 outside the run-time-chosen kernels in $bin:" >&2
  echo "$stray" | head -5 >&2
  exit 1
fi
echo "$bin"
