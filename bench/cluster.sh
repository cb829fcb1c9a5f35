#!/usr/bin/env bash
# Distributed job benchmark (issue 7): the same job — `shopsense sessionize` (JOB=sessionize,
# the default) or `shopsense features` (JOB=features: the intent feature matrices) of a store
# of EVENTS synthetic events — run
#   1. in process (`--engine local`, the default),
#   2. on a Spark standalone cluster: master + 2 workers (1 core each) + Spark Connect driver,
#      through `--engine sc://…`,
#   3. on Spark local mode (`local[2]`: one JVM, 2 task threads), through the same client.
#   bench/cluster.sh [EVENTS=40M] [JOB=sessionize|features]
# Peak memory: for the local path the process's peak RSS; for Spark the peak over time of the
# summed RSS of every Spark JVM (sampled every 0.5 s) plus the client's own peak RSS.
# The input CSV and the store live in bench-data/ (≈ 5 GB CSV + 0.7 GB Parquet at 40M).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
EVENTS="${1:-40M}"
JOB="${2:-sessionize}"
case "$JOB" in sessionize|features) ;; *) echo "JOB must be sessionize or features" >&2; exit 2 ;; esac
mkdir -p bench-data
cargo build --release --quiet -p shopsense
B=bench-data/shopsense-cluster-bench
cp "${CARGO_TARGET_DIR:-target}/release/shopsense" "$B"   # private copy
CSV="bench-data/syn-$EVENTS.csv"
STORE="bench-data/store-$EVENTS"
[ -f "$CSV" ] || "$B" synth data/rees46/2019-Oct_head.csv --out "$CSV" -n "$EVENTS" -q
echo "input: $CSV ($(du -hL "$CSV" | cut -f1)); $(nproc) cores; $(free -g | awk '/Mem:/ {print $2}') GiB; $(uptime | sed 's/.*load/load/')"

timed() {   # timed NAME CMD… : prints wall, CPU and peak RSS of CMD; its stderr to bench-data/NAME.err
  local name=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o bench-data/time "$@" >/dev/null 2>"bench-data/$name.err" \
    || { cat "bench-data/$name.err" >&2; exit 1; }
  read -r wall user sys rss < bench-data/time
  printf '%-22s wall %8.2f s  cpu %8.2f s  peak %6d MB  | %s\n' "$name" "$wall" \
    "$(awk "BEGIN{print $user + $sys}")" "$((rss / 1024))" "$(grep -E 'sessions|prefixes' "bench-data/$name.err" | tail -1)"
  echo "$rss" > bench-data/last-rss
}

if [ ! -f "$STORE/manifest.json" ]; then
  timed ingest "$B" ingest "$CSV" --store "$STORE" -q
fi
timed local "$B" "$JOB" "$STORE" --out "bench-data/cluster-$JOB-local.parquet" -q

SERVICE_PIDS=()
trap 'for p in "${SERVICE_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done; true' EXIT
jvm_rss_kb() { ps -C java -o rss= | awk '{s += $1} END {print s + 0}'; }

spark_run() {   # spark_run NAME MASTER(empty = standalone with 2 workers)
  local name=$1 master=$2
  SERVICE_PIDS=()
  if [ -n "$master" ]; then
    export SHOPSENSE_SPARK_MASTER="$master" SHOPSENSE_SPARK_DRIVER_MEMORY=12g
  else
    unset SHOPSENSE_SPARK_MASTER
    export SHOPSENSE_SPARK_WORKER_MEMORY=6g SHOPSENSE_SPARK_EXECUTOR_MEMORY=5g \
      SHOPSENSE_SPARK_DRIVER_MEMORY=6g
  fi
  export SHOPSENSE_SPARK_PORT_BASE=18000
  . scripts/services/spark.sh
  local peak=0 stop=bench-data/sampler.stop
  rm -f "$stop"
  ( p=0; while [ ! -f "$stop" ]; do r=$(jvm_rss_kb); [ "$r" -gt "$p" ] && p=$r; echo "$p" > bench-data/jvm-peak; sleep 0.5; done ) &
  local sampler=$!
  timed "$name" "$B" "$JOB" "$STORE" --engine "$SHOPSENSE_SPARK_REMOTE" --out "bench-data/cluster-$JOB-$name.parquet" -q
  touch "$stop"; wait "$sampler" || true
  peak=$(cat bench-data/jvm-peak)
  printf '%-22s Spark JVMs peak %6d MB + client %6d MB = %6d MB\n' "$name" "$((peak / 1024))" \
    "$(($(cat bench-data/last-rss) / 1024))" "$(((peak + $(cat bench-data/last-rss)) / 1024))"
  for p in "${SERVICE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 60); do [ "$(jvm_rss_kb)" -eq 0 ] && break; sleep 0.5; done
}
spark_run spark-2-executors ""
spark_run spark-local-2 "local[2]"
