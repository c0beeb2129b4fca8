//! Logging set-up: logfmt (as Prometheus components log) or JSON, to standard error.
//!
//! Logging never stops the exporter: a line that cannot be written (standard error closed, a
//! full pipe, a dead journald socket) is dropped and counted in
//! `aws_root_mfa_exporter_log_lines_dropped_total`, because a process that dies or freezes for
//! want of a log line helps no one.

use std::fmt;
use std::io;
use std::sync::LazyLock;

use prometheus::IntCounter;
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{LogFlags, LogFormat, LogLevel};
use crate::redact::redact;

/// Log lines that could not be written and were dropped.
static DROPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    IntCounter::new(
        format!("{}_log_lines_dropped_total", crate::metrics::SELF_NAMESPACE),
        "Log lines that could not be written to standard error (for example a closed pipe) and were dropped.",
    )
    .expect("valid metric")
});

/// The counter of dropped log lines, to register with the per-scrape registry.
pub fn dropped_lines() -> IntCounter {
    DROPPED.clone()
}

/// Installs the global subscriber for the configured level and format. `RUST_LOG`, when set,
/// replaces the level with its own directives (for support: `RUST_LOG=aws_smithy_runtime=trace`
/// gives the SDK's raw request traces); every line is still redacted.
pub fn init(flags: &LogFlags) {
    let (filter, ignored) = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => match EnvFilter::try_new(&directives) {
            Ok(filter) => (filter, None),
            Err(err) => (
                EnvFilter::new(filter_directives(flags.level)),
                Some(err.to_string()),
            ),
        },
        _ => (EnvFilter::new(filter_directives(flags.level)), None),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Stderr)
        // Its own report of a failed write goes to standard error with `eprintln!`, which
        // panics when standard error is gone: the failure is counted by `Stderr` instead.
        .log_internal_errors(false)
        .event_format(LineFormat(flags.format))
        .init();
    if let Some(err) = ignored {
        tracing::warn!(error = %err, "RUST_LOG ignored: not valid filter directives; --log.level applies");
    }
}

/// Standard error, where a failed write is dropped and counted instead of failing.
#[derive(Debug, Clone, Copy)]
struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Stderr {
        Stderr
    }
}

impl io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The formatter hands over one whole line per event.
        if io::stderr().write_all(buf).is_err() {
            DROPPED.inc();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The AWS SDK's crates. They log their internals at info and warn, in lines of several hundred
/// characters with raw `Response {…}` dumps, about things the exporter reports itself in its
/// own words (every failed check is logged with its code): below `--log.level debug`, only their
/// errors are shown.
const SDK_QUIET: &str = "aws_config=error,aws_smithy_runtime=error,aws_smithy_runtime_api=error,\
                         aws_smithy_http_client=error,aws_runtime=error,aws_sdk_sts=error,\
                         aws_sdk_iam=error,aws_sdk_organizations=error";

/// The filter for `level`: the exporter's own lines at that level, the SDK's at error.
fn filter_directives(level: LogLevel) -> String {
    match level {
        LogLevel::Debug => "debug".into(),
        LogLevel::Info => format!("info,{SDK_QUIET}"),
        LogLevel::Warn => format!("warn,{SDK_QUIET}"),
        LogLevel::Error => "error".into(),
    }
}

/// Formats each event as one line, `ts=… level=… target=… msg="…" key=value` or the same keys
/// as a JSON object, the way Prometheus components log.
#[derive(Debug, Clone, Copy)]
pub struct LineFormat(pub LogFormat);

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields(vec![
            (
                "ts",
                Value::from(
                    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
                ),
            ),
            (
                "level",
                Value::from(meta.level().as_str().to_ascii_lowercase()),
            ),
            ("target", Value::from(meta.target())),
        ]);
        event.record(&mut fields);
        match self.0 {
            LogFormat::Logfmt => {
                let pairs: Vec<String> = fields
                    .0
                    .iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => format!("{k}={}", quote(s)),
                        other => format!("{k}={other}"),
                    })
                    .collect();
                writeln!(writer, "{}", pairs.join(" "))
            }
            LogFormat::Json => {
                let object: serde_json::Map<String, Value> = fields
                    .0
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect();
                writeln!(writer, "{}", Value::Object(object))
            }
        }
    }
}

/// An event's fields in order, `message` renamed to `msg`.
struct Fields(Vec<(&'static str, Value)>);

impl Fields {
    fn push(&mut self, field: &Field, value: Value) {
        let key = match field.name() {
            "message" => "msg",
            name => name,
        };
        self.0.push((key, value));
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::from(redact(value).into_owned()));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // The message, `%` and `?` fields all arrive here: the SDK's own output too.
        self.push(
            field,
            Value::from(redact(&format!("{value:?}")).into_owned()),
        );
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, Value::from(redact(&value.to_string()).into_owned()));
    }
}

/// Quotes a logfmt value when it is empty or holds a space, quote, `=` or control character.
fn quote(value: &str) -> String {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control());
    if !needs_quotes {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_quoting() {
        let cases = [
            ("plain", "plain"),
            ("", "\"\""),
            ("two words", "\"two words\""),
            ("a=b", "\"a=b\""),
            ("say \"hi\"", "\"say \\\"hi\\\"\""),
            ("line\nbreak", "\"line\\nbreak\""),
        ];
        for (input, want) in cases {
            assert_eq!(quote(input), want, "{input:?}");
        }
    }
}
