#!/usr/bin/env bash
# Purchase-intent speed benchmark: GBDT training on the sessions of 10M synthetic events
# (~2.9M sessions, `full` protocol: 1.74M training prefixes × 65 features) and scoring every
# prefix, next to LightGBM (Python) trained on exactly the same matrix with the same params.
#   bench/intent_speed.sh [CSV=/root/bench/syn10m.csv] [RUNS=2]
# The CSV is made with `shopsense synth data/rees46/2019-Oct_head.csv -n 10M` when missing.
# Prints one line per run: wall time, CPU, peak RSS; then the per-step seconds and rates.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
CSV="${1:-/root/bench/syn10m.csv}"; RUNS="${2:-2}"
OUT=bench-data/intent-speed
mkdir -p "$OUT"
cargo build --release --quiet -p shopsense
cp "${CARGO_TARGET_DIR:-target}/release/shopsense" "$OUT/shopsense"   # private copy
B="$OUT/shopsense"
[ -f "$CSV" ] || "$B" synth data/rees46/2019-Oct_head.csv --out "$CSV" -n 10M -q
if [ ! -x bench-data/venv-intent/bin/python ]; then
  python3 -m venv bench-data/venv-intent
  bench-data/venv-intent/bin/pip install -q pandas scikit-learn lightgbm pyarrow
fi
bench-data/venv-intent/bin/python -c "import pyarrow" 2>/dev/null \
  || bench-data/venv-intent/bin/pip install -q pyarrow
PY=bench-data/venv-intent/bin/python
export OMP_WAIT_POLICY=passive
echo "input: $CSV ($(du -hL "$CSV" | cut -f1)); $(nproc) cores; $(uptime | sed 's/.*load/load/')"

timed() {   # timed NAME CMD… : runs CMD, stdout to $OUT/NAME.out, prints wall/cpu/peak
  local name=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o "$OUT/time" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err" \
    || { cat "$OUT/$name.err" >&2; exit 1; }
  read -r wall user sys rss < "$OUT/time"
  printf '%-34s wall %7.2f s  cpu %7.2f s  peak %6.0f MB  (load %s)\n' "$name" "$wall" \
    "$(awk "BEGIN{print $user + $sys}")" "$((rss / 1024))" "$(cut -d' ' -f1 /proc/loadavg)"
}

timed features "$B" features "$CSV" --out "$OUT/features.parquet" -q

# name|--gbdt-params patch ("" = the defaults chosen on the small samples)
CONFIGS=(
  'defaults|{}'
  'lr0.1-200rounds|{"learning_rate":0.1,"n_rounds":200}'
  'lr0.2-60rounds-31leaves|{"learning_rate":0.2,"n_rounds":60,"num_leaves":31}'
  'lr0.2-60rounds-15leaves|{"learning_rate":0.2,"n_rounds":60,"num_leaves":15}'
)
for c in "${CONFIGS[@]}"; do
  name=${c%%|*}; params=${c#*|}
  for r in $(seq "$RUNS"); do
    [ "$name" = defaults ] && [ "$r" -gt 1 ] && continue   # 5 minutes a run: once is enough
    timed "train-$name-$r" "$B" train intent "$CSV" --out "$OUT/$name.bundle" --bootstrap 0 \
      --json -q --model gbdt --gbdt-params "$params"
    python3 -c "import json,sys; s=json.load(open(sys.argv[1])); sec=s['seconds']; \
print('   fit %.2f s (read %.2f, prepare %.2f, evaluate %.2f), %s rounds, valid ROC %.4f PR %.4f' % \
(sec['fit'], sec['read'], sec['prepare'], sec['evaluate'], s['rounds'], s['validation']['roc_auc'], s['validation']['pr_auc']))" "$OUT/train-$name-$r.out"
    timed "predict-$name-$r" "$B" predict "$CSV" --bundle "$OUT/$name.bundle" \
      --out "$OUT/scores.parquet" --json -q
    python3 -c "import json,sys; s=json.load(open(sys.argv[1])); sec=s['seconds']; r=s['prefixes_per_second']; \
print('   %d prefixes: score %.2f s = %.0f/s (features+model %.0f/s, model %.0f/s); read %.2f s, write %.2f s' % \
(s['prefixes'], sec['score'], r['score'], r['features_and_model'], r['model'], sec['read'], sec['write']))" "$OUT/predict-$name-$r.out"
    timed "python-lightgbm-$name-$r" "$PY" bench/intent_speed.py "$OUT/features.parquet" "$OUT/$name.bundle"
    python3 -c "import json,sys; s=json.load(open(sys.argv[1])); \
print('   fit %.2f s, %s rounds, valid ROC %.4f PR %.4f; predict %d rows %.2f s = %.0f/s; read parquet %.2f s' % \
(s['fit_s'], s['rounds'], s['valid_roc_auc'], s['valid_pr_auc'], s['rows'], s['predict_s'], s['predict_rows_per_s'], s['read_s']))" "$OUT/python-lightgbm-$name-$r.out"
  done
done
rm -f "$B"
