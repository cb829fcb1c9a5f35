#!/usr/bin/env python3
"""Independent computation (pandas) of the numbers hard-coded in tests/real_data.rs.

Sessions: REES46 by the native `user_session`; Taobao by a 30-minute inactivity gap per user
(a gap strictly greater than 30 min starts a session) after keeping events in
[1511539200, 1512316800) seconds. Inside a session events are in time order, ties in file
order. Sessions are numbered by their first row in the file.

Protocols (positions in time order): full = events before the first purchase, sessions whose
first event is a purchase dropped; early-3 = first 3 events of sessions with >= 3 events before
any purchase; at-cart = events up to and including the first cart, sessions with a cart before
any purchase. Label: the session has a purchase.

Run: python3 crates/features/scripts/expected_counts.py
"""
import math
import os

import numpy as np
import pandas as pd

ROOT = os.path.join(os.path.dirname(__file__), "../../../data")


def rees46():
    df = pd.read_csv(os.path.join(ROOT, "rees46/2019-Oct_head.csv"), dtype=str, keep_default_na=False)
    df["row"] = np.arange(len(df))
    ts = pd.to_datetime(df["event_time"].str.replace(" UTC", ""), utc=True)
    df["t"] = (ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    df["kind"] = df["event_type"]
    df["user"] = df["user_id"]
    df["item"] = df["product_id"]
    df["cat"] = df["category_id"]
    assert (df["user_session"] != "").all()
    df["sess_key"] = df["user_session"]
    return df


def taobao():
    df = pd.read_csv(os.path.join(ROOT, "taobao/UserBehavior_head.csv"), header=None,
                     names=["user", "item", "cat", "kind", "ts"], dtype=str)
    df["row"] = np.arange(len(df))
    df["t"] = df["ts"].astype("int64") * 1000
    df = df[(df["t"] >= 1511539200000) & (df["t"] < 1512316800000)].copy()
    df["kind"] = df["kind"].map({"pv": "view", "cart": "cart", "fav": "wishlist", "buy": "purchase"})
    df = df.sort_values(["user", "t", "row"], kind="stable")
    new = (df["user"] != df["user"].shift()) | (df["t"] - df["t"].shift() > 30 * 60 * 1000)
    df["sess_key"] = new.cumsum()
    return df


def sessionize(df):
    df = df.sort_values(["sess_key", "t", "row"], kind="stable").copy()
    # number sessions by their first row in the file
    first = df.groupby("sess_key")["row"].min().sort_values()
    num = pd.Series(np.arange(len(first)), index=first.index)
    df["sess"] = df["sess_key"].map(num)
    df = df.sort_values(["sess", "t", "row"], kind="stable").copy()
    df["pos"] = df.groupby("sess").cumcount()
    return df


def protocols(df):
    g = df.groupby("sess")
    n = g.size()
    start = g["t"].min()
    user = g["user"].first()
    fp = df[df["kind"] == "purchase"].groupby("sess")["pos"].min().reindex(n.index)
    fc = df[df["kind"] == "cart"].groupby("sess")["pos"].min().reindex(n.index)
    has_p = fp.notna()
    before_p = fp.fillna(n).astype(int)  # events before the first purchase
    out = {}
    full = before_p > 0
    out["full"] = (full, before_p)
    e3 = before_p >= 3
    out["early-3"] = (e3, pd.Series(3, index=n.index))
    ac = fc.notna() & (fc < before_p)
    out["at-cart"] = (ac, fc.fillna(-1).astype(int) + 1)
    res = {}
    for name, (mask, ln) in out.items():
        res[name] = dict(rows=int(mask.sum()), pos=int((mask & has_p).sum()), visible=int(ln[mask].sum()))
    return res, n, start, user, fp, out


def split_sizes(start, mask):
    s = start[mask].reset_index()
    s.columns = ["sess", "start"]
    s = s.sort_values(["start", "sess"], kind="stable")
    st = s["start"].to_numpy()
    n = len(st)
    c1 = math.floor(n * 0.6 + 0.5)
    c2 = math.floor(n * (0.6 + 0.15) + 0.5)
    t1 = st[c1] if c1 < n else np.iinfo(np.int64).max
    t2 = max(st[c2], t1) if c2 < n else np.iinfo(np.int64).max
    return int((st < t1).sum()), int(((st >= t1) & (st < t2)).sum()), int((st >= t2).sum())


def full_feature_sums(df, full, before_p):
    vis = df[df["pos"] < df["sess"].map(before_p)]
    vis = vis[vis["sess"].map(full)]
    g = vis.groupby("sess")
    views = int((vis["kind"] == "view").sum())
    carts = int((vis["kind"] == "cart").sum())
    dur = int((g["t"].max() - g["t"].min()).sum())
    distinct_items = int(g["item"].nunique().sum())
    return dict(views=views, carts=carts, duration_ms=dur, distinct_items=distinct_items)


def user_prev_sessions(df, start, user, mask):
    # earlier sessions of the same user: start strictly before this session's start
    s = pd.DataFrame({"user": user, "start": start})
    tot = 0
    for _, grp in s.groupby("user"):
        st = np.sort(grp["start"].to_numpy())
        idx = grp.index[mask[grp.index].to_numpy()]
        for sid in idx:
            tot += int(np.searchsorted(st, start[sid], side="left"))
    # earlier purchases of the user: purchase events strictly before this session's start
    pur = df[df["kind"] == "purchase"].groupby("user")["t"].apply(lambda x: np.sort(x.to_numpy()))
    tp = 0
    for sid in start.index[mask.to_numpy()]:
        u = user[sid]
        if u in pur.index:
            tp += int(np.searchsorted(pur[u], start[sid], side="left"))
    return tot, tp


for name, loader in [("rees46", rees46), ("taobao", taobao)]:
    df = sessionize(loader())
    res, n, start, user, fp, out = protocols(df)
    print(f"== {name}: {len(df)} events, {len(n)} sessions")
    for p, r in res.items():
        mask = out[p][0]
        print(f"  {p}: rows={r['rows']} positives={r['pos']} visible_events={r['visible']} "
              f"split={split_sizes(start, mask)}")
    full, before_p = out["full"]
    print("  full feature sums:", full_feature_sums(df, full, before_p))
    print("  full user history sums (prev sessions, prev purchases):", user_prev_sessions(df, start, user, full))
