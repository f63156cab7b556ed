#!/usr/bin/env bash
# Load test of `scrawl serve` on loopback, against the tiny_http server it replaced,
# both measured in the same run (not part of CI).
#   bench/load/run.sh MODEL.safetensors [DATA_DIR]
# Environment: OLD_REV, the git revision of the last tiny_http build (default
# af36855), built once into target/load-old; ROUNDS (default 3): the two servers take
# turns, new then old, in each round.
# Needs ApacheBench and wrk: apt-get install apache2-utils wrk.
# Per server and round:
# 1. ab: 10,000 requests at concurrency 32, a new connection each (HTTP/1.0), for
#    JSON pixels and for a 280x280 RGBA canvas PNG: failures, req/s, p99.
# 2. wrk: 10 s at 32 keep-alive connections (HTTP/1.1), JSON pixels: errors, req/s, p99.
# The new server runs with its defaults, request log on (to a file).
set -euo pipefail
model=$(realpath "$1")
data=$(realpath "${2:-../shared/data/mnist}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
old_rev=${OLD_REV:-af36855}
rounds=${ROUNDS:-3}
tmp=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$tmp"' EXIT
python3 "$here/bodies.py" "$data" "$tmp"
(cd "$root" && cargo build --release -q --bin scrawl)
old=$root/target/load-old
if [ ! -x "$old/target/release/scrawl" ]; then
  [ -d "$old" ] || git -C "$root" worktree add -f --detach "$old" "$old_rev" > /dev/null
  (cd "$old" && cargo build --release -q --bin scrawl)
fi
cat > "$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("$tmp/px.json"):read("*a")
LUA
# measure ROUND SIDE BINARY: one line of results for one server.
measure() {
  local round=$1 side=$2 bin=$3 port=$((20000 + RANDOM % 10000))
  "$bin" serve --model "$model" --addr "127.0.0.1:$port" > /dev/null 2> "$tmp/$side.log" &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
  local url="http://127.0.0.1:$port/api/predict" line="$round $side"
  for body in px.json:application/json canvas.png:image/png; do
    local file=${body%%:*} type=${body#*:}
    ab -q -n 10000 -c 32 -p "$tmp/$file" -T "$type" "$url" > "$tmp/ab.txt" 2>&1 || true
    local rps fail non2xx p99
    rps=$(awk '/Requests per second/ {print $4}' "$tmp/ab.txt")
    fail=$(awk '/Failed requests/ {print $3}' "$tmp/ab.txt")
    non2xx=$(awk '/Non-2xx/ {print $3}' "$tmp/ab.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$tmp/ab.txt")
    line="$line ab_${file%%.*}=${rps:-0}/$((${fail:-10000} + ${non2xx:-0}))err/p99=${p99:-?}ms"
  done
  wrk -t2 -c32 -d10s --latency -s "$tmp/post.lua" "$url" > "$tmp/wrk.txt" 2>&1 || true
  local rps errs p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")
  errs=$(awk '/Non-2xx|Socket errors/ {n++} END {print n+0}' "$tmp/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$tmp/wrk.txt")
  line="$line wrk_json=${rps:-0}/${errs}err/p99=${p99:-?}"
  kill "$server"; wait "$server" 2> /dev/null || true; server=
  echo "$line" | tee -a "$tmp/results"
}
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; model $model; new = $(git -C "$root" rev-parse --short HEAD), old = $old_rev"
for round in $(seq "$rounds"); do
  measure "$round" new "$root/target/release/scrawl"
  measure "$round" old "$old/target/release/scrawl"
done
python3 - "$tmp/results" <<'PY'
import re, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
runs = {}
for r in rows:
    for f in r[2:]:
        name, rest = f.split("=", 1)
        rps = float(rest.split("/")[0])
        runs.setdefault(name, {}).setdefault(r[1], []).append(rps)
for name, sides in runs.items():
    ratios = [n / o for n, o in zip(sides["new"], sides["old"]) if o > 0]
    print(f"{name}: new {statistics.median(sides['new']):,.0f} req/s, old {statistics.median(sides['old']):,.0f} req/s;"
          f" new/old median {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f}, {len(ratios)} rounds)")
PY
