"""The instruction set the comparison scripts hold scrawl and the reference to.

`native`: scrawl as `cargo build --release` makes it (the widest vectors the CPU has,
chosen at run time), the references as they come. `avx2` (an AVX-512 CPU only): scrawl
is the binary bench/ab/build-avx2.sh makes (no AVX-512 in the GEMM nor in the loops
the compiler vectorizes: built for x86-64-v3), run with SCRAWL_ISA=avx2; PyTorch runs
with ATEN_CPU_CAPABILITY=avx2, DNNL_MAX_CPU_ISA=AVX2 and MKL_ENABLE_INSTRUCTIONS=AVX2
(its own kernels, oneDNN's and MKL's). onnxruntime has no such switch (its MLAS picks
its kernels from CPUID when it loads), so it stays on AVX-512. The same core at the
same clock: it measures the instruction set, not the slower AVX2-only machines.
"""
import os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHOICES = ["native", "avx2"]
AVX2_SCRAWL = {"SCRAWL_ISA": "avx2"}
AVX2_TORCH = {"ATEN_CPU_CAPABILITY": "avx2", "DNNL_MAX_CPU_ISA": "AVX2",
              "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def requested(argv=None):
    """The `--isa` value in argv, read before argparse runs: PyTorch reads its
    variables when it loads, so a script that imports torch must set them first."""
    argv = sys.argv[1:] if argv is None else argv
    for i, a in enumerate(argv):
        if a == "--isa" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--isa="):
            return a.split("=", 1)[1]
    return "native"


def hold_torch(isa):
    """Sets PyTorch's variables in this process's environment (before `import torch`)."""
    if isa == "avx2":
        os.environ.update(AVX2_TORCH)


def scrawl_binary(isa):
    """Builds scrawl for `isa` and returns (binary path, environment to run it with)."""
    if isa == "avx2":
        if "avx512f" not in open("/proc/cpuinfo").read():
            sys.exit("this CPU has no AVX-512: run without --isa")
        # Cargo's messages go to stderr, shown; the script prints the binary's path.
        build = subprocess.run([str(ROOT / "bench" / "ab" / "build-avx2.sh")], cwd=ROOT,
                               check=True, stdout=subprocess.PIPE, text=True)
        return build.stdout.strip().splitlines()[-1], dict(AVX2_SCRAWL)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    return str(ROOT / "target" / "release" / "scrawl"), {}


def cpu_line(isa):
    """The CPU's model name and the instruction set, for the first line of a report."""
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                  if l.startswith("model name")), "?")
    return f"CPU: {model}; instruction set: {isa}"
