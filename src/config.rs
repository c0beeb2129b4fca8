//! Command-line flags, in the Prometheus exporter conventions: dotted long names, each with an
//! `AWS_ROOT_MFA_EXPORTER_…` environment variable. AWS credentials and region are deliberately
//! absent: they come only from the standard AWS chain.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The default listen port. The Prometheus port registry's 9100-9999 range is fully allocated,
/// so this sits outside it and away from Zabbix (10050/10051) and the kubelet (10250-10259).
pub const DEFAULT_PORT: u16 = 10466;

/// Prometheus exporter for the root-user MFA posture of AWS accounts (CIS IAM.6: hardware MFA).
#[derive(Debug, Clone, Parser)]
#[command(name = "aws-root-mfa-exporter", version = crate::VERSION, about, long_about = None)]
pub struct Cli {
    /// What to do; without a command, serve metrics.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// HTTP server flags.
    #[command(flatten)]
    pub web: WebFlags,

    /// Polling flags.
    #[command(flatten)]
    pub poll: PollFlags,

    /// Logging flags.
    #[command(flatten)]
    pub log: LogFlags,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Poll once, print the result and exit: 0 all compliant or not applicable, 1 any
    /// non-compliant, 2 none non-compliant but some could not be checked.
    Check {
        /// How to print the result.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

/// The output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A table for people.
    Table,
    /// JSON for machines.
    Json,
}

/// HTTP server flags.
#[derive(Debug, Clone, Args)]
pub struct WebFlags {
    /// Address to listen on for the web interface and telemetry (`:PORT` means every interface).
    #[arg(
        long = "web.listen-address",
        env = "AWS_ROOT_MFA_EXPORTER_WEB_LISTEN_ADDRESS",
        default_value = ":10466",
        value_parser = parse_listen_address,
        value_name = "ADDRESS"
    )]
    pub listen_address: SocketAddr,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        env = "AWS_ROOT_MFA_EXPORTER_WEB_TELEMETRY_PATH",
        default_value = "/metrics",
        value_parser = parse_telemetry_path,
        value_name = "PATH"
    )]
    pub telemetry_path: String,
}

/// Polling flags.
#[derive(Debug, Clone, Args)]
pub struct PollFlags {
    /// How often to check every account (AWS is never called on scrape).
    #[arg(
        long = "poll.interval",
        env = "AWS_ROOT_MFA_EXPORTER_POLL_INTERVAL",
        default_value = "5m",
        value_parser = parse_positive_duration,
        value_name = "DURATION",
        global = true
    )]
    pub interval: Duration,

    /// Timeout of one AWS API call, retries included.
    #[arg(
        long = "poll.timeout",
        env = "AWS_ROOT_MFA_EXPORTER_POLL_TIMEOUT",
        default_value = "30s",
        value_parser = parse_positive_duration,
        value_name = "DURATION",
        global = true
    )]
    pub timeout: Duration,
}

/// Logging flags.
#[derive(Debug, Clone, Args)]
pub struct LogFlags {
    /// Only log messages with the given severity or above.
    #[arg(
        long = "log.level",
        env = "AWS_ROOT_MFA_EXPORTER_LOG_LEVEL",
        value_enum,
        default_value_t = LogLevel::Info,
        global = true
    )]
    pub level: LogLevel,

    /// Output format of log messages.
    #[arg(
        long = "log.format",
        env = "AWS_ROOT_MFA_EXPORTER_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Logfmt,
        global = true
    )]
    pub format: LogFormat,
}

/// Log severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything, including the AWS SDK's own debug output.
    Debug,
    /// Polls and failures.
    Info,
    /// Failures only.
    Warn,
    /// Errors only.
    Error,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `key=value` pairs, as Prometheus components log.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Parses `HOST:PORT`, `[V6]:PORT` or `:PORT` (every interface, as Go exporters accept).
pub fn parse_listen_address(s: &str) -> Result<SocketAddr, String> {
    let candidate = match s.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => s.to_owned(),
    };
    candidate
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("expected HOST:PORT or :PORT, got {s:?}"))
}

fn parse_telemetry_path(s: &str) -> Result<String, String> {
    let reserved = ["/", "/healthz", "/readyz"];
    if !s.starts_with('/') {
        Err(format!("must start with '/', got {s:?}"))
    } else if reserved.contains(&s) {
        Err(format!("{s:?} is taken by the exporter itself"))
    } else {
        Ok(s.to_owned())
    }
}

/// Parses a duration such as `5m`, `90s` or `1h30m`, refusing zero.
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (expected e.g. 30s, 5m, 1h)"))?;
    if d.is_zero() {
        Err("must be greater than zero".into())
    } else {
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let cases = [
            (":10466", Some("0.0.0.0:10466")),
            ("127.0.0.1:9", Some("127.0.0.1:9")),
            ("[::1]:80", Some("[::1]:80")),
            ("localhost:10466", None),
            ("10466", None),
            (":", None),
            (":99999", None),
            ("not an address", None),
        ];
        for (input, want) in cases {
            let got = parse_listen_address(input).ok().map(|a| a.to_string());
            match (input, want) {
                ("localhost:10466", _) => assert!(got.is_some_and(|a| a.ends_with(":10466"))),
                _ => assert_eq!(got.as_deref(), want, "{input}"),
            }
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_positive_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(
            parse_positive_duration("1h30m"),
            Ok(Duration::from_secs(5400))
        );
        assert!(parse_positive_duration("0s").is_err());
        assert!(parse_positive_duration("0").is_err());
        assert!(parse_positive_duration("-5m").is_err());
        assert!(parse_positive_duration("five").is_err());
    }

    #[test]
    fn telemetry_paths() {
        assert_eq!(parse_telemetry_path("/metrics"), Ok("/metrics".into()));
        assert!(parse_telemetry_path("metrics").is_err());
        assert!(parse_telemetry_path("/healthz").is_err());
        assert!(parse_telemetry_path("/").is_err());
    }

    #[test]
    fn defaults_and_subcommand() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.web.listen_address.port(), DEFAULT_PORT);
        assert_eq!(cli.poll.interval, Duration::from_secs(300));
        assert!(cli.command.is_none());
        let cli = Cli::try_parse_from(["x", "check", "--output", "json", "--poll.timeout", "3s"])
            .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Check {
                output: Output::Json
            })
        ));
        assert_eq!(cli.poll.timeout, Duration::from_secs(3));
        assert!(Cli::try_parse_from(["x", "--poll.interval", "0s"]).is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
