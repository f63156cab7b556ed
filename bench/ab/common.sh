# Sourced by the A/B scripts in this folder, with `args` (the `scrawl train` flags)
# set: names the CPU and the command, keeps a scratch run folder (removed on exit),
# and defines `epochs BIN`, which trains once with BIN and prints the seconds of each
# epoch and the test accuracy (equal accuracies on both sides: most likely the same
# weights). SCRAWL_ISA in the caller's environment reaches the run.
data=${SCRAWL_DATA:-../shared/data/mnist}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
lscpu | grep 'Model name'
echo "scrawl train ${args[*]}"
epochs() {
  "$1" train "${args[@]}" --data "$data" --out "$out/run" --overwrite --json --quiet | tail -1 |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join("%.2f" % e["seconds"] for e in d["history"]), "s an epoch, test accuracy", d["test_accuracy"])'
}
