#!/usr/bin/env bash
# Load test of `scrawl serve` on loopback (not part of CI).
#   bench/load/run.sh MODEL.safetensors [DATA_DIR]
# Needs ApacheBench and wrk: apt-get install apache2-utils wrk.
# 1. ab: 10,000 requests at concurrency 32, a new connection each (HTTP/1.0), for
#    JSON pixels and for a 280x280 RGBA canvas PNG; prints failures, req/s, p50, p99.
# 2. wrk: 10 s at 32 keep-alive connections (HTTP/1.1), JSON pixels, with latency.
set -euo pipefail
model=$1
data=${2:-../shared/data/mnist}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$tmp"' EXIT
python3 "$here/bodies.py" "$data" "$tmp"
cargo build --release -q
port=$((20000 + RANDOM % 10000))
target/release/scrawl serve --model "$model" --addr "127.0.0.1:$port" > "$tmp/serve.log" &
server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/api/predict"
for body in px.json:application/json canvas.png:image/png; do
  file=${body%%:*}; type=${body#*:}
  echo "== ab -n 10000 -c 32, $type ($file)"
  ab -q -n 10000 -c 32 -p "$tmp/$file" -T "$type" "$url" |
    grep -E "Complete requests|Failed requests|Non-2xx|Requests per second|  50%|  99%|100%"
done
cat > "$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("$tmp/px.json"):read("*a")
LUA
echo "== wrk -t2 -c32 -d10s, keep-alive, application/json"
wrk -t2 -c32 -d10s --latency -s "$tmp/post.lua" "$url" | grep -E "Requests/sec|requests in|Non-2xx|Socket errors|  50%|  99%"
echo "== reference in the same run: wrk -t2 -c32 -d10s, GET /healthz (HTTP alone, no model)"
wrk -t2 -c32 -d10s --latency "http://127.0.0.1:$port/healthz" | grep -E "Requests/sec|requests in|Non-2xx|Socket errors|  50%|  99%"
