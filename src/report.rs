//! The output of `check`: a table or JSON, and the exit code that CI pipelines and cron act on.

use std::fmt::Write as _;

use serde::Serialize;

use crate::posture::Status;
use crate::snapshot::AccountView;

/// Every account is compliant or not applicable.
pub const EXIT_COMPLIANT: u8 = 0;
/// At least one account is non-compliant.
pub const EXIT_NON_COMPLIANT: u8 = 1;
/// No account is non-compliant, but at least one could not be checked.
pub const EXIT_UNKNOWN: u8 = 2;

/// Counts of accounts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// All accounts.
    pub accounts: usize,
    /// Compliant accounts.
    pub compliant: usize,
    /// Non-compliant accounts.
    pub non_compliant: usize,
    /// Accounts the control does not apply to.
    pub not_applicable: usize,
    /// Accounts whose check failed.
    pub error: usize,
}

impl Totals {
    /// Counts the accounts of one poll.
    pub fn of(accounts: &[AccountView]) -> Totals {
        let mut t = Totals {
            accounts: accounts.len(),
            ..Totals::default()
        };
        for a in accounts {
            match a.status() {
                Status::Compliant => t.compliant += 1,
                Status::NonCompliant => t.non_compliant += 1,
                Status::NotApplicable => t.not_applicable += 1,
                Status::Error => t.error += 1,
            }
        }
        t
    }

    /// The exit code of `check`: non-compliance outranks failures to check.
    pub fn exit_code(&self) -> u8 {
        if self.non_compliant > 0 {
            EXIT_NON_COMPLIANT
        } else if self.error > 0 || self.accounts == 0 {
            EXIT_UNKNOWN
        } else {
            EXIT_COMPLIANT
        }
    }
}

#[derive(Serialize)]
struct JsonAccount<'a> {
    account_id: Option<&'a str>,
    account_name: &'a str,
    partition: Option<&'a str>,
    status: Status,
    mfa_enabled: Option<bool>,
    hardware_mfa: Option<bool>,
    virtual_mfa_devices: Option<u32>,
    access_keys_present: Option<bool>,
    credentials_present: Option<bool>,
    error_code: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    summary: Totals,
    accounts: Vec<JsonAccount<'a>>,
}

/// The result as JSON: a summary and one object per account. Posture fields are `null` unless
/// this check observed them.
pub fn json(accounts: &[AccountView]) -> String {
    let report = JsonReport {
        summary: Totals::of(accounts),
        accounts: accounts
            .iter()
            .map(|a| {
                let observed = a.posture.filter(|_| a.last_check_ok);
                JsonAccount {
                    account_id: a.account_id.as_deref(),
                    account_name: &a.account_name,
                    partition: a.partition.as_deref(),
                    status: a.status(),
                    mfa_enabled: observed.map(|p| p.mfa_enabled),
                    hardware_mfa: observed.map(|p| p.hardware),
                    virtual_mfa_devices: observed.map(|p| p.virtual_devices),
                    access_keys_present: observed.map(|p| p.access_keys_present),
                    credentials_present: observed.map(|p| p.credentials_present),
                    error_code: a.last_error_code,
                    error: a.last_error.as_deref(),
                }
            })
            .collect(),
    };
    serde_json::to_string_pretty(&report).expect("serializable") + "\n"
}

