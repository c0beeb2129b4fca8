//! Command-line flags, in the Prometheus exporter conventions: dotted long names, each with an
//! `AWS_ROOT_MFA_EXPORTER_…` environment variable. AWS credentials and region are deliberately
//! absent: they come only from the standard AWS chain.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::aws::discovery::{Discovery, Members};
use crate::aws::role::RoleArn;
use crate::aws::shard::Shard;
use crate::events::queue::QueueUrl;
use crate::posture::Control;
use crate::web::listen::ListenAddress;

/// The default listen port. The Prometheus port registry's 9100-9999 range is fully allocated,
/// so this sits outside it and away from Zabbix (10050/10051) and the kubelet (10250-10259).
pub const DEFAULT_PORT: u16 = 10466;

/// Prometheus exporter for the root-user MFA posture of AWS accounts (CIS IAM.6: hardware MFA).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "aws-root-mfa-exporter",
    version = crate::VERSION,
    long_version = crate::LONG_VERSION,
    about,
    long_about = None
)]
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

    /// Which accounts to check.
    #[command(flatten)]
    pub accounts: AccountFlags,

    /// CloudTrail event flags.
    #[command(flatten)]
    pub events: EventFlags,

    /// Logging flags.
    #[command(flatten)]
    pub log: LogFlags,
}

/// CloudTrail events, for detection in seconds between polls.
#[derive(Debug, Clone, Args)]
pub struct EventFlags {
    /// Long-poll this SQS queue for the CloudTrail events (from an EventBridge rule) that can
    /// change root's posture, and re-check an account the moment one arrives; the poll goes on
    /// as before.
    #[arg(
        long = "events.sqs-queue-url",
        env = "AWS_ROOT_MFA_EXPORTER_EVENTS_SQS_QUEUE_URL",
        value_name = "URL"
    )]
    pub sqs_queue_url: Option<QueueUrl>,
}

/// Which accounts to check: by default the ambient credentials' own account.
#[derive(Debug, Clone, Args)]
pub struct AccountFlags {
    /// Check every active account of the AWS Organization by assuming this role in each
    /// (the caller's own account is checked directly).
    #[arg(
        long = "organization.role-name",
        env = "AWS_ROOT_MFA_EXPORTER_ORGANIZATION_ROLE_NAME",
        value_name = "NAME",
        value_parser = parse_role_name,
        global = true
    )]
    pub organization_role_name: Option<String>,

    /// Check every active account of the AWS Organization through centralized root access:
    /// `sts:AssumeRoot` with the audit task policy IAMAuditRootUserCredentials, which sees
    /// root's own MFA devices and last activity (the caller's own account, the management
    /// account, is checked directly).
    #[arg(
        long = "organization.assume-root",
        env = "AWS_ROOT_MFA_EXPORTER_ORGANIZATION_ASSUME_ROOT",
        conflicts_with_all = ["organization_role_name", "assume_role_arns", "assume_role_arns_file", "external_id"],
        global = true
    )]
    pub organization_assume_root: bool,

    /// How often to list the Organization's accounts again.
    #[arg(
        long = "organization.refresh-interval",
        env = "AWS_ROOT_MFA_EXPORTER_ORGANIZATION_REFRESH_INTERVAL",
        default_value = "1h",
        value_parser = parse_positive_duration,
        value_name = "DURATION",
    )]
    pub organization_refresh_interval: Duration,

    /// Check the account of this role, assumed with the ambient credentials (repeatable; in the
    /// environment variable, comma-separated).
    #[arg(
        long = "assume-role.arn",
        alias = "assume-role-arn",
        env = "AWS_ROOT_MFA_EXPORTER_ASSUME_ROLE_ARN",
        value_name = "ARN",
        value_delimiter = ',',
        conflicts_with = "organization_role_name",
        global = true
    )]
    pub assume_role_arns: Vec<RoleArn>,

    /// A file of role ARNs to assume, one per line (`#` starts a comment).
    #[arg(
        long = "assume-role.arns-file",
        alias = "assume-role-arns.file",
        env = "AWS_ROOT_MFA_EXPORTER_ASSUME_ROLE_ARNS_FILE",
        value_name = "FILE",
        conflicts_with = "organization_role_name",
        global = true
    )]
    pub assume_role_arns_file: Option<PathBuf>,

    /// The external id to pass to sts:AssumeRole.
    #[arg(
        long = "assume-role.external-id",
        env = "AWS_ROOT_MFA_EXPORTER_ASSUME_ROLE_EXTERNAL_ID",
        value_name = "ID",
        hide_env_values = true,
        global = true
    )]
    pub external_id: Option<String>,

    /// In the role modes, also read root's last password and access-key use from each
    /// account's IAM credential report (`--organization.assume-root` reads them exactly).
    #[arg(
        long = "collector.root-activity",
        env = "AWS_ROOT_MFA_EXPORTER_COLLECTOR_ROOT_ACTIVITY",
        global = true
    )]
    pub root_activity: bool,

    /// How often at most to read the credential report (IAM regenerates it at most every 4h).
    #[arg(
        long = "root-activity.interval",
        env = "AWS_ROOT_MFA_EXPORTER_ROOT_ACTIVITY_INTERVAL",
        default_value = "4h",
        value_parser = parse_positive_duration,
        value_name = "DURATION"
    )]
    pub root_activity_interval: Duration,

    /// Check only the accounts whose id hashes to INDEX of COUNT shards (e.g. `0/3`).
    #[arg(
        long = "shard",
        env = "AWS_ROOT_MFA_EXPORTER_SHARD",
        value_name = "INDEX/COUNT",
        global = true
    )]
    pub shard: Option<Shard>,
}

