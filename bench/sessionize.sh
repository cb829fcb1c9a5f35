#!/usr/bin/env bash
# Session-export benchmark: shopsense vs Polars and DuckDB on the same REES46-format CSV.
#   bench/sessionize.sh [EVENTS=10M] [RUNS=3]
# Makes the input with `shopsense synth` from the bundled REES46 sample (once, cached in
# bench-data/), installs the peers into a venv (bench-data/venv), then runs each tool RUNS
# times and prints wall time, CPU time and peak RSS of every run. The peers run twice per round:
# the unchanged yardstick (writes nothing) and `+w` (writes its session table to Parquet).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
EVENTS="${1:-10M}"; RUNS="${2:-3}"
mkdir -p bench-data
cargo build --release --quiet -p shopsense
B="${CARGO_TARGET_DIR:-target}/release/shopsense"
CSV="bench-data/syn-$EVENTS.csv"
[ -f "$CSV" ] || "$B" synth data/rees46/2019-Oct_head.csv --out "$CSV" -n "$EVENTS" -q
if [ ! -x bench-data/venv/bin/python ]; then
  python3 -m venv bench-data/venv
  bench-data/venv/bin/pip install -q duckdb polars pandas pyarrow
fi
PY=bench-data/venv/bin/python
echo "input: $CSV ($(du -hL "$CSV" | cut -f1), $(($(wc -l < "$CSV") - 1)) events); $(nproc) cores; $(uptime | sed 's/.*load/load/')"
printf '%-10s %8s %8s %9s\n' tool wall_s cpu_s peak_MB
# Tools take turns, so that whatever else the machine does affects all of them alike.
one() {
  local name=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o /tmp/bench-time "$@" >/dev/null 2>&1
  read -r wall user sys rss < /tmp/bench-time
  printf '%-10s %8.2f %8.2f %9.0f\n' "$name" "$wall" "$(awk "BEGIN{print $user + $sys}")" "$((rss / 1024))"
}
for _ in $(seq "$RUNS"); do
  one shopsense "$B" sessionize "$CSV" --out /tmp/bench-sessions.parquet -q
  one polars "$PY" bench/peers_sessionize.py polars "$CSV"
  one duckdb "$PY" bench/peers_sessionize.py duckdb "$CSV"
  # The same peers with their (narrower, 9-column) table written to Parquet, as shopsense does.
  one polars+w "$PY" bench/peers_sessionize_write.py polars "$CSV" /tmp/bench-polars.parquet
  one duckdb+w "$PY" bench/peers_sessionize_write.py duckdb "$CSV" /tmp/bench-duckdb.parquet
done
