#!/usr/bin/env python3
"""Python `implicit` ALS on exactly the split of `shopsense train recs --export-split DIR`.

train.csv: user,item,level of every training event (confidence = 1 + alpha * level weight,
view 1 / cart 3 / purchase 6, summed per user×item). queries.csv: task,user,context,target
(context = the user's training history and the session prefix, as the shopsense evaluation
sees it). For each query the user vector is recomputed from the context items
(recalculate_user), so sessions of users unseen in training are scored too; an empty context
gets the most popular items. Prints HR/MRR/NDCG@10/20 and coverage@20 per task as JSON.

Usage: recs_implicit_als.py DIR [--factors 64] [--iterations 15] [--reg 0.01] [--alpha 10]
Install: python3 -m venv ~/.cache/shopsense-tools/venv-recs && venv-recs/bin/pip install implicit
"""
import argparse, csv, json, math, os, sys, time
import numpy as np
import scipy.sparse as sp
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import implicit

W = {1: 1.0, 2: 3.0, 3: 6.0}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--reg", type=float, default=0.01)
    ap.add_argument("--alpha", type=float, default=10.0)
    a = ap.parse_args()
    users, items = {}, {}
    rows, cols, vals = [], [], []
    with open(os.path.join(a.dir, "train.csv")) as f:
        for r in csv.DictReader(f):
            u = users.setdefault(r["user"], len(users))
            i = items.setdefault(r["item"], len(items))
            rows.append(u); cols.append(i); vals.append(W.get(int(r["level"]), 1.0))
    ui = sp.csr_matrix((np.array(vals, dtype=np.float32), (rows, cols)), shape=(len(users), len(items)))
    ui.sum_duplicates()
    conf = ui.copy(); conf.data = 1.0 + a.alpha * conf.data
    pop = np.asarray(ui.sum(axis=0)).ravel()
    pop_top = np.argsort(-pop, kind="stable")[:20]
    t0 = time.time()
    model = implicit.als.AlternatingLeastSquares(factors=a.factors, iterations=a.iterations,
                                                 regularization=a.reg, random_state=42)
    model.fit(conf, show_progress=False)
    fit_s = time.time() - t0
    names = {v: k for k, v in items.items()}
    tasks = {}
    with open(os.path.join(a.dir, "queries.csv")) as f:
        for r in csv.DictReader(f):
            tasks.setdefault(r["task"], []).append(r)
    out = {"library": f"implicit {implicit.__version__}", "factors": a.factors,
           "iterations": a.iterations, "regularization": a.reg, "alpha": a.alpha,
           "fit_seconds": fit_s, "train_users": len(users), "train_items": len(items), "tasks": {}}
    for task, qs in tasks.items():
        hr10 = hr20 = mrr10 = mrr20 = nd10 = nd20 = 0.0
        covered = set()
        for q in qs:
            ctx = [items[x] for x in q["context"].split() if x in items]
            if ctx:
                c = sp.csr_matrix((np.array([1.0 + a.alpha] * len(ctx), dtype=np.float32),
                                   ([0] * len(ctx), ctx)), shape=(1, len(items)))
                c.sum_duplicates()
                ids, _ = model.recommend(0, c, N=20, recalculate_user=True,
                                         filter_already_liked_items=False)
            else:
                ids = pop_top
            ids = list(ids)
            covered.update(ids)
            t = items.get(q["target"])
            if t is not None and t in ids:
                r = ids.index(t)
                hr20 += 1; mrr20 += 1 / (r + 1); nd20 += 1 / math.log2(r + 2)
                if r < 10:
                    hr10 += 1; mrr10 += 1 / (r + 1); nd10 += 1 / math.log2(r + 2)
        n = max(len(qs), 1)
        out["tasks"][task] = {"queries": len(qs), "hr10": hr10 / n, "hr20": hr20 / n,
                              "mrr10": mrr10 / n, "mrr20": mrr20 / n, "ndcg10": nd10 / n,
                              "ndcg20": nd20 / n, "coverage20": len(covered) / max(len(items), 1)}
    json.dump(out, sys.stdout, indent=2)
    print()

if __name__ == "__main__":
    main()
