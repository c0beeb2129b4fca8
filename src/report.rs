//! The output of `check`: a table or JSON, and the exit code that CI pipelines and cron act on.
//!
//! An account's status is taken over the selected controls (`--controls`, all three by
//! default); the JSON carries every control's verdict whatever the selection.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::posture::{Control, Inventory, Status, Verdict};
use crate::snapshot::AccountView;

/// No selected control failed, and every account was checked.
pub const EXIT_COMPLIANT: u8 = 0;
/// At least one selected control failed for at least one account.
pub const EXIT_NON_COMPLIANT: u8 = 1;
/// No selected control failed, but at least one account could not be checked.
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
    /// Accounts the controls do not apply to.
    pub not_applicable: usize,
    /// Accounts whose check failed.
    pub error: usize,
}

impl Totals {
    /// Counts the accounts of one poll by their status against `controls`.
    pub fn of(accounts: &[AccountView], controls: &[Control]) -> Totals {
        let mut t = Totals {
            accounts: accounts.len(),
            ..Totals::default()
        };
        for a in accounts {
            match a.status(controls) {
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
    controls: Option<BTreeMap<&'static str, Verdict>>,
    mfa_enabled: Option<bool>,
    hardware_mfa: Option<bool>,
    virtual_mfa_devices: Option<u32>,
    /// Root's own devices by type, where the inventory is exact (`--organization.assume-root`).
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_devices: Option<Inventory>,
    access_keys_present: Option<bool>,
    credentials_present: Option<bool>,
    error_code: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    controls: Vec<&'static str>,
    summary: Totals,
    accounts: Vec<JsonAccount<'a>>,
}

/// The result as JSON: the selected controls, a summary and one object per account with every
/// control's verdict. Posture fields and verdicts are `null` unless this check observed them.
pub fn json(accounts: &[AccountView], controls: &[Control]) -> String {
    let report = JsonReport {
        controls: controls.iter().map(|c| c.id()).collect(),
        summary: Totals::of(accounts, controls),
        accounts: accounts
            .iter()
            .map(|a| {
                let observed = a.observed();
                JsonAccount {
                    account_id: a.account_id.as_deref(),
                    account_name: &a.account_name,
                    partition: a.partition.as_deref(),
                    status: a.status(controls),
                    controls: observed.map(|p| {
                        Control::ALL
                            .iter()
                            .map(|c| (c.id(), p.verdict(*c)))
                            .collect()
                    }),
                    mfa_enabled: observed.map(|p| p.mfa_enabled),
                    hardware_mfa: observed.map(|p| p.hardware),
                    virtual_mfa_devices: observed.map(|p| p.virtual_devices),
                    mfa_devices: observed.and_then(|p| p.inventory),
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

/// The result as an aligned table, a line per failed control and per failed check, and a
/// summary line.
pub fn table(accounts: &[AccountView], controls: &[Control]) -> String {
    let mut header = vec!["ACCOUNT", "NAME", "PARTITION", "STATUS"];
    header.extend(controls.iter().map(|c| c.id()));
    header.extend(["ROOT MFA", "VIRTUAL", "ROOT CREDENTIALS"]);
    let dash = || "-".to_owned();
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .map(|a| {
            let observed = a.observed();
            let mut row = vec![
                id_of(a).to_owned(),
                if a.account_name.is_empty() {
                    dash()
                } else {
                    a.account_name.clone()
                },
                a.partition.clone().unwrap_or_else(dash),
                a.status(controls).as_str().to_owned(),
            ];
            row.extend(
                controls
                    .iter()
                    .map(|c| observed.map_or_else(dash, |p| p.verdict(*c).as_str().to_owned())),
            );
            row.extend([
                observed.map_or_else(dash, |p| {
                    match (p.mfa_enabled, p.hardware) {
                        (false, _) => "none",
                        (true, true) => "hardware",
                        (true, false) => "virtual",
                    }
                    .to_owned()
                }),
                observed.map_or_else(dash, |p| p.virtual_devices.to_string()),
                observed.map_or_else(dash, |p| {
                    if p.credentials_present {
                        "present"
                    } else {
                        "none"
                    }
                    .to_owned()
                }),
            ]);
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let joined: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", joined.join("  ").trim_end());
    };
    line(&header);
    for row in &rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    for a in accounts {
        let Some(posture) = a.observed() else {
            continue;
        };
        for c in controls
            .iter()
            .filter(|c| posture.verdict(**c) == Verdict::Failed)
        {
            let _ = writeln!(out, "failed: {}: {} ({})", id_of(a), c.id(), c.title());
        }
    }
    for a in accounts.iter().filter(|a| !a.last_check_ok) {
        let _ = writeln!(
            out,
            "error: {}: {}",
            id_of(a),
            a.last_error.as_deref().unwrap_or("not checked")
        );
    }
    let t = Totals::of(accounts, controls);
    let _ = writeln!(
        out,
        "{} {}: {} compliant, {} non-compliant, {} not applicable, {} could not be checked",
        t.accounts,
        if t.accounts == 1 {
            "account"
        } else {
            "accounts"
        },
        t.compliant,
        t.non_compliant,
        t.not_applicable,
        t.error
    );
    out
}

fn id_of(a: &AccountView) -> &str {
    a.account_id.as_deref().unwrap_or("(unidentified)")
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

    const ALL: &[Control] = &Control::ALL;

    const HW: Posture = Posture {
        root_user: true,
        mfa_enabled: true,
        hardware: true,
        virtual_devices: 0,
        access_keys_present: false,
        credentials_present: true,
        inventory: None,
    };
    const VIRT: Posture = Posture {
        root_user: true,
        mfa_enabled: true,
        hardware: false,
        virtual_devices: 1,
        access_keys_present: false,
        credentials_present: true,
        inventory: None,
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
            assert_eq!(Totals::of(&accounts, ALL).exit_code(), want, "{accounts:?}");
        }
    }

    #[test]
    fn root_access_keys_fail_iam4_whatever_the_mfa() {
        let keys = Posture {
            access_keys_present: true,
            ..HW
        };
        let accounts = [account("333333333333", true, Some(keys))];
        assert_eq!(Totals::of(&accounts, ALL).exit_code(), EXIT_NON_COMPLIANT);
        assert!(
            table(&accounts, ALL).contains("failed: 333333333333: IAM.4 (no root access keys)")
        );
        let mfa_only = [Control::Iam6, Control::Iam9];
        assert_eq!(Totals::of(&accounts, &mfa_only).exit_code(), EXIT_COMPLIANT);
        assert!(!table(&accounts, &mfa_only).contains("IAM.4"));
    }

    #[test]
    fn json_reports_only_observed_values() {
        let out = json(
            &[
                account("111111111111", true, Some(VIRT)),
                account("222222222222", false, Some(HW)),
            ],
            ALL,
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["summary"]["non_compliant"], 1);
        assert_eq!(v["summary"]["error"], 1);
        assert_eq!(v["accounts"][0]["status"], "non_compliant");
        assert_eq!(v["accounts"][0]["virtual_mfa_devices"], 1);
        assert_eq!(v["accounts"][1]["status"], "error");
        assert!(v["accounts"][1]["hardware_mfa"].is_null());
        assert_eq!(
            v["controls"],
            serde_json::json!(["IAM.4", "IAM.6", "IAM.9"])
        );
        assert_eq!(
            v["accounts"][0]["controls"],
            serde_json::json!({"IAM.4": "passed", "IAM.6": "failed", "IAM.9": "passed"})
        );
        assert!(v["accounts"][1]["controls"].is_null());
        // No exact inventory outside assume-root mode: no key at all.
        assert!(v["accounts"][0].get("mfa_devices").is_none());
    }

    #[test]
    fn json_shows_the_exact_inventory() {
        let both = Posture {
            inventory: Some(Inventory {
                virtual_: 1,
                fido: 1,
                hardware_totp: 0,
            }),
            ..VIRT
        };
        let out = json(&[account("111111111111", true, Some(both))], ALL);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["accounts"][0]["mfa_devices"],
            serde_json::json!({"virtual": 1, "fido": 1, "hardware_totp": 0})
        );
    }

    #[test]
    fn table_has_a_row_per_account_and_a_summary() {
        let out = table(
            &[
                account("111111111111", true, Some(VIRT)),
                account("222222222222", false, None),
            ],
            ALL,
        );
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("ACCOUNT"));
        assert!(
            lines[1].starts_with("111111111111")
                && lines[1].contains("non_compliant")
                && lines[1].contains("virtual")
        );
        assert!(lines[2].starts_with("222222222222") && lines[2].contains("error"));
        assert!(out.contains("failed: 111111111111: IAM.6 (hardware MFA on root)"));
        assert!(out.contains("error: 222222222222: AccessDenied"));
        assert!(out.ends_with(
            "2 accounts: 0 compliant, 1 non-compliant, 0 not applicable, 1 could not be checked\n"
        ));
    }
}
