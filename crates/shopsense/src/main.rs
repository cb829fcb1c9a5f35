//! `shopsense`: the command-line front end. Argument parsing, progress bars and printing
//! only; the work is done by the library crates.

mod cli;
mod cmd_cluster;
mod cmd_demo;
mod cmd_recs;
mod cmd_retrain;
mod cmd_serve;
mod cmd_stream;
mod commands;
mod progress;

/// jemalloc as the global allocator (fewer page faults and less fragmentation than glibc's
/// malloc on multi-hundred-megabyte columns).
///
/// Transparent huge pages are left to the kernel's policy. Forcing them (`thp:always`) was
/// measured both ways: −20 % user time on one machine (2026-12-05 morning), but on a kernel
/// 6.18 machine of the same kind +0.3 s user and +1–2 s system time per 10M-event
/// `sessionize` (huge-page zeroing at fault time), 25–30 % slower `stats` (BENCHMARKS.md).
/// `_RJEM_MALLOC_CONF=thp:always` turns it back on for one run.
#[cfg(all(unix, not(target_env = "msvc")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options (read once, before the first allocation).
///
/// `background_thread:true`: freed pages are purged by jemalloc's own thread instead of
/// inline in whichever thread frees. The stream consumer frees on its applying thread what
/// its polling thread allocated; there this was worth +13 % events/s (1M synthetic events,
/// three interleaved pairs, BENCHMARKS.md).
#[cfg(all(unix, not(target_env = "msvc")))]
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);
// SAFETY: a pointer to an immutable, 'static, NUL-terminated byte string.
#[cfg(all(unix, not(target_env = "msvc")))]
unsafe impl Sync for MallocConf {}
#[cfg(all(unix, not(target_env = "msvc")))]
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: MallocConf = MallocConf(c"metadata_thp:auto,background_thread:true".as_ptr());

fn main() -> std::process::ExitCode {
    use clap::Parser;
    let args = cli::Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("SHOPSENSE_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(if args.verbose { "debug" } else { "warn" })
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match commands::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e)
            if e.chain()
                .filter_map(|c| c.downcast_ref::<std::io::Error>())
                .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            // The reader of our output went away (e.g. `| head`): not an error.
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