impl AccountFlags {
    /// How the accounts are found, reading `--assume-role.arns-file` if given.
    pub fn discovery(&self) -> Result<Discovery, String> {
        if self.organization_assume_root {
            return Ok(Discovery::Organization {
                members: Members::Root,
                refresh: self.organization_refresh_interval,
            });
        }
        if let Some(role_name) = &self.organization_role_name {
            return Ok(Discovery::Organization {
                members: Members::Role(role_name.clone()),
                refresh: self.organization_refresh_interval,
            });
        }
        let mut roles = self.assume_role_arns.clone();
        if let Some(path) = &self.assume_role_arns_file {
            let bytes =
                crate::web::files::read_bounded(path, crate::web::files::ROLE_ARNS_MAX_BYTES)
                    .map_err(|e| format!("--assume-role.arns-file {}: {e}", path.display()))?;
            let text = String::from_utf8(bytes).map_err(|_| {
                format!("--assume-role.arns-file {}: not UTF-8 text", path.display())
            })?;
            roles.extend(
                parse_role_arns(&text)
                    .map_err(|e| format!("--assume-role.arns-file {}: {e}", path.display()))?,
            );
        }
        roles.sort();
        roles.dedup();
        Ok(if roles.is_empty() {
            Discovery::Ambient
        } else {
            Discovery::Roles(roles)
        })
    }
}

/// IAM caps an ARN at 2048 characters; a longer line is not echoed back in the error.
const MAX_ARN_LEN: usize = 2048;

/// Parses a file of role ARNs: one per line, blank lines and `#` comments ignored.
pub fn parse_role_arns(text: &str) -> Result<Vec<RoleArn>, String> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.split('#').next().unwrap_or("").trim()))
        .filter(|(_, line)| !line.is_empty())
        .map(|(n, line)| {
            if line.len() > MAX_ARN_LEN {
                return Err(format!(
                    "line {n}: longer than {MAX_ARN_LEN} characters, not an IAM role ARN"
                ));
            }
            line.parse().map_err(|e| format!("line {n}: {e}"))
        })
        .collect()
}

fn parse_role_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "not an IAM role name (1-64 of A-Z a-z 0-9 +=,.@_-): {s:?}"
        ))
    }
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Poll once, print the result and exit: 0 no selected control failed, 1 a selected
    /// control failed for some account, 2 none failed but some account could not be checked.
    Check {
        /// How to print the result.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,

        /// The controls that decide the status and the exit code (comma-separated): IAM.4 no
        /// root access keys, IAM.6 hardware MFA on root, IAM.9 MFA on root.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "IAM.4,IAM.6,IAM.9",
            value_name = "IDS"
        )]
        controls: Vec<Control>,
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
    /// Address to listen on for the web interface and telemetry; repeatable (`:PORT` means
    /// every interface, IPv6 and IPv4; in the environment variable, comma-separated).
    #[arg(
        long = "web.listen-address",
        env = "AWS_ROOT_MFA_EXPORTER_WEB_LISTEN_ADDRESS",
        default_value = ":10466",
        value_delimiter = ',',
        value_name = "ADDRESS"
    )]
    pub listen_address: Vec<ListenAddress>,

    /// Listen on the sockets that systemd passes (socket activation, with a .socket unit)
    /// instead of --web.listen-address.
    #[arg(
        long = "web.systemd-socket",
        env = "AWS_ROOT_MFA_EXPORTER_WEB_SYSTEMD_SOCKET",
        conflicts_with = "listen_address"
    )]
    pub systemd_socket: bool,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        env = "AWS_ROOT_MFA_EXPORTER_WEB_TELEMETRY_PATH",
        default_value = "/metrics",
        value_parser = parse_telemetry_path,
        value_name = "PATH"
    )]
    pub telemetry_path: String,

    /// Path to a web configuration file (exporter-toolkit format) for TLS, basic
    /// authentication and response headers; changes take effect without a restart, except
    /// turning TLS on or off, which is decided at start-up.
    #[arg(
        long = "web.config.file",
        env = "AWS_ROOT_MFA_EXPORTER_WEB_CONFIG_FILE",
        value_name = "FILE"
    )]
    pub config_file: Option<std::path::PathBuf>,
}

