//! Live metrics: Prometheus text at `/metrics`, a dashboard page at `/`, its data as
//! server-sent events at `/events` and as JSON at `/api/state`. A small blocking HTTP/1.1
//! server on its own threads (one per connection), so the consumer loop never waits on it.

use crate::processor::Processor;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the end-to-end latency histogram.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

/// Shared live metrics and the dashboard's latest state.
pub struct Live {
    /// Events scored by this process.
    pub events: AtomicU64,
    /// Dead letters by this process.
    pub dead: AtomicU64,
    /// Redeliveries skipped by this process.
    pub duplicates: AtomicU64,
    /// Consumer errors.
    pub errors: AtomicU64,
    /// Consumer lag (messages) at the last check.
    pub lag: AtomicU64,
    latency: Mutex<([u64; 12], u64, f64)>,
    state: Mutex<serde_json::Value>,
    rate: Mutex<(Instant, u64, f64)>,
    model_version: String,
}

impl Live {
    /// Empty metrics for a model version.
    pub fn new(model_version: &str) -> Self {
        Live {
            events: AtomicU64::new(0),
            dead: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            lag: AtomicU64::new(0),
            latency: Mutex::new(([0; 12], 0, 0.0)),
            state: Mutex::new(serde_json::json!({})),
            rate: Mutex::new((Instant::now(), 0, 0.0)),
            model_version: model_version.to_string(),
        }
    }

    /// Records one end-to-end latency (seconds).
    pub fn observe_latency(&self, secs: f64) {
        let mut g = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *b {
                g.0[i] += 1;
            }
        }
        g.1 += 1;
        g.2 += secs;
    }

    /// Latency quantile `q` (bucket upper bound) over everything observed.
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let g = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        if g.1 == 0 {
            return None;
        }
        let want = (q * g.1 as f64).ceil() as u64;
        Some(
            LATENCY_BUCKETS
                .iter()
                .zip(g.0.iter())
                .find(|(_, c)| **c >= want)
                .map_or(f64::INFINITY, |(b, _)| *b),
        )
    }

    /// Refreshes the dashboard state from the processor.
    pub fn publish(&self, p: &Processor) {
        let events = self.events.load(Ordering::Relaxed);
        let eps = {
            let mut r = self.rate.lock().unwrap_or_else(|p| p.into_inner());
            let dt = r.0.elapsed().as_secs_f64();
            if dt >= 0.25 {
                r.2 = (events.saturating_sub(r.1)) as f64 / dt;
                r.0 = Instant::now();
                r.1 = events;
            }
            r.2
        };
        let c = p.counts();
        let closed = c.converted + c.timed_out;
        let q = p.quality();
        let top: Vec<serde_json::Value> = p
            .top_items(10)
            .into_iter()
            .map(|(i, n)| serde_json::json!({"item": i, "events": n}))
            .collect();
        let v = serde_json::json!({
            "events_per_second": eps,
            "events_total": c.events,
            "dead_letters_total": c.dead,
            "duplicates_total": c.duplicates,
            "active_sessions": p.active_sessions(),
            "sessions_closed": closed,
            "sessions_converted": c.converted,
            "conversion": if closed > 0 { c.converted as f64 / closed as f64 } else { 0.0 },
            "score_histogram": c.score_hist,
            "top_items": top,
            "online": {"auc": q[0].0, "log_loss": q[0].1, "n": q[0].2},
            "batch": {"auc": q[1].0, "log_loss": q[1].1, "n": q[1].2},
            "lag": self.lag.load(Ordering::Relaxed),
            "latency_p99_seconds": self.latency_quantile(0.99),
            "model_version": p.model_version(),
        });
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = v;
    }

    /// The dashboard state as JSON text.
    pub fn state_json(&self) -> String {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .to_string()
    }

    /// Prometheus text exposition.
    pub fn prometheus(&self) -> String {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let f = |k: &str| st.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            s.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
            ));
        };
        counter(
            "shopsense_stream_events_total",
            "Events consumed and scored by this process.",
            self.events.load(Ordering::Relaxed),
        );
        counter(
            "shopsense_stream_dead_letters_total",
            "Messages sent to the dead-letter topic.",
            self.dead.load(Ordering::Relaxed),
        );
        counter(
            "shopsense_stream_duplicates_total",
            "Redelivered messages skipped (already applied).",
            self.duplicates.load(Ordering::Relaxed),
        );
        counter(
            "shopsense_stream_errors_total",
            "Consumer errors.",
            self.errors.load(Ordering::Relaxed),
        );
        let mut gauge = |name: &str, help: &str, v: f64| {
            s.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
            ));
        };
        gauge(
            "shopsense_stream_events_per_second",
            "Events scored per second (recent).",
            f("events_per_second"),
        );
        gauge(
            "shopsense_stream_consumer_lag_messages",
            "Messages on the broker not yet consumed.",
            self.lag.load(Ordering::Relaxed) as f64,
        );
        gauge(
            "shopsense_stream_active_sessions",
            "Live sessions.",
            f("active_sessions"),
        );
        let g = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let n = "shopsense_stream_end_to_end_latency_seconds";
        s.push_str(&format!(
            "# HELP {n} Source event produced to score acknowledged by the broker.\n# TYPE {n} histogram\n"
        ));
        for (b, c) in LATENCY_BUCKETS.iter().zip(g.0.iter()) {
            s.push_str(&format!("{n}_bucket{{le=\"{b}\"}} {c}\n"));
        }
        s.push_str(&format!(
            "{n}_bucket{{le=\"+Inf\"}} {}\n{n}_sum {}\n{n}_count {}\n",
            g.1, g.2, g.1
        ));
        s.push_str(&format!(
            "# HELP shopsense_stream_model_info The batch model.\n# TYPE shopsense_stream_model_info gauge\nshopsense_stream_model_info{{version=\"{}\"}} 1\n",
            self.model_version
        ));
        s
    }
}

