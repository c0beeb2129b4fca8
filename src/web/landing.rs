//! The landing page at `/`: what the exporter is, where its endpoints are, the fleet's counts,
//! and where each watched account stands, worst first. Rendered on the server from the latest
//! snapshot, with no script and no external asset; readable on a narrow window, and never
//! relying on colour alone (every state has a symbol and a word).

use std::fmt::Write as _;
use std::time::Duration;

use crate::BuildInfo;
use crate::posture::{Control, Posture, Status, Verdict};
use crate::report::Totals;
use crate::snapshot::{AccountView, Snapshot};

/// The longest error message shown in a table cell; the log has the whole chain.
const MAX_MESSAGE_CHARS: usize = 160;

/// The style sheet (the empty `data:` icon spares browsers a request for `/favicon.ico`, which
/// would answer 404 and log an error in their console). The table scrolls in its own box, so that a narrow window never scrolls the
/// page sideways.
const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:1rem;line-height:1.4;color:#1f2328}\
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin:1.2rem 0 .4rem}\
p,li{overflow-wrap:anywhere}\
nav ul,ul.counts{display:flex;flex-wrap:wrap;gap:.4rem 1rem;list-style:none;padding:0;margin:.4rem 0}\
ul.counts li{border:1px solid #d0d7de;border-radius:6px;padding:.3rem .7rem}\
ul.counts strong{font-size:1.3rem;margin-right:.3rem}\
.scroll{overflow-x:auto;max-width:100%;border:1px solid #d0d7de;border-radius:6px}\
table{border-collapse:collapse;width:100%}\
th,td{padding:.35rem .6rem;text-align:left;vertical-align:top;border-bottom:1px solid #d0d7de;white-space:nowrap}\
th{background:#f6f8fa}td.error{white-space:normal;min-width:16rem}\
td:first-child{white-space:normal;overflow-wrap:anywhere;min-width:9rem;max-width:18rem}\
small{color:#59636e}\
.good{color:#1a7f37}.bad{color:#cf222e}.warn{color:#9a6700}.na{color:#59636e}";

/// The landing page for `snapshot`, with ages counted to `now_unix`.
pub fn page(
    build: &BuildInfo,
    telemetry_path: &str,
    poll_interval: Duration,
    snapshot: &Snapshot,
    now_unix: f64,
) -> String {
    let mut html = String::with_capacity(4096 + snapshot.accounts.len() * 400);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\">\
         <title>AWS root MFA exporter</title><style>{STYLE}</style></head><body>\
         <header><h1>AWS root MFA exporter</h1>\
         <p>Checks the root user of every watched AWS account against the AWS Security Hub \
         controls IAM.6 (hardware MFA, CIS 1.6), IAM.9 (MFA, CIS 1.5) and IAM.4 (no access keys, \
         CIS 1.4), every {interval}. Version {version}, revision {revision}.</p>\
         <nav><ul><li><a href=\"{path}\">Metrics</a></li><li><a href=\"/healthz\">Health</a></li>\
         <li><a href=\"/readyz\">Readiness</a></li></ul></nav></header><main>",
        version = escape(build.version),
        revision = escape(build.revision),
        interval = humantime::format_duration(poll_interval),
        path = escape(telemetry_path),
    );
    if snapshot.completed_polls == 0 {
        html.push_str("<p>The first poll has not finished yet.</p>");
    } else if !snapshot.discovered {
        html.push_str(
            "<p class=\"bad\">&#x2717; The accounts to watch could not be listed: nothing is \
             being checked. The log says why.</p>",
        );
    } else {
        counts(&mut html, &snapshot.accounts);
        accounts(&mut html, &snapshot.accounts, now_unix);
    }
    html.push_str("</main></body></html>\n");
    html
}

fn counts(html: &mut String, accounts: &[AccountView]) {
    let t = Totals::of(accounts, &Control::ALL);
    html.push_str("<section aria-label=\"Fleet\"><ul class=\"counts\">");
    for (n, class, symbol, what) in [
        (t.compliant, "good", "&#x2713;", "compliant"),
        (t.non_compliant, "bad", "&#x2717;", "non-compliant"),
        (t.not_applicable, "na", "&#x2013;", "not applicable"),
        (t.error, "warn", "!", "failing checks"),
    ] {
        let _ = write!(
            html,
            "<li class=\"{class}\"><strong>{n}</strong>{symbol} {what}</li>"
        );
    }
    let _ = write!(
        html,
        "<li><strong>{}</strong>{}</li></ul></section>",
        t.accounts,
        if t.accounts == 1 {
            "account"
        } else {
            "accounts"
        }
    );
}

fn accounts(html: &mut String, accounts: &[AccountView], now_unix: f64) {
    html.push_str(
        "<section><h2>Accounts</h2><div class=\"scroll\"><table><thead><tr>\
         <th scope=\"col\">Account</th><th scope=\"col\">Status</th>\
         <th scope=\"col\">Hardware MFA <small>IAM.6</small></th>\
         <th scope=\"col\">MFA <small>IAM.9</small></th>\
         <th scope=\"col\">Access keys <small>IAM.4</small></th>\
         <th scope=\"col\">Virtual MFA devices</th>\
         <th scope=\"col\">Root's MFA devices <small>exact, with --organization.assume-root</small></th>\
         <th scope=\"col\">Last successful check</th>\
         <th scope=\"col\">Error</th></tr></thead><tbody>",
    );
    let mut sorted: Vec<&AccountView> = accounts.iter().collect();
    sorted.sort_by(|a, b| {
        (a.status(&Control::ALL), &a.account_id).cmp(&(b.status(&Control::ALL), &b.account_id))
    });
    for a in sorted {
        let id = a.account_id.as_deref().unwrap_or("(unidentified)");
        html.push_str("<tr><td>");
        if a.account_name.is_empty() {
            let _ = write!(html, "{}", escape(id));
        } else {
            let _ = write!(
                html,
                "{}<br><small>{}</small>",
                escape(&a.account_name),
                escape(id)
            );
        }
        let (class, symbol, word) = match a.status(&Control::ALL) {
            Status::Compliant => ("good", "&#x2713;", "Compliant"),
            Status::NonCompliant => ("bad", "&#x2717;", "Non-compliant"),
            Status::NotApplicable => ("na", "&#x2013;", "Not applicable"),
            Status::Error => ("warn", "!", "Check failing"),
        };
        let _ = write!(html, "</td><td class=\"{class}\">{symbol} {word}</td>");
        // A failed check shows no verdict: what it last saw may no longer be true.
        match a.observed() {
            Some(p) => {
                for control in [Control::Iam6, Control::Iam9, Control::Iam4] {
                    let (class, symbol, word) = words(control, &p);
                    let _ = write!(html, "<td class=\"{class}\">{symbol} {word}</td>");
                }
                // The inventory shows a virtual device beside a FIDO key as both, where IAM.6
                // alone only says "failed".
                let _ = write!(
                    html,
                    "<td>{}</td><td>{}</td>",
                    p.virtual_devices,
                    p.inventory
                        .map_or_else(|| "-".into(), |i| escape(&i.describe()))
                );
            }
            None => html.push_str("<td>-</td><td>-</td><td>-</td><td>-</td><td>-</td>"),
        }
        let _ = write!(
            html,
            "<td>{}</td>",
            a.last_success_unix
                .map_or_else(|| "never".to_owned(), |t| age(now_unix - t))
        );
        match (&a.last_error_code, &a.last_error) {
            (Some(code), message) if !a.last_check_ok => {
                let _ = write!(
                    html,
                    "<td class=\"error\"><code>{}</code> {}</td>",
                    escape(code),
                    escape(&one_line(message.as_deref().unwrap_or("")))
                );
            }
            _ => html.push_str("<td></td>"),
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table></div></section>");
}

/// A control's verdict in words, with a symbol and a colour class.
fn words(control: Control, p: &Posture) -> (&'static str, &'static str, &'static str) {
    const PASS: (&str, &str) = ("good", "&#x2713;");
    const FAIL: (&str, &str) = ("bad", "&#x2717;");
    const NONE: (&str, &str) = ("na", "&#x2013;");
    let word = match (control, p.verdict(control)) {
        (_, Verdict::NotApplicable) if !p.root_user => return (NONE.0, NONE.1, "No root user"),
        (_, Verdict::NotApplicable) => return (NONE.0, NONE.1, "No root credentials"),
        (Control::Iam6, Verdict::Passed) => (PASS, "Hardware MFA"),
        (Control::Iam6, Verdict::Failed) if p.mfa_enabled => (FAIL, "Virtual MFA"),
        (Control::Iam9, Verdict::Passed) => (PASS, "MFA"),
        (Control::Iam6 | Control::Iam9, Verdict::Failed) => (FAIL, "No MFA"),
        (Control::Iam4, Verdict::Passed) => (PASS, "No access keys"),
        (Control::Iam4, Verdict::Failed) => (FAIL, "Root access keys"),
    };
    let ((class, symbol), word) = word;
    (class, symbol, word)
}

/// How long ago, in the largest whole unit: `42s ago`, `5m ago`, `3h ago`, `2d ago`.
fn age(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s ago"),
        60..3_600 => format!("{}m ago", s / 60),
        3_600..86_400 => format!("{}h ago", s / 3_600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// The first line of a message, cut to a length that fits a table cell.
fn one_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or("");
    if line.chars().count() <= MAX_MESSAGE_CHARS {
        line.to_owned()
    } else {
        let mut cut: String = line.chars().take(MAX_MESSAGE_CHARS - 1).collect();
        cut.push('\u{2026}');
        cut
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_800_000_000.0;

    fn account(id: &str, name: &str, posture: Option<Posture>, ok: bool) -> AccountView {
        AccountView {
            account_id: Some(id.into()),
            account_name: name.into(),
            partition: Some("aws".into()),
            posture,
            last_check_ok: ok,
            last_success_unix: posture.map(|_| NOW - 125.0),
            last_error_code: (!ok).then_some("AccessDenied"),
            last_error: (!ok)
                .then(|| "sts:AssumeRole failed (AccessDenied): not allowed\nsecond line".into()),
            ..AccountView::default()
        }
    }

    const HARDWARE: Posture = Posture {
        inventory: None,
        root_user: true,
        mfa_enabled: true,
        hardware: true,
        virtual_devices: 0,
        access_keys_present: false,
        credentials_present: true,
    };

    fn render(accounts: Vec<AccountView>) -> String {
        let snapshot = Snapshot {
            accounts,
            completed_polls: 1,
            discovered: true,
            ..Snapshot::default()
        };
        page(
            &crate::BUILD,
            "/metrics",
            Duration::from_secs(300),
            &snapshot,
            NOW,
        )
    }

    #[test]
    fn every_state_is_said_in_words_worst_first() {
        let keys = Posture {
            access_keys_present: true,
            ..HARDWARE
        };
        let virt = Posture {
            hardware: false,
            virtual_devices: 2,
            ..HARDWARE
        };
        let none = Posture {
            access_keys_present: false,
            credentials_present: false,
            mfa_enabled: false,
            hardware: false,
            ..HARDWARE
        };
        let html = render(vec![
            account("111111111111", "hardware", Some(HARDWARE), true),
            account("222222222222", "keys", Some(keys), true),
            account("333333333333", "virtual", Some(virt), true),
            account("444444444444", "no-credentials", Some(none), true),
            account("555555555555", "denied", None, false),
            account(
                "666666666666",
                "govcloud",
                Some(Posture::NO_ROOT_USER),
                true,
            ),
        ]);
        for words in [
            "Hardware MFA",
            "Virtual MFA",
            "Root access keys",
            "No root credentials",
            "No root user",
            "Check failing",
            "2m ago",
            "<code>AccessDenied</code> sts:AssumeRole failed (AccessDenied): not allowed</td>",
        ] {
            assert!(html.contains(words), "{words}: {html}");
        }
        assert!(!html.contains("second line"), "one line per error");
        // Worst first: the two non-compliant, the failing check, the compliant, then the rest.
        let order: Vec<usize> = ["keys", "virtual", "denied", "hardware", "no-credentials"]
            .iter()
            .map(|name| html.find(&format!("<td>{name}<br>")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert!(
            html.contains("<strong>1</strong>&#x2713; compliant"),
            "{html}"
        );
        assert!(html.contains("<strong>2</strong>&#x2717; non-compliant"));
        assert!(html.contains("<strong>2</strong>&#x2013; not applicable"));
        assert!(html.contains("<strong>1</strong>! failing checks"));
        assert!(html.contains("name=\"viewport\""));
    }

    #[test]
    fn names_and_messages_are_escaped_and_cut() {
        let mut denied = account("777777777777", "<script>x</script>", None, false);
        denied.last_error = Some(format!("<b>{}</b>", "x".repeat(500)));
        let html = render(vec![denied]);
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!html.contains("<script>") && !html.contains("<b>"));
        assert!(html.contains('\u{2026}'), "a long message is cut");
        assert!(!html.contains(&"x".repeat(200)));
    }

    #[test]
    fn ages_read_in_whole_units() {
        let cases = [
            (0.0, "0s ago"),
            (59.9, "59s ago"),
            (60.0, "1m ago"),
            (7_199.0, "1h ago"),
            (90_000.0, "1d ago"),
            (-5.0, "0s ago"),
        ];
        for (seconds, want) in cases {
            assert_eq!(age(seconds), want, "{seconds}");
        }
    }
}
