//! What the root user did last: when its password and its access keys were last used. Facts,
//! not a verdict: alerts decide what is recent enough to page for.
//!
//! Read through a root session (`GetUser`, `GetAccessKeyLastUsed`) or, in the role modes, from
//! the `<root_account>` row of the IAM credential report, parsed here.

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

/// The `user` of the credential report's row about the root user.
pub const ROOT_ROW: &str = "<root_account>";

/// The last use of root's password and access keys, as Unix times; `None` where never used.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RootActivity {
    /// When root last signed in with its password.
    pub password_last_used: Option<f64>,
    /// When each of root's access keys was last used, by ordinal (first created first), never
    /// by key id: the id is a credential's name and has no place in a label.
    pub access_keys_last_used: [Option<f64>; 2],
}

impl RootActivity {
    /// The label value of the access key at `index` (0 or 1): `"1"` or `"2"`.
    pub fn key_ordinal(index: usize) -> &'static str {
        match index {
            0 => "1",
            _ => "2",
        }
    }
}

/// Reads root's last activity from an IAM credential report (the CSV `GetCredentialReport`
/// returns). Dates are ISO 8601; `no_information` (never used) and `N/A` (no such credential)
/// mean no date. A report without the root row, or with a date that does not parse, is an
/// error: an unreadable report must not read as "never used".
pub fn from_credential_report(csv: &str) -> Result<RootActivity, String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or("empty credential report")?
        .split(',')
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| format!("the credential report has no {name} column"))
    };
    let password = column("password_last_used")?;
    let keys = [
        column("access_key_1_last_used_date")?,
        column("access_key_2_last_used_date")?,
    ];
    let row: Vec<&str> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|fields| fields.first().map(|f| f.trim()) == Some(ROOT_ROW))
        .ok_or("the credential report has no <root_account> row")?;
    let date = |i: usize| -> Result<Option<f64>, String> {
        match row.get(i).map(|f| f.trim()) {
            None => Err("the <root_account> row is short".into()),
            Some("N/A" | "no_information" | "not_supported" | "") => Ok(None),
            Some(text) => DateTime::from_str(text, Format::DateTimeWithOffset)
                .map(|t| Some(t.as_secs_f64()))
                .map_err(|e| format!("unreadable date {text:?} in the <root_account> row: {e}")),
        }
    };
    Ok(RootActivity {
        password_last_used: date(password)?,
        access_keys_last_used: [date(keys[0])?, date(keys[1])?],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    fn report(password: &str, key1: &str, key2: &str) -> String {
        format!(
            "{HEADER}\n<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,{password},not_supported,not_supported,true,true,2024-01-01T00:00:00+00:00,{key1},us-east-1,s3,false,N/A,{key2},N/A,N/A,false,N/A,false,N/A\nalice,arn:aws:iam::123456789012:user/alice,2020-01-01T00:00:00+00:00,true,2026-05-05T00:00:00+00:00,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        )
    }

    #[test]
    fn root_row_of_the_credential_report() {
        let cases = [
            (
                report(
                    "2026-01-02T03:04:05+00:00",
                    "2026-03-04T05:06:07+00:00",
                    "N/A",
                ),
                Ok(RootActivity {
                    password_last_used: Some(1_767_323_045.0),
                    access_keys_last_used: [Some(1_772_600_767.0), None],
                }),
            ),
            // Never used, and no password at all: no dates, and not alice's.
            (
                report("no_information", "N/A", "N/A"),
                Ok(RootActivity::default()),
            ),
            (report("N/A", "N/A", "N/A"), Ok(RootActivity::default())),
        ];
        for (csv, want) in cases {
            assert_eq!(from_credential_report(&csv), want, "{csv}");
        }
        for bad in [
            String::new(),
            format!("{HEADER}\nalice,arn,x,true,N/A\n"),
            report("yesterday", "N/A", "N/A"),
            "user,arn\n<root_account>,arn\n".to_owned(),
        ] {
            assert!(from_credential_report(&bad).is_err(), "{bad}");
        }
    }
}
