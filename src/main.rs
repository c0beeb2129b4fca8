//! The `aws-root-mfa-exporter` binary: flags, logging, then the server or `check`.

#![forbid(unsafe_code)]

use std::io::Write as _;
use std::process::ExitCode;

use aws_root_mfa_exporter::app;
use aws_root_mfa_exporter::config::{Cli, Command};
use aws_root_mfa_exporter::{Error, logging};
use clap::Parser;

/// Exit code for bad flags and start-up failures, as for a usage error.
const EXIT_USAGE: u8 = 2;
/// Exit code when the poller or the HTTP server stopped on its own while serving.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version.
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            let rendered = err.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            say(first);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    logging::init(&cli.log);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // The crate's errors say their cause in their own message; `{:#}` would repeat it.
            say(&format!("error: {err}"));
            match err.downcast_ref::<Error>() {
                Some(Error::Stopped { .. }) => ExitCode::from(EXIT_FAILURE),
                _ => ExitCode::from(EXIT_USAGE),
            }
        }
    }
}

/// Writes one line to standard error; `eprintln!` would panic if it is closed.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[tokio::main]
async fn run(cli: Cli) -> anyhow::Result<u8> {
    if let Some(Command::Check { output, controls }) = &cli.command {
        return Ok(app::check(&cli, *output, controls).await?);
    }
    let listener = app::bind(&cli).await?;
    app::serve(&cli, listener).await?;
    Ok(0)
}
