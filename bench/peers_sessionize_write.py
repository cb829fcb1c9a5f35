#!/usr/bin/env python3
"""The peers' session job *with its output written*, like `shopsense sessionize --out X.parquet`.

Runs the unchanged yardstick (peers_sessionize.py, which computes the session table and writes
nothing) with the final aggregate written to Parquet (zstd) instead of counted, so that both
sides do the whole job: read, cut at the first purchase, aggregate, write.

usage: peers_sessionize_write.py duckdb|polars FILE.csv OUT.parquet
"""
import sys, time
engine, path, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
if engine == "duckdb":
    import duckdb
    con = duckdb.connect()
    con.execute("PRAGMA threads=2")
    con.execute(f"""
    copy (
    with e as (
      select user_session s, strptime(replace(event_time,' UTC',''), '%Y-%m-%d %H:%M:%S') t,
             event_type k, product_id p, price
      from read_csv('{path}', header=true, all_varchar=false,
        columns={{'event_time':'VARCHAR','event_type':'VARCHAR','product_id':'BIGINT','category_id':'BIGINT',
                 'category_code':'VARCHAR','brand':'VARCHAR','price':'DOUBLE','user_id':'BIGINT','user_session':'VARCHAR'}})),
    f as (select s, min(t) filter (where k='purchase') fp from e group by s),
    c as (select e.* from e join f using (s) where fp is null or t <= fp)
      select s, count(*) n, count(*) filter (where k='view') v, count(*) filter (where k='cart') c,
             max(case when k='purchase' then 1 else 0 end) y,
             epoch(max(t)) - epoch(min(t)) dur, avg(price) ap, max(price) mp, count(distinct p) up
      from c group by s) to '{out_path}' (format parquet, compression zstd)""")
    n = con.execute(f"select count(*) from read_parquet('{out_path}')").fetchone()[0]
elif engine == "polars":
    import polars as pl
    e = pl.scan_csv(path).with_columns(
        pl.col("event_time").str.strptime(pl.Datetime, "%Y-%m-%d %H:%M:%S UTC").alias("t"))
    fp = e.filter(pl.col("event_type") == "purchase").group_by("user_session").agg(pl.col("t").min().alias("fp"))
    c = e.join(fp, on="user_session", how="left").filter(pl.col("fp").is_null() | (pl.col("t") <= pl.col("fp")))
    out = c.group_by("user_session").agg(
        pl.len().alias("n"), (pl.col("event_type") == "view").sum().alias("v"),
        (pl.col("event_type") == "cart").sum().alias("c"), (pl.col("event_type") == "purchase").any().alias("y"),
        (pl.col("t").max() - pl.col("t").min()).dt.total_seconds().alias("dur"),
        pl.col("price").mean().alias("ap"), pl.col("price").max().alias("mp"), pl.col("product_id").n_unique().alias("up"),
    ).collect()
    out.write_parquet(out_path, compression="zstd")
    n = out.height
print(f"{engine}: {n} sessions written to {out_path} in {time.perf_counter() - t0:.2f} s")