/// The result as an aligned table with a summary line.
pub fn table(accounts: &[AccountView]) -> String {
    let header = [
        "ACCOUNT",
        "NAME",
        "PARTITION",
        "STATUS",
        "ROOT MFA",
        "VIRTUAL",
        "ROOT CREDENTIALS",
        "ACCESS KEYS",
    ];
    let yes_no = |b: bool, yes: &str, no: &str| if b { yes.to_owned() } else { no.to_owned() };
    let rows: Vec<[String; 8]> = accounts
        .iter()
        .map(|a| {
            let observed = a.posture.filter(|_| a.last_check_ok);
            let dash = || "-".to_owned();
            [
                a.account_id
                    .clone()
                    .unwrap_or_else(|| "(unidentified)".into()),
                if a.account_name.is_empty() {
                    dash()
                } else {
                    a.account_name.clone()
                },
                a.partition.clone().unwrap_or_else(dash),
                a.status().as_str().to_owned(),
                observed.map_or_else(dash, |p| match (p.mfa_enabled, p.hardware) {
                    (false, _) => "none".into(),
                    (true, true) => "hardware".into(),
                    (true, false) => "virtual".into(),
                }),
                observed.map_or_else(dash, |p| p.virtual_devices.to_string()),
                observed.map_or_else(dash, |p| yes_no(p.credentials_present, "present", "none")),
                observed.map_or_else(dash, |p| yes_no(p.access_keys_present, "present", "none")),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let joined: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", joined.join("  ").trim_end());
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    for a in accounts.iter().filter(|a| !a.last_check_ok) {
        let _ = writeln!(
            out,
            "error: {}: {}",
            a.account_id.as_deref().unwrap_or("(unidentified)"),
            a.last_error.as_deref().unwrap_or("not checked")
        );
    }
    let t = Totals::of(accounts);
    let _ = writeln!(
        out,
        "{} accounts: {} compliant, {} non-compliant, {} not applicable, {} could not be checked",
        t.accounts, t.compliant, t.non_compliant, t.not_applicable, t.error
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posture::Posture;

    fn account(id: &str, ok: bool, posture: Option<Posture>) -> AccountView {
        AccountView {
            account_id: Some(id.into()),
            partition: Some("aws".into()),
            posture,
            last_check_ok: ok,
            last_error: (!ok).then(|| "AccessDenied".into()),
            ..AccountView::default()
        }
    }

    const HW: Posture = Posture {
        mfa_enabled: true,
        hardware: true,
        virtual_devices: 0,
        access_keys_present: false,
        credentials_present: true,
    };
    const VIRT: Posture = Posture {
        mfa_enabled: true,
        hardware: false,
        virtual_devices: 1,
        access_keys_present: false,
        credentials_present: true,
    };

    #[test]
    fn exit_codes() {
        let cases = [
            (vec![account("1", true, Some(HW))], EXIT_COMPLIANT),
            (
                vec![account("1", true, Some(Posture::NO_ROOT_USER))],
                EXIT_COMPLIANT,
            ),
            (
                vec![account("1", true, Some(HW)), account("2", true, Some(VIRT))],
                EXIT_NON_COMPLIANT,
            ),
            (
                vec![account("1", true, Some(HW)), account("2", false, None)],
                EXIT_UNKNOWN,
            ),
            (
                vec![account("1", true, Some(VIRT)), account("2", false, None)],
                EXIT_NON_COMPLIANT,
            ),
            // A failed check with an older compliant posture is still unknown now.
            (vec![account("1", false, Some(HW))], EXIT_UNKNOWN),
            (vec![], EXIT_UNKNOWN),
        ];
        for (accounts, want) in cases {
            assert_eq!(Totals::of(&accounts).exit_code(), want, "{accounts:?}");
        }
    }

    #[test]
    fn json_reports_only_observed_values() {
        let out = json(&[
            account("111111111111", true, Some(VIRT)),
            account("222222222222", false, Some(HW)),
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["summary"]["non_compliant"], 1);
        assert_eq!(v["summary"]["error"], 1);
        assert_eq!(v["accounts"][0]["status"], "non_compliant");
        assert_eq!(v["accounts"][0]["virtual_mfa_devices"], 1);
        assert_eq!(v["accounts"][1]["status"], "error");
        assert!(v["accounts"][1]["hardware_mfa"].is_null());
    }

    #[test]
    fn table_has_a_row_per_account_and_a_summary() {
        let out = table(&[
            account("111111111111", true, Some(VIRT)),
            account("222222222222", false, None),
        ]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("ACCOUNT"));
        assert!(
            lines[1].starts_with("111111111111")
                && lines[1].contains("non_compliant")
                && lines[1].contains("virtual")
        );
        assert!(lines[2].starts_with("222222222222") && lines[2].contains("error"));
        assert!(out.contains("error: 222222222222: AccessDenied"));
        assert!(out.ends_with(
            "2 accounts: 0 compliant, 1 non-compliant, 0 not applicable, 1 could not be checked\n"
        ));
    }
}
