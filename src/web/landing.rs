//! The landing page at `/`: what the exporter is, where its endpoints are, and where each
//! watched account stands. Rendered on the server from the latest snapshot, with no script.

use std::fmt::Write as _;
use std::time::Duration;

use crate::posture::Control;
use crate::snapshot::Snapshot;

/// The landing page: what the exporter is, links, and the accounts of the latest snapshot.
pub fn page(telemetry_path: &str, poll_interval: Duration, snapshot: &Snapshot) -> String {
    let mut html = String::with_capacity(2048 + snapshot.accounts.len() * 160);
    let path = escape(telemetry_path);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>AWS root MFA exporter</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.2em .6em;text-align:left}}\
         .compliant,.passed{{color:#1a7f37}}.non_compliant,.error,.failed{{color:#cf222e}}</style></head><body>\
         <h1>AWS root MFA exporter</h1>\
         <p>Version {version} (revision {revision}). Checks whether the root user of each AWS account \
         is protected by hardware MFA (CIS AWS Foundations, Security Hub IAM.6), every {interval}.</p>\
         <ul><li><a href=\"{path}\">Metrics</a></li><li><a href=\"/healthz\">Health</a></li>\
         <li><a href=\"/readyz\">Readiness</a></li></ul>",
        version = escape(crate::VERSION),
        revision = escape(crate::REVISION),
        interval = humantime::format_duration(poll_interval),
    );
    if snapshot.completed_polls == 0 {
        html.push_str("<p>The first poll has not finished yet.</p>");
    } else {
        html.push_str("<h2>Accounts</h2><table><tr><th>Account</th><th>Name</th><th>Status</th>");
        for c in Control::ALL {
            let _ = write!(html, "<th>{} ({})</th>", c.id(), c.title());
        }
        html.push_str("<th>Virtual MFA devices on root</th><th>Root's MFA devices (exact, with --organization.assume-root)</th></tr>");
        for a in &snapshot.accounts {
            let status = a.status(&Control::ALL).as_str();
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td class=\"{status}\">{status}</td>",
                escape(a.account_id.as_deref().unwrap_or("(unidentified)")),
                escape(&a.account_name),
            );
            let observed = a.observed();
            for c in Control::ALL {
                let verdict = observed.map_or("-", |p| p.verdict(c).as_str());
                let _ = write!(html, "<td class=\"{verdict}\">{verdict}</td>");
            }
            // The inventory shows a virtual device beside a FIDO key as both, where IAM.6
            // alone only says "failed".
            let _ = write!(
                html,
                "<td>{}</td><td>{}</td></tr>",
                observed.map_or_else(|| "-".into(), |p| p.virtual_devices.to_string()),
                observed
                    .and_then(|p| p.inventory)
                    .map_or_else(|| "-".into(), |i| escape(&i.describe())),
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>\n");
    html
}

/// Escapes text for HTML content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
