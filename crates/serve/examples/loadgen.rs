//! HTTP load generator for `POST /v1/events` (raw HTTP/1.1 keep-alive over tokio
//! `TcpStream`, no client library).
//!
//! Replays the REES46 sample one event per request (sessions renamed per replay cycle so
//! every cycle makes new live sessions). Two modes:
//!
//! * `--rate R` (open loop): request `i` is due at `start + i / R`, spread over
//!   `--connections` keep-alive connections; latency is measured from the due time, so a
//!   stalled server is not hidden (no coordinated omission).
//! * `--rate 0` (closed loop): every connection sends its next request as soon as the
//!   previous answer arrives — the maximum throughput at that concurrency.
//!
//! Reports throughput, p50/p90/p99/p99.9/max latency, non-200 answers and errors, and the
//! server's RSS (from `/proc/PID/status`, `--pid`) before, at most and after, as one JSON line.
//!
//! `cargo run --release -p shopsense-serve --example loadgen -- --addr 127.0.0.1:8080
//!  --rate 2000 --duration 60 --connections 64 --pid $SERVER_PID --key KEY
//!  --events data/rees46/2019-Oct_head.csv`

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    addr: SocketAddr,
    rate: f64,
    duration: f64,
    connections: usize,
    pid: Option<u32>,
    key: Option<String>,
    events: String,
    path: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:8080".parse().map_err(|e| format!("{e}"))?,
        rate: 2000.0,
        duration: 60.0,
        connections: 64,
        pid: None,
        key: None,
        events: "data/rees46/2019-Oct_head.csv".into(),
        path: "/v1/events".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => a.addr = val()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--rate" => a.rate = val()?.parse().map_err(|e| format!("--rate: {e}"))?,
            "--duration" => a.duration = val()?.parse().map_err(|e| format!("--duration: {e}"))?,
            "--connections" => {
                a.connections = val()?.parse().map_err(|e| format!("--connections: {e}"))?
            }
            "--pid" => a.pid = Some(val()?.parse().map_err(|e| format!("--pid: {e}"))?),
            "--key" => a.key = Some(val()?),
            "--events" => a.events = val()?,
            "--path" => a.path = val()?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.connections == 0 || a.duration <= 0.0 || a.rate < 0.0 {
        return Err("connections and duration must be positive, rate >= 0".into());
    }
    Ok(a)
}

/// One REES46 CSV line as a JSON event with the session renamed for `cycle`.
fn event_body(fields: &[&str], cycle: u64) -> String {
    // event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut o = format!(
        "{{\"event_time\":{},\"event_type\":{},\"product_id\":{},\"user_id\":{},\"user_session\":{}",
        q(fields[0]),
        q(fields[1]),
        q(fields[2]),
        q(&format!("{}-{cycle}", fields[7])),
        q(&format!("{}-{cycle}", fields[8])),
    );
    if !fields[3].is_empty() {
        o.push_str(&format!(",\"category_id\":{}", q(fields[3])));
    }
    if !fields[4].is_empty() {
        o.push_str(&format!(",\"category_code\":{}", q(fields[4])));
    }
    if !fields[5].is_empty() {
        o.push_str(&format!(",\"brand\":{}", q(fields[5])));
    }
    if let Ok(p) = fields[6].parse::<f64>() {
        o.push_str(&format!(",\"price\":{p}"));
    }
    o.push('}');
    o
}

fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Sends one request and reads one response on a keep-alive connection; the status.
async fn roundtrip(c: &mut TcpStream, req: &[u8], buf: &mut Vec<u8>) -> std::io::Result<u16> {
    c.write_all(req).await?;
    buf.clear();
    let mut tmp = [0u8; 8192];
    loop {
        let n = c.read(&mut tmp).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let need = end + 4 + len;
            while buf.len() < need {
                let n = c.read(&mut tmp).await?;
                if n == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "closed mid-body",
                    ));
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            return Ok(status);
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let text = match std::fs::read_to_string(&a.events) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("loadgen: {}: {e}", a.events);
            std::process::exit(2);
        }
    };
    let lines: Arc<Vec<Vec<String>>> = Arc::new(
        text.lines()
            .skip(1)
            .map(|l| l.split(',').map(String::from).collect::<Vec<_>>())
            .filter(|f: &Vec<String>| f.len() == 9)
            .collect(),
    );
    let n_lines = lines.len() as u64;
    let rss_before = rss_kib(a.pid);
    let total = if a.rate > 0.0 {
        (a.rate * a.duration) as u64
    } else {
        u64::MAX
    };
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now() + Duration::from_millis(200);
    let deadline = start + Duration::from_secs_f64(a.duration);
    let rss_max = Arc::new(AtomicU64::new(rss_before.unwrap_or(0)));
    let sampler = {
        let (rss_max, stop, pid) = (rss_max.clone(), stop.clone(), a.pid);
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(r) = rss_kib(pid) {
                    rss_max.fetch_max(r, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for _ in 0..a.connections {
        let (lines, next, path, key, addr, rate) = (
            lines.clone(),
            next.clone(),
            a.path.clone(),
            a.key.clone(),
            a.addr,
            a.rate,
        );
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::new(); // microseconds
            let (mut non200, mut errors) = (0u64, 0u64);
            let mut conn: Option<TcpStream> = None;
            let mut buf = Vec::with_capacity(4096);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let due = if rate > 0.0 {
                    start + Duration::from_secs_f64(i as f64 / rate)
                } else {
                    Instant::now()
                };
                if rate <= 0.0 && due >= deadline {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                let f = &lines[(i % n_lines) as usize];
                let fields: Vec<&str> = f.iter().map(String::as_str).collect();
                let body = event_body(&fields, i / n_lines);
                let mut req = format!(
                    "POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                    body.len()
                );
                if let Some(k) = &key {
                    req.push_str(&format!("x-api-key: {k}\r\n"));
                }
                req.push_str("\r\n");
                req.push_str(&body);
                if conn.is_none() {
                    match TcpStream::connect(addr).await {
                        Ok(c) => {
                            let _ = c.set_nodelay(true);
                            conn = Some(c)
                        }
                        Err(_) => {
                            errors += 1;
                            continue;
                        }
                    }
                }
                let Some(c) = conn.as_mut() else { continue };
                match roundtrip(c, req.as_bytes(), &mut buf).await {
                    Ok(st) => {
                        let us = due.elapsed().as_micros().min(u32::MAX as u128) as u32;
                        lat.push(us);
                        if st != 200 {
                            non200 += 1;
                        }
                    }
                    Err(_) => {
                        errors += 1;
                        conn = None;
                    }
                }
            }
            (lat, non200, errors)
        }));
    }
    let mut lat = Vec::new();
    let (mut non200, mut errors) = (0u64, 0u64);
    for t in tasks {
        if let Ok((l, n, e)) = t.await {
            lat.extend(l);
            non200 += n;
            errors += e;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(a.pid);
    lat.sort_unstable();
    let q = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        f64::from(lat[i]) / 1000.0
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let out = serde_json::json!({
        "mode": if a.rate > 0.0 { "fixed-rate" } else { "max" },
        "target_rate": a.rate,
        "connections": a.connections,
        "requests": lat.len(),
        "seconds": elapsed,
        "throughput_rps": lat.len() as f64 / elapsed,
        "p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99), "p999_ms": q(0.999),
        "max_ms": lat.last().map(|&x| f64::from(x) / 1000.0),
        "non_200": non200,
        "errors": errors,
        "rss_before_kib": rss_before,
        "rss_max_kib": rss_max.load(Ordering::Relaxed),
        "rss_after_kib": rss_after,
        "loadavg": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    });
    println!("{out}");
}