/// Polling flags.
#[derive(Debug, Clone, Args)]
pub struct PollFlags {
    /// How often to check every account (AWS is never called on scrape); at least 1s.
    #[arg(
        long = "poll.interval",
        env = "AWS_ROOT_MFA_EXPORTER_POLL_INTERVAL",
        default_value = "5m",
        value_parser = parse_poll_interval,
        value_name = "DURATION",
    )]
    pub interval: Duration,

    /// How many accounts are checked at the same time.
    #[arg(
        long = "poll.concurrency",
        env = "AWS_ROOT_MFA_EXPORTER_POLL_CONCURRENCY",
        default_value_t = 16,
        value_parser = clap::value_parser!(u16).range(1..),
        value_name = "N",
        global = true
    )]
    pub concurrency: u16,

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

/// The shortest `--poll.interval`: anything shorter polls back to back, which only spends the
/// accounts' IAM request quota.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Parses `--poll.interval`: a duration of at least [`MIN_POLL_INTERVAL`].
pub fn parse_poll_interval(s: &str) -> Result<Duration, String> {
    let d = parse_positive_duration(s)?;
    if d < MIN_POLL_INTERVAL {
        Err(format!("{s:?} is below the minimum of 1s"))
    } else {
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(parse_poll_interval("1s"), Ok(Duration::from_secs(1)));
        for short in ["1ns", "999ms", "0s"] {
            assert!(parse_poll_interval(short).is_err(), "{short}");
        }
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
        assert_eq!(cli.web.listen_address, [ListenAddress::Any(DEFAULT_PORT)]);
        assert_eq!(cli.poll.interval, Duration::from_secs(300));
        assert!(cli.command.is_none());
        let cli = Cli::try_parse_from(["x", "check", "--output", "json", "--poll.timeout", "3s"])
            .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Check {
                output: Output::Json,
                ref controls,
            }) if controls[..] == Control::ALL
        ));
        let narrowed = Cli::try_parse_from(["x", "check", "--controls", "IAM.6,iam.9"]).unwrap();
        assert!(matches!(
            narrowed.command,
            Some(Command::Check { ref controls, .. })
                if controls[..] == [Control::Iam6, Control::Iam9]
        ));
        assert!(Cli::try_parse_from(["x", "check", "--controls", "IAM.5"]).is_err());
        assert_eq!(cli.poll.timeout, Duration::from_secs(3));
        assert!(Cli::try_parse_from(["x", "--poll.interval", "0s"]).is_err());
    }

    #[test]
    fn account_flags() {
        let cli = Cli::try_parse_from([
            "x",
            "--organization.role-name",
            "RootMfaReader",
            "--shard",
            "1/3",
        ])
        .unwrap();
        assert!(matches!(
            cli.accounts.discovery(),
            Ok(Discovery::Organization { members: Members::Role(ref role_name), refresh }) if role_name == "RootMfaReader" && refresh == Duration::from_secs(3600)
        ));
        let root =
            Cli::try_parse_from(["x", "--organization.assume-root", "--shard", "0/2"]).unwrap();
        assert!(matches!(
            root.accounts.discovery(),
            Ok(Discovery::Organization {
                members: Members::Root,
                ..
            })
        ));
        assert_eq!(cli.accounts.shard, Some(Shard { index: 1, count: 3 }));
        assert_eq!(cli.poll.concurrency, 16);
        assert!(!cli.accounts.root_activity);
        assert_eq!(
            cli.accounts.root_activity_interval,
            Duration::from_secs(4 * 3600)
        );

        let a = "arn:aws:iam::111111111111:role/r";
        let b = "arn:aws:iam::222222222222:role/r";
        let cli = Cli::try_parse_from([
            "x",
            "--assume-role-arn",
            b,
            "--assume-role-arn",
            a,
            "--assume-role-arn",
            b,
        ])
        .unwrap();
        match cli.accounts.discovery() {
            Ok(Discovery::Roles(roles)) => {
                assert_eq!(roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(), [a, b]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Cli::try_parse_from(["x"]).unwrap().accounts.discovery(),
            Ok(Discovery::Ambient)
        ));

        for bad in [
            vec!["x", "--organization.role-name", "r", "--assume-role-arn", a],
            vec![
                "x",
                "--organization.assume-root",
                "--organization.role-name",
                "r",
            ],
            vec!["x", "--organization.assume-root", "--assume-role-arn", a],
            vec![
                "x",
                "--organization.assume-root",
                "--assume-role-arns.file",
                "f",
            ],
            vec![
                "x",
                "--organization.assume-root",
                "--assume-role.external-id",
                "e",
            ],
            vec!["x", "--assume-role-arn", "arn:aws:iam::1:role/r"],
            vec!["x", "--organization.role-name", "bad name"],
            vec!["x", "--shard", "2/2"],
            vec!["x", "--poll.concurrency", "0"],
        ] {
            assert!(Cli::try_parse_from(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn role_arn_files() {
        let text = "# audit roles\narn:aws:iam::111111111111:role/r\n\n  arn:aws:iam::222222222222:role/r  # prod\n";
        assert_eq!(parse_role_arns(text).unwrap().len(), 2);
        let err = parse_role_arns("arn:aws:iam::111111111111:role/r\nnot-an-arn\n").unwrap_err();
        assert!(err.starts_with("line 2: "), "{err}");
        assert!(parse_role_arns("").unwrap().is_empty());
        let long = format!("arn:aws:iam::111111111111:role/{}", "a".repeat(3000));
        let err = parse_role_arns(&long).unwrap_err();
        assert_eq!(
            err,
            "line 1: longer than 2048 characters, not an IAM role ARN"
        );
    }

    #[test]
    fn old_spellings_still_work_and_help_shows_the_new_ones() {
        let a = "arn:aws:iam::111111111111:role/r";
        let new = Cli::try_parse_from(["x", "--assume-role.arn", a]).unwrap();
        let old = Cli::try_parse_from(["x", "--assume-role-arn", a]).unwrap();
        assert_eq!(new.accounts.assume_role_arns, old.accounts.assume_role_arns);
        let new = Cli::try_parse_from(["x", "--assume-role.arns-file", "/f"]).unwrap();
        let old = Cli::try_parse_from(["x", "--assume-role-arns.file", "/f"]).unwrap();
        assert_eq!(
            new.accounts.assume_role_arns_file,
            old.accounts.assume_role_arns_file
        );
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        for shown in [
            "--assume-role.arn",
            "--assume-role.arns-file",
            "--web.systemd-socket",
        ] {
            assert!(help.contains(shown), "{shown}");
        }
        for hidden in ["--assume-role-arn ", "--assume-role-arns.file"] {
            assert!(!help.contains(hidden), "{hidden}");
        }
        let mut top = Cli::command();
        top.build();
        let check = top.find_subcommand_mut("check").unwrap();
        let check_help = check.render_long_help().to_string();
        for unused in [
            "--poll.interval",
            "--web.listen-address",
            "--web.config.file",
            "--organization.refresh-interval",
            "--root-activity.interval",
        ] {
            assert!(!check_help.contains(unused), "check --help shows {unused}");
        }
        for used in [
            "--controls",
            "--output",
            "--poll.timeout",
            "--organization.role-name",
        ] {
            assert!(check_help.contains(used), "check --help lacks {used}");
        }
    }

    #[test]
    fn listen_addresses_repeat() {
        let cli = Cli::try_parse_from([
            "x",
            "--web.listen-address",
            "127.0.0.1:1",
            "--web.listen-address",
            ":2",
        ])
        .unwrap();
        assert_eq!(cli.web.listen_address.len(), 2);
        assert!(Cli::try_parse_from(["x", "--web.systemd-socket"]).is_ok());
        assert!(
            Cli::try_parse_from(["x", "--web.systemd-socket", "--web.listen-address", ":1"])
                .is_err()
        );
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
