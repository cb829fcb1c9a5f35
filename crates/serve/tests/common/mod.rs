#![allow(dead_code)]

use serde_json::{json, Value};
use shopsense_events::{read_file, Event, EventTable, ReadOptions};
use shopsense_features::{
    build_features, fit_encoders, prefixes, temporal_split, user_histories, FeatureMatrix,
    FeatureSpec, Prefix, Protocol, Split, UserHistory,
};
use shopsense_models::{Bundle, Dataset, Estimator, Logistic, LogisticParams, Matrix};
use shopsense_serve::{BinnedReference, DriftReference, ServeConfig, Server};
use shopsense_sessions::{SessionConfig, Sessions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const KEY: &str = "test-key-123";

/// The REES46 sample, its sessions, spec, user histories and a small trained bundle.
pub struct Fixture {
    pub t: EventTable,
    pub s: Sessions,
    pub spec: FeatureSpec,
    pub hist: Vec<UserHistory>,
    pub enc: shopsense_features::Encoders,
    pub bundle_path: PathBuf,
    pub bundle: Bundle,
    _dir: tempfile::TempDir,
}

pub fn data(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(p)
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (_, out) = read_file(
            &data("rees46/2019-Oct_head.csv"),
            None,
            &ReadOptions::default(),
        )
        .unwrap();
        let t = out.table;
        let s = Sessions::build(&t, &SessionConfig::default());
        let spec = FeatureSpec::with_protocol(Protocol::Full);
        let ps = prefixes(&t, &s, spec.protocol).unwrap();
        let sp = temporal_split(&ps, Split::DEFAULT_FRACTIONS).unwrap();
        let train: Vec<Prefix> = sp.train.iter().map(|&i| ps[i]).collect();
        let enc = fit_encoders(&t, &s, &train, &spec).unwrap();
        let m = build_features(&t, &s, &ps, &sp.train, &enc, &spec, None).unwrap();
        let x = Matrix::new(m.data.clone(), m.n_rows, m.n_cols).unwrap();
        let labels: Vec<f32> = m.labels.iter().map(|&l| f32::from(l)).collect();
        let ds = Dataset::new(x.clone(), m.names.clone(), labels, None).unwrap();
        let params = LogisticParams {
            max_iter: 20,
            ..Default::default()
        };
        let model = Logistic::fit(&ds, &params).unwrap();
        let mut bundle = Bundle::new(&model, "rees46-head-test").unwrap();
        bundle.feature_spec = serde_json::to_value(&spec).unwrap();
        bundle.encoders = serde_json::to_value(&enc).unwrap();
        bundle.threshold = 0.2;
        let bundle = bundle.with_probe(x.view(), 5).unwrap();
        let mut bundle = bundle;
        bundle.metrics = json!({ "drift_reference": drift_reference(&m, &bundle) });
        let dir = tempfile::tempdir().unwrap();
        let bundle_path = dir.path().join("intent.bundle.json");
        bundle.save(&bundle_path).unwrap();
        let hist = user_histories(&t, &s).unwrap();
        Fixture {
            t,
            s,
            spec,
            hist,
            enc,
            bundle_path,
            bundle,
            _dir: dir,
        }
    })
}

fn drift_reference(m: &FeatureMatrix, bundle: &Bundle) -> DriftReference {
    let loaded = shopsense_models::LoadedBundle::from_bundle(bundle.clone()).unwrap();
    let x = Matrix::new(m.data.clone(), m.n_rows, m.n_cols).unwrap();
    let scores = loaded.predict(x.view()).unwrap();
    let mut r = DriftReference {
        score: BinnedReference::from_values(&scores, 10),
        ..Default::default()
    };
    for j in 0..3.min(m.n_cols) {
        let col: Vec<f64> = m.column(j).iter().map(|&v| f64::from(v)).collect();
        if let Some(b) = BinnedReference::from_values(&col, 10) {
            r.features.insert(m.names[j].clone(), b);
        }
    }
    r
}

/// The prefix of the first `len` events of session `si`.
pub fn prefix_of(t: &EventTable, s: &Sessions, si: usize, len: usize) -> Prefix {
    let ev = s.events(si);
    Prefix {
        session: si as u32,
        len: len as u32,
        label: s.first_purchase(t, si).is_some(),
        start_ms: t.time_ms[ev[0] as usize],
        cutoff_ms: t.time_ms[ev[len - 1] as usize],
    }
}

/// An event as the API takes it.
pub fn event_json(e: &Event) -> Value {
    let mut v = json!({
        "time": e.time_ms,
        "kind": e.kind.name(),
        "user_id": e.user_id,
        "item_id": e.item_id,
    });
    let m = v.as_object_mut().unwrap();
    if let Some(x) = &e.session_id {
        m.insert("session_id".into(), json!(x));
    }
    if let Some(x) = &e.category_id {
        m.insert("category_id".into(), json!(x));
    }
    if let Some(x) = &e.category_path {
        m.insert("category_path".into(), json!(x));
    }
    if let Some(x) = &e.brand {
        m.insert("brand".into(), json!(x));
    }
    if let Some(x) = e.price {
        m.insert("price".into(), json!(x));
    }
    if let Some(x) = &e.order_id {
        m.insert("order_id".into(), json!(x));
    }
    v
}

pub fn history_json(h: &UserHistory) -> Value {
    serde_json::to_value(h).unwrap()
}

pub fn config() -> ServeConfig {
    ServeConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        api_key: Some(KEY.into()),
        ..Default::default()
    }
}

/// Starts a server with the fixture's bundle and waits until it is ready.
pub async fn start_ready(mut cfg: ServeConfig) -> Server {
    cfg.bundle = Some(fixture().bundle_path.clone());
    let server = shopsense_serve::start(cfg).await.unwrap();
    for _ in 0..500 {
        let (st, _) = get(server.addr(), "/readyz").await;
        if st == 200 {
            return server;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("server never became ready");
}

/// One HTTP/1.1 request over a fresh connection; returns (status, body).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    c.write_all(req.as_bytes()).await.unwrap();
    // The server may answer (413) and close before reading the whole body.
    let _ = c.write_all(body).await;
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(addr, "GET", path, &[], b"").await
}

pub async fn post_json(addr: SocketAddr, path: &str, body: &Value, key: bool) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    post_raw(addr, path, &bytes, key).await
}

pub async fn post_raw(addr: SocketAddr, path: &str, body: &[u8], key: bool) -> (u16, Value) {
    let mut h = vec![("content-type", "application/json")];
    if key {
        h.push(("x-api-key", KEY));
    }
    let (st, text) = request(addr, "POST", path, &h, body).await;
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (st, v)
}
