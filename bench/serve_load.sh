#!/usr/bin/env bash
# Load test of `shopsense serve` (POST /v1/events, one REES46 event per request) and of a
# FastAPI + LightGBM peer scoring with the same LightGBM model (bench/fastapi_intent/app.py).
# Modes: fixed rate (default 2,000 req/s for 60 s, open loop, latency from the due time) and
# max throughput (closed loop, 64 connections). Results: one JSON line per run in
# $OUT/results.jsonl (throughput, p50/p99/max, errors, server RSS, load average).
#
#   bench/serve_load.sh            # RATE=2000 DURATION=60 MAX_DURATION=20 CONNECTIONS=64
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-2000}
DURATION=${DURATION:-60}
MAX_DURATION=${MAX_DURATION:-20}
CONNECTIONS=${CONNECTIONS:-64}
OUT=${OUT:-bench-data/serve_load}
TOOLS=${SHOPSENSE_TOOLS:-$HOME/.cache/shopsense-tools}
export PATH=$TOOLS/venv/bin:$PATH
mkdir -p "$OUT"
: >"$OUT/results.jsonl"
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -p shopsense -p shopsense-serve --bin shopsense --example loadgen
BIN=$TARGET/release/shopsense
LOADGEN=$TARGET/release/examples/loadgen
EVENTS=data/rees46/2019-Oct_head.csv
KEY=bench-key
BUNDLE=$OUT/gbdt.bundle
[ -f "$BUNDLE" ] || "$BIN" --quiet train intent "$EVENTS" --model gbdt --out "$BUNDLE" >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "not ready" >&2; return 1; }
run() { # name port pid rate duration
  echo "== $1: rate=$4 duration=$5 s, load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  "$LOADGEN" --addr "127.0.0.1:$2" --pid "$3" --key "$KEY" --events "$EVENTS" \
    --rate "$4" --duration "$5" --connections "$CONNECTIONS" \
    | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["server"]=sys.argv[1]; print(json.dumps(d))' "$1" \
    | tee -a "$OUT/results.jsonl"
}

# shopsense serve (release), in-memory state, sessions closed after 30 s idle.
PORT=$(free_port)
SHOPSENSE_API_KEY=$KEY "$BIN" serve --bundle "$BUNDLE" --addr "127.0.0.1:$PORT" \
  --session-ttl-secs 30 2>"$OUT/shopsense.log" &
SPID=$!
trap 'kill $SPID 2>/dev/null || true; [ -n "${PPID_:-}" ] && kill $PPID_ 2>/dev/null || true' EXIT
wait_ready "$PORT"
run shopsense "$PORT" "$SPID" "$RATE" "$DURATION"
run shopsense "$PORT" "$SPID" 0 "$MAX_DURATION"
kill -TERM $SPID; wait $SPID || true

# FastAPI + LightGBM peer (uvicorn, 1 worker).
VENV=$TOOLS/bench-venv
[ -x "$VENV/bin/uvicorn" ] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install -q fastapi uvicorn lightgbm numpy; }
PORT=$(free_port)
SHOPSENSE_BUNDLE=$BUNDLE SHOPSENSE_API_KEY=$KEY "$VENV/bin/uvicorn" --app-dir bench/fastapi_intent app:app \
  --host 127.0.0.1 --port "$PORT" --workers 1 --log-level warning 2>"$OUT/fastapi.log" &
PPID_=$!
wait_ready "$PORT"
run fastapi "$PORT" "$PPID_" 0 "$MAX_DURATION"
run fastapi "$PORT" "$PPID_" "$RATE" "$MAX_DURATION"
kill $PPID_; wait $PPID_ 2>/dev/null || true
echo "results: $OUT/results.jsonl" >&2