/// Binds `addr` and serves on background threads; returns the bound address.
pub fn serve(addr: SocketAddr, live: Arc<Live>) -> std::io::Result<SocketAddr> {
    let l = TcpListener::bind(addr)?;
    let bound = l.local_addr()?;
    std::thread::Builder::new()
        .name("stream-http".into())
        .spawn(move || {
            for conn in l.incoming().flatten() {
                let live = live.clone();
                let _ = std::thread::Builder::new()
                    .name("stream-http-conn".into())
                    .spawn(move || {
                        let _ = handle(conn, &live);
                    });
            }
        })?;
    Ok(bound)
}

fn respond(c: &mut TcpStream, status: &str, ctype: &str, body: &str) -> std::io::Result<()> {
    write!(
        c,
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn handle(mut c: TcpStream, live: &Live) -> std::io::Result<()> {
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut r = BufReader::new(c.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    // Drain the headers.
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    if method != "GET" {
        return respond(&mut c, "405 Method Not Allowed", "text/plain", "GET only\n");
    }
    match path {
        "/metrics" => respond(
            &mut c,
            "200 OK",
            "text/plain; version=0.0.4",
            &live.prometheus(),
        ),
        // The current state is inlined so that the first paint already shows data; the
        // page then follows `/events`.
        "/" | "/index.html" => respond(
            &mut c,
            "200 OK",
            "text/html; charset=utf-8",
            &PAGE.replace(
                "/*INITIAL_STATE*/null",
                &live.state_json().replace("</", "<\\/"),
            ),
        ),
        "/api/state" => respond(&mut c, "200 OK", "application/json", &live.state_json()),
        "/events" => {
            write!(
                c,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: keep-alive\r\n\r\n"
            )?;
            loop {
                write!(c, "data: {}\n\n", live.state_json())?;
                c.flush()?;
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        _ => respond(&mut c, "404 Not Found", "text/plain", "not found\n"),
    }
}

/// The dashboard page (no external assets: charts are drawn on canvases).
pub const PAGE: &str = include_str!("dashboard.html");
