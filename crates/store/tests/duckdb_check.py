#!/usr/bin/env python3
"""Reads a shopsense store with DuckDB (and Polars, when installed) as plain Parquet.

Usage:
    pip install duckdb polars        # polars is optional
    python3 crates/store/tests/duckdb_check.py STORE_DIR

A store can be made with:
    cargo run -p shopsense-store --example ingest -- STORE_DIR data/rees46/2019-Oct_head.csv data/taobao/UserBehavior_head.csv

Prints the schema DuckDB sees, counts per event_type, rows per hive partition `date`, and
checks the total against the manifest. Exits non-zero when the counts disagree.
"""

import json
import sys
from pathlib import Path


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    store = Path(sys.argv[1])
    manifest = json.loads((store / "manifest.json").read_text())
    expected = sum(f["rows"] for f in manifest["files"])
    glob = str(store / "events" / "*" / "*.parquet")

    import duckdb

    con = duckdb.connect()
    src = f"read_parquet('{glob}', hive_partitioning = true)"
    print(f"duckdb {duckdb.__version__}: {src}")
    for name, typ, *_ in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall():
        print(f"  {name:<14} {typ}")
    print("rows per event_type:")
    rows = con.execute(
        f"SELECT event_type, count(*) AS n FROM {src} GROUP BY 1 ORDER BY n DESC, 1"
    ).fetchall()
    for kind, n in rows:
        print(f"  {kind:<18} {n:>8}")
    total = sum(n for _, n in rows)
    print(f"  {'total':<18} {total:>8}  (manifest: {expected})")
    print("rows per date partition:")
    for date, n, lo, hi in con.execute(
        f"SELECT date, count(*), min(event_time), max(event_time) FROM {src} GROUP BY 1 ORDER BY 1"
    ).fetchall():
        print(f"  {date}  {n:>8}  {lo} .. {hi}")
    ok = total == expected

    try:
        import polars as pl
    except ImportError:
        print("polars not installed: skipped")
    else:
        df = pl.scan_parquet(glob, hive_partitioning=True).collect()
        print(f"polars {pl.__version__}: {df.height} rows, event_time {df.schema['event_time']}")
        ok = ok and df.height == expected

    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
