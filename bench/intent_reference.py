#!/usr/bin/env python3
"""Runs the team's reference purchase-intent script (/work/shared/bench/intent_baselines.py,
or $INTENT_REFERENCE) unchanged except for asserted textual substitutions, once per seed, and
records its test predictions to add bootstrap 95 % intervals.

usage: intent_reference.py rees46|taobao FILE [--seeds 42,1,2,3,4] [--fix-time] [--boot 1000]

* Seeds: `random_state=42` of the forest, `default_rng(42)` of its undersampling and the
  LightGBM seed (the script leaves it at LightGBM's default) are set to each seed. Seed 42
  with the default LightGBM seed is the script exactly as published.
* --fix-time: the script converts REES46 times with `.astype("int64") // 10**9`, which
  assumes nanoseconds; pandas >= 3 parses these strings to microseconds, so its "seconds"
  are really units of 1000 s (start times collapse into 16.7-minute buckets, so its 75 % cut
  falls elsewhere and durations are mostly 0). --fix-time converts to seconds properly.
  Taobao times are integers and are not affected.

Prints one JSON line per (protocol, model, seed): roc_auc, pr_auc, n_test, positives, and
for the first seed the bootstrap intervals.
"""
import json, sys
import numpy as np
import sklearn.metrics as skm

args = sys.argv[1:]
kind, path = args[0], args[1]
seeds = [42, 1, 2, 3, 4]
fix_time = "--fix-time" in args
boot = 1000
if "--seeds" in args:
    seeds = [int(s) for s in args[args.index("--seeds") + 1].split(",")]
if "--boot" in args:
    boot = int(args[args.index("--boot") + 1])
ref = __import__("os").environ.get("INTENT_REFERENCE", "/work/shared/bench/intent_baselines.py")
src0 = open(ref).read()


def sub(src, old, new):
    assert old in src, f"reference script changed: {old!r} not found"
    return src.replace(old, new)


def boot_ci(y, p, f, seed=17):
    rng = np.random.default_rng(seed)
    n = len(y)
    vals = []
    for _ in range(boot):
        i = rng.integers(0, n, n)
        if 0 < y[i].sum() < n:
            vals.append(f(y[i], p[i]))
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]


for k, seed in enumerate(seeds):
    src = src0
    if fix_time:
        src = sub(src, '.astype("int64") // 10**9', '.astype("datetime64[s]").astype("int64")')
    src = sub(src, "random_state=42", f"random_state={seed}")
    src = sub(src, "default_rng(42)", f"default_rng({seed})")
    if seed != 42:
        src = sub(src, "verbose=-1)", f"verbose=-1, random_state={seed})")
    # Record every (labels, scores) pair the script scores, in order.
    calls = []
    orig = skm.roc_auc_score

    def rec(y, p, *a, **kw):
        calls.append((np.asarray(y), np.asarray(p)))
        return orig(y, p, *a, **kw)

    skm.roc_auc_score = rec
    sys.argv = [ref, kind, path]
    import io, contextlib
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(src, ref, "exec"), {"__name__": "__main__"})
    skm.roc_auc_score = orig
    names = [(pr, m) for pr in ("full", "early-3") for m in ("seed-rf", "lgbm-rich")]
    assert len(calls) == len(names), out.getvalue()
    for (protocol, model), (y, p) in zip(names, calls):
        row = {
            "data": kind, "protocol": protocol, "model": model, "seed": seed,
            "fix_time": fix_time, "n_test": int(len(y)), "positives": int(y.sum()),
            "roc_auc": float(orig(y, p)), "pr_auc": float(skm.average_precision_score(y, p)),
        }
        if k == 0 and boot > 0:
            row["roc_ci"] = boot_ci(y, p, orig)
            row["pr_ci"] = boot_ci(y, p, skm.average_precision_score)
        print(json.dumps(row), flush=True)
