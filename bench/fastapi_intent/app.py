"""FastAPI + LightGBM peer of `shopsense serve` for the load benchmark (bench/serve_load.sh).

Same endpoint shape as shopsense's `POST /v1/events` (one REES46-named event per request),
same in-process online state (a dict of live sessions), same model: the LightGBM text model
and the calibrator are read from the shopsense intent bundle (SHOPSENSE_BUNDLE). Per request
it appends the event, recomputes the session's feature row and scores it with
`Booster.predict` on one row, then applies the bundle's calibrator and threshold.

Features, as close as reasonable in a benchmark peer: the session-behaviour features
(counts per kind, duration, dwell times, prices, distinct items/categories/brands, repeats,
last kind, funnel stage, hour / weekday of the start) are computed as the features crate
does; the training-window encoder features (item/category/brand rates and popularity,
hashed codes) and the user-history features are left missing (NaN, which LightGBM routes as
missing). The peer therefore does *less* work per request than shopsense, and its scores
differ from shopsense's; the comparison is of the serving stack at equal model size.
"""

import json
import math
import os
from datetime import datetime, timezone

import lightgbm as lgb
import numpy as np
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict

BUNDLE = json.load(open(os.environ["SHOPSENSE_BUNDLE"]))
if BUNDLE["model_kind"] != "gbdt":
    raise SystemExit("the peer needs a gbdt (LightGBM) bundle")
BOOSTER = lgb.Booster(model_str=BUNDLE["model"])
NAMES = BUNDLE["feature_names"]
INDEX = {n: i for i, n in enumerate(NAMES)}
THRESHOLD = float(BUNDLE["threshold"])
CAL = BUNDLE.get("calibrator") or {"method": "identity"}
API_KEY = os.environ.get("SHOPSENSE_API_KEY")
KIND = {"view": 0, "cart": 1, "remove_from_cart": 2, "purchase": 3, "wishlist": 4}
SESSIONS: dict = {}

app = FastAPI()


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_time: str
    event_type: str
    product_id: int | str
    category_id: int | str | None = None
    category_code: str | None = None
    brand: str | None = None
    price: float | None = None
    user_id: int | str
    user_session: str | None = None


def calibrate(p: float) -> float:
    m = CAL.get("method", "identity")
    if m == "platt":
        p = min(max(p, 1e-15), 1 - 1e-15)
        z = CAL["a"] * math.log(p / (1 - p)) + CAL["b"]
        return 1 / (1 + math.exp(-z))
    if m == "isotonic":
        return float(np.interp(p, CAL["x"], CAL["y"]))
    return p


def features(evs) -> np.ndarray:
    row = np.full(len(NAMES), np.nan, dtype=np.float64)
    evs = sorted(evs, key=lambda e: e[0])
    times = [e[0] for e in evs]
    kinds = [e[1] for e in evs]
    prices = [e[5] for e in evs if e[5] is not None]
    f = {
        "n_events": len(evs),
        "n_view": kinds.count(0),
        "n_cart": kinds.count(1),
        "n_remove": kinds.count(2),
        "n_purchase": kinds.count(3),
        "n_wishlist": kinds.count(4),
        "n_other": sum(1 for k in kinds if k > 4),
        "duration_s": (times[-1] - times[0]) / 1000,
        "since_last_s": 0.0,
        "has_price": 1.0 if prices else 0.0,
        "distinct_items": len({e[2] for e in evs}),
        "distinct_categories": len({e[3] for e in evs if e[3] is not None}),
        "distinct_brands": len({e[4] for e in evs if e[4] is not None}),
        "last_kind": min(kinds[-1], 5),
        "funnel_stage": 3 if 3 in kinds else 2 if (1 in kinds or 2 in kinds) else 1 if 4 in kinds else 0,
    }
    if len(times) > 1:
        gaps = [(b - a) / 1000 for a, b in zip(times, times[1:])]
        f.update(dwell_mean_s=sum(gaps) / len(gaps), dwell_max_s=max(gaps), dwell_min_s=min(gaps))
    if prices:
        mean = sum(prices) / len(prices)
        f.update(
            price_mean=mean,
            price_max=max(prices),
            price_min=min(prices),
            price_std=math.sqrt(sum((p - mean) ** 2 for p in prices) / len(prices)),
        )
    if evs[-1][5] is not None:
        f["price_last"] = evs[-1][5]
    counts: dict = {}
    for e in evs:
        counts[e[2]] = counts.get(e[2], 0) + 1
    f["max_item_repeats"] = max(counts.values())
    views = [e[2] for e in evs if e[1] == 0]
    if views:
        f["repeat_view_share"] = (len(views) - len(set(views))) / len(views)
    start = datetime.fromtimestamp(times[0] / 1000, tz=timezone.utc)
    f.update(hour=start.hour, dow=start.weekday(), hour_dow=start.weekday() * 24 + start.hour)
    for k, v in f.items():
        i = INDEX.get(k)
        if i is not None:
            row[i] = v
    return row


@app.post("/v1/events")
def post_events(e: EventIn, x_api_key: str | None = Header(default=None)):
    if API_KEY and x_api_key != API_KEY:
        raise HTTPException(status_code=401, detail="unauthorized")
    t = datetime.strptime(e.event_time.replace(" UTC", ""), "%Y-%m-%d %H:%M:%S")
    ms = int(t.replace(tzinfo=timezone.utc).timestamp() * 1000)
    key = e.user_session or str(e.user_id)
    ev = (ms, KIND.get(e.event_type, 5), str(e.product_id), e.category_id, e.brand, e.price)
    s = SESSIONS.setdefault(key, {"user_id": str(e.user_id), "events": []})
    s["events"].append(ev)
    x = features(s["events"])
    p = calibrate(float(BOOSTER.predict(x.reshape(1, -1), num_threads=1)[0]))
    return {
        "accepted": 1,
        "sessions": [{
            "session_id": key,
            "user_id": s["user_id"],
            "score": p,
            "decision": p >= THRESHOLD,
            "threshold": THRESHOLD,
            "model_version": "fastapi-peer",
            "events": len(s["events"]),
        }],
    }


@app.get("/readyz")
def readyz():
    return {"status": "ready"}
