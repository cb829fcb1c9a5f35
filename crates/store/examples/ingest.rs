//! Ingests source files into a store and reads it back, as a manual check:
//!
//! ```text
//! cargo run -p shopsense-store --example ingest -- STORE_DIR [FILE ...]
//! ```
//!
//! Each file is hashed first and skipped when the store already has it; its rejected rows go
//! to the store's quarantine file. Then the whole store is read back and summarised.

use shopsense_events::reject::{count_by_reason, write_quarantine};
use shopsense_events::{read_file, ReadOptions};
use shopsense_store::{sha256_file, FileEntry, Store};
use std::path::Path;
use std::process::ExitCode;

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: ingest STORE_DIR [FILE ...]")?;
    let mut store = Store::open_or_create(&dir)?;
    for file in args {
        let path = Path::new(&file);
        let sha = sha256_file(path)?;
        if let Some(e) = store.is_ingested(&sha) {
            println!(
                "{file}: skipped, already ingested as {} at {}",
                e.path, e.ingested_at
            );
            continue;
        }
        let (format, out) = read_file(path, None, &ReadOptions::default())?;
        let mut entry = FileEntry::for_file(path, format.name())?;
        entry.rejected = out.rejects.len() as u64;
        entry.rejects_by_reason = count_by_reason(&out.rejects);
        entry.duplicates = out.table.duplicate_rows().len() as u64;
        if !out.rejects.is_empty() {
            write_quarantine(&store.quarantine_path(&entry), &out.rejects)?;
        }
        let e = store.append(&out.table, entry)?;
        println!(
            "{file}: {} rows, {} rejected, {} parts",
            e.rows,
            e.rejected,
            e.parts.len()
        );
    }
    let table = store.read_all()?;
    let days = store.manifest().days();
    println!(
        "{dir}: {} files, {} rows read back, {} day partitions ({} … {})",
        store.manifest().files.len(),
        table.len(),
        days.len(),
        days.first().map(String::as_str).unwrap_or("-"),
        days.last().map(String::as_str).unwrap_or("-"),
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
