#!/usr/bin/env python3
# Copied unchanged from the team's shared/bench (the yardstick behind the figures in the issues).
"""Peer baselines for the session-feature job on a REES46-format CSV.

The job: read the CSV, cut each session at its first purchase (keep events up to and including
it), and aggregate per session: events, views, carts, purchases (label), duration seconds,
mean and max price, distinct products. Writes nothing; prints sessions and seconds.

usage: peers_sessionize.py duckdb|polars|pandas FILE.csv
"""
import sys, time
engine, path = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if engine == "duckdb":
    import duckdb
    con = duckdb.connect()
    con.execute("PRAGMA threads=2")
    n = con.execute(f"""
    with e as (
      select user_session s, strptime(replace(event_time,' UTC',''), '%Y-%m-%d %H:%M:%S') t,
             event_type k, product_id p, price
      from read_csv('{path}', header=true, all_varchar=false,
        columns={{'event_time':'VARCHAR','event_type':'VARCHAR','product_id':'BIGINT','category_id':'BIGINT',
                 'category_code':'VARCHAR','brand':'VARCHAR','price':'DOUBLE','user_id':'BIGINT','user_session':'VARCHAR'}})),
    f as (select s, min(t) filter (where k='purchase') fp from e group by s),
    c as (select e.* from e join f using (s) where fp is null or t <= fp)
    select count(*) from (
      select s, count(*) n, count(*) filter (where k='view') v, count(*) filter (where k='cart') c,
             max(case when k='purchase' then 1 else 0 end) y,
             epoch(max(t)) - epoch(min(t)) dur, avg(price) ap, max(price) mp, count(distinct p) up
      from c group by s)""").fetchone()[0]
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
    n = out.height
elif engine == "pandas":
    import pandas as pd
    e = pd.read_csv(path)
    e["t"] = pd.to_datetime(e.event_time.str.replace(" UTC", ""), format="%Y-%m-%d %H:%M:%S")
    fp = e[e.event_type == "purchase"].groupby("user_session").t.min().rename("fp")
    e = e.join(fp, on="user_session")
    c = e[e.fp.isna() | (e.t <= e.fp)]
    g = c.groupby("user_session")
    out = pd.DataFrame({"n": g.size(), "v": g.event_type.apply(lambda x: (x == "view").sum()),
                        "c": g.event_type.apply(lambda x: (x == "cart").sum()),
                        "y": g.event_type.apply(lambda x: (x == "purchase").any()),
                        "dur": (g.t.max() - g.t.min()).dt.total_seconds(), "ap": g.price.mean(),
                        "mp": g.price.max(), "up": g.product_id.nunique()})
    n = len(out)
print(f"{engine}: {n} sessions in {time.perf_counter() - t0:.2f} s")
