//! Reads any Parquet file in the event schema (for instance one written by Polars) and
//! prints its row count and first event:
//!
//! ```text
//! cargo run -p shopsense-store --example read_parquet -- FILE.parquet
//! ```

use shopsense_store::{read_parquet_file, TimeWindow};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: read_parquet FILE.parquet");
        return ExitCode::FAILURE;
    };
    match read_parquet_file(path.as_ref(), TimeWindow::ALL) {
        Ok(t) => {
            println!("{path}: {} events", t.len());
            if !t.is_empty() {
                println!("first: {:?}", t.event(0));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
