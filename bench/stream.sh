#!/usr/bin/env bash
# Streaming throughput: replay an events file into a local Tansu broker as fast as possible,
# then consume + score it with `shopsense stream` and report events/s.
#   bench/stream.sh [EVENTS_FILE=data/taobao/UserBehavior_head.csv] [MODEL=logistic|gbdt] [LIMIT] [SPEED]
# Without SPEED the log is produced first and then consumed as fast as possible (throughput).
# With SPEED (e.g. 5400x) the consumer runs while `replay --speed SPEED` produces: the
# end-to-end latency histogram (event produced -> score acknowledged) is read from /metrics.
# Trains the intent bundle on the same file's format sample (cached in bench-data/), starts
# Tansu (scripts/services/kafka.sh), replays into a fresh topic and prints the stream report.
# STREAM_ARGS: more `shopsense stream` flags for either mode (e.g. --checkpoint-every=250000).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
FILE="${1:-data/taobao/UserBehavior_head.csv}"; MODEL="${2:-logistic}"; LIMIT="${3:-}"; SPEED="${4:-}"
mkdir -p bench-data
# SHOPSENSE_BIN: a given binary (A/B runs of two builds); otherwise this checkout's release build.
if [ -n "${SHOPSENSE_BIN:-}" ]; then B="$SHOPSENSE_BIN"; else
  cargo build --release --quiet -p shopsense
  B="${CARGO_TARGET_DIR:-target}/release/shopsense"
fi
SAMPLE=data/taobao/UserBehavior_head.csv
case "$FILE" in *rees46*|*syn*) SAMPLE=data/rees46/2019-Oct_head.csv ;; esac
BUNDLE="bench-data/stream-$(basename "$SAMPLE" .csv)-$MODEL.bundle"
[ -e "$BUNDLE" ] || "$B" train intent "$SAMPLE" --model "$MODEL" --out "$BUNDLE" -q >/dev/null
SERVICE_PIDS=()
trap 'for p in "${SERVICE_PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done' EXIT
. scripts/services/kafka.sh
T="bench-$$"
echo "input: $FILE${LIMIT:+ (first $LIMIT)}; model: $MODEL; $(nproc) cores; $(uptime | sed 's/.*load/load/')"
if [ -n "$SPEED" ]; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  "$B" stream --topic "$T" --out-topic "$T-scores" --dlq-topic "$T-dlq" --group "g-$T" \
    --bundle "$BUNDLE" --state-dir "bench-data/stream-state-$T" --idle-exit-secs 20 ${STREAM_ARGS:-} \
    --metrics-addr "127.0.0.1:$PORT" -q > /tmp/stream-live.json 2>&1 &
  SP=$!
  sleep 3
  /usr/bin/time -f 'replay: %e s' "$B" replay "$FILE" --topic "$T" --speed "$SPEED" ${LIMIT:+--limit "$LIMIT"} 2>&1 | tail -2
  sleep 2
  curl -s "http://127.0.0.1:$PORT/metrics" | grep -E "end_to_end_latency_seconds_(bucket|count)"
  curl -s "http://127.0.0.1:$PORT/api/state" | python3 -c 'import json,sys; d=json.load(sys.stdin); print({k: v for k, v in d.items() if "latency" in k or k in ("events_total", "events_per_second")})'
  wait "$SP"; tail -1 /tmp/stream-live.json
  rm -rf "bench-data/stream-state-$T"
  exit 0
fi
"$B" replay "$FILE" --topic "$T" --speed max ${LIMIT:+--limit "$LIMIT"} -q
rm -rf "bench-data/stream-state-$T"
${PERF:-} /usr/bin/time -o /tmp/stream-time -f 'stream process: %e s wall, %U s user, %S s sys, %M KB peak' \
  "$B" stream --topic "$T" --out-topic "$T-scores" --dlq-topic "$T-dlq" --group "g-$T" \
  --bundle "$BUNDLE" --state-dir "bench-data/stream-state-$T" --idle-exit-secs 3 ${STREAM_ARGS:-} 2>&1 | grep -v "^\s*$" | tail -3
rm -rf "bench-data/stream-state-$T"
cat /tmp/stream-time
