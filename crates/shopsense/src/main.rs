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
