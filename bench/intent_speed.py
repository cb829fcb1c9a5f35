#!/usr/bin/env python3
"""LightGBM (Python) on exactly the matrix shopsense trains on: the feature export of
`shopsense features` (part 0 = train, 1 = validation, 2 = test) and the LightGBM parameters
stored in a shopsense bundle (params.model_params). Times the fit (Dataset construction +
boosting with the same early stopping on the validation part) and the scoring of every row,
and prints one JSON object.

usage: intent_speed.py FEATURES.parquet BUNDLE
"""
import json, resource, sys, time
import numpy as np, pyarrow.parquet as pq, lightgbm as lgb
from sklearn.metrics import roc_auc_score, average_precision_score

feat_path, bundle_path = sys.argv[1], sys.argv[2]
t = time.time()
tbl = pq.read_table(feat_path)
meta = {"part", "session", "start_ms", "label"}
names = [c for c in tbl.column_names if c not in meta]
part = tbl["part"].to_numpy()
y = tbl["label"].to_numpy().astype(np.float32)
X = np.empty((tbl.num_rows, len(names)), dtype=np.float32)
for j, c in enumerate(names):
    X[:, j] = tbl[c].to_numpy()
del tbl
read_s = time.time() - t

b = json.load(open(bundle_path))
p = b["params"]["model_params"]
params = {
    "objective": "binary", "metric": "binary_logloss", "boosting": "gbdt",
    "num_leaves": p["num_leaves"], "max_depth": p["max_depth"],
    "learning_rate": p["learning_rate"], "min_data_in_leaf": p["min_data_in_leaf"],
    "feature_fraction": p["feature_fraction"], "bagging_fraction": p["bagging_fraction"],
    "bagging_freq": p["bagging_freq"], "lambda_l2": p["lambda_l2"], "max_bin": p["max_bin"],
    "num_threads": p["threads"], "seed": p["seed"], "deterministic": True,
    "force_col_wise": True, "verbosity": -1,
}
params.update(p.get("extra", {}))
tr, va = part == 0, part == 1
t = time.time()
dtrain = lgb.Dataset(X[tr], y[tr], params={"max_bin": p["max_bin"]}, free_raw_data=True)
dvalid = lgb.Dataset(X[va], y[va], reference=dtrain)
callbacks = []
if p.get("early_stopping_rounds"):
    callbacks.append(lgb.early_stopping(p["early_stopping_rounds"], verbose=False))
booster = lgb.train(params, dtrain, num_boost_round=p["n_rounds"], valid_sets=[dvalid],
                    callbacks=callbacks)
fit_s = time.time() - t
t = time.time()
pred = booster.predict(X, num_threads=p["threads"])
predict_s = time.time() - t
pv = pred[va]
print(json.dumps({
    "rows": int(len(y)), "train_rows": int(tr.sum()), "features": len(names),
    "rounds": booster.best_iteration or booster.current_iteration(),
    "read_s": read_s, "fit_s": fit_s, "predict_s": predict_s,
    "predict_rows_per_s": len(y) / predict_s,
    "valid_roc_auc": roc_auc_score(y[va], pv), "valid_pr_auc": average_precision_score(y[va], pv),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "lightgbm": lgb.__version__,
}))
