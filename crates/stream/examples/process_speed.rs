//! The consumer's own per-event work without a broker (not a test): the messages `replay`
//! would produce are built in memory, then [`Processor::process`] applies them one by one
//! and each score is serialised as `stream` publishes it. Prints events/s and µs per event,
//! best of the given rounds (each round a fresh processor).
//!
//! ```text
//! cargo run --release -p shopsense-stream --example process_speed -- EVENTS BUNDLE [LIMIT] [ROUNDS]
//! ```

use shopsense_stream::processor::event_json;
use shopsense_stream::{load_scorer, Outcome, Processor, ProcessorConfig};
use std::path::PathBuf;
use std::time::Instant;

/// The `shopsense` binary's allocator: glibc's malloc made this loop a third slower.
#[cfg(all(unix, not(target_env = "msvc")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(events), Some(bundle)) = (args.first(), args.get(1)) else {
        return Err("usage: process_speed EVENTS BUNDLE [LIMIT] [ROUNDS]".into());
    };
    let limit: usize = args.get(2).map_or(Ok(usize::MAX), |s| s.parse())?;
    let rounds: usize = args.get(3).map_or(Ok(3), |s| s.parse())?;
    let scorer = load_scorer(Some(&PathBuf::from(bundle)), None)?;
    let (_fmt, out) = shopsense_events::read_file_with(
        &PathBuf::from(events),
        &shopsense_events::Source::format(None),
        &shopsense_events::ReadOptions::default(),
    )?;
    let mut table = out.table;
    table.sort_by_time();
    let n = table.len().min(limit);
    let payloads: Vec<String> = (0..n).map(|i| event_json(&table.event(i))).collect();
    drop(table);
    let mut best = f64::INFINITY;
    for round in 0..rounds {
        let mut p = Processor::new(scorer.clone(), ProcessorConfig::default());
        let mut body = Vec::with_capacity(512);
        let (mut scored, mut bytes) = (0u64, 0usize);
        let t = Instant::now();
        for (i, m) in payloads.iter().enumerate() {
            if let Outcome::Scored(s) = p.process(0, i as i64, m.as_bytes(), 0) {
                body.clear();
                s.write_json(&mut body)?;
                bytes += body.len();
                scored += 1;
            }
            // The consumer hands the closed sessions to its output thread once per batch
            // (freed here, on the same thread, outside `Processor::process`).
            if i % 512 == 511 {
                drop(p.take_closed());
            }
        }
        let secs = t.elapsed().as_secs_f64();
        best = best.min(secs);
        let c = p.counts();
        println!(
            "  converted {}, timed out {}, dead {}, live {}",
            c.converted,
            c.timed_out,
            c.dead,
            p.active_sessions()
        );
        println!(
            "round {round}: {n} events, {scored} scored, {bytes} score bytes, {secs:.3} s \
             ({:.0} events/s, {:.2} µs/event)",
            n as f64 / secs,
            secs * 1e6 / n as f64
        );
    }
    println!(
        "best: {:.0} events/s ({:.2} µs/event)",
        n as f64 / best,
        best * 1e6 / n as f64
    );
    Ok(())
}
