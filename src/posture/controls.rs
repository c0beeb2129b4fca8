//! The AWS Security Hub controls the exporter gives a verdict on, the verdicts, and where an
//! account stands against a selection of them.

use serde::Serialize;

/// A Security Hub control about the root user that the exporter gives a verdict on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Control {
    /// IAM.4 (CIS 1.4): the root user has no access keys.
    Iam4,
    /// IAM.6 (CIS 1.6): the root user has hardware MFA, and no virtual device.
    Iam6,
    /// IAM.9 (CIS 1.5): the root user has MFA.
    Iam9,
}

impl Control {
    /// Every control, in the order they are reported.
    pub const ALL: [Control; 3] = [Control::Iam4, Control::Iam6, Control::Iam9];

    /// The Security Hub control id, as the `control` label and `check --controls` spell it.
    pub fn id(self) -> &'static str {
        match self {
            Control::Iam4 => "IAM.4",
            Control::Iam6 => "IAM.6",
            Control::Iam9 => "IAM.9",
        }
    }

    /// What the control asks, in a few words.
    pub fn title(self) -> &'static str {
        match self {
            Control::Iam4 => "no root access keys",
            Control::Iam6 => "hardware MFA on root",
            Control::Iam9 => "MFA on root",
        }
    }
}

impl std::fmt::Display for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl std::str::FromStr for Control {
    type Err = String;

    /// Reads a control id, case-insensitively (`IAM.6`, `iam.6`).
    fn from_str(s: &str) -> Result<Control, String> {
        Control::ALL
            .into_iter()
            .find(|c| c.id().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown control {s:?} (expected IAM.4, IAM.6 or IAM.9)"))
    }
}

/// A control's verdict for one account, as Security Hub reports findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The account meets the control.
    Passed,
    /// The account does not meet the control.
    Failed,
    /// The control does not apply: no root user, or (for the MFA controls) no root credentials.
    NotApplicable,
}

impl Verdict {
    /// Every verdict, in the order the `status` label values are exported.
    pub const ALL: [Verdict; 3] = [Verdict::Passed, Verdict::Failed, Verdict::NotApplicable];

    /// The value of the `status` label and of JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::NotApplicable => "not_applicable",
        }
    }
}

/// Where an account stands against the selected controls: the one answer that `check`, its
/// JSON and the landing page give for an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// At least one selected control failed. (First, so that sorting puts the worst first.)
    NonCompliant,
    /// The last check failed, so where the account stands now is not known.
    Error,
    /// No selected control failed.
    Compliant,
    /// The root user has no credentials at all (centralized root access), or there is no root
    /// user (GovCloud): nothing to protect.
    NotApplicable,
}

impl Status {
    /// The value used in tables, JSON and on the landing page.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Compliant => "compliant",
            Status::NonCompliant => "non_compliant",
            Status::NotApplicable => "not_applicable",
            Status::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_ids_parse() {
        assert_eq!("IAM.6".parse(), Ok(Control::Iam6));
        assert_eq!(" iam.4 ".parse(), Ok(Control::Iam4));
        assert_eq!(
            "IAM.9".parse::<Control>().map(|c| c.to_string()),
            Ok("IAM.9".into())
        );
        for bad in ["", "IAM.5", "IAM6", "CIS.1.6"] {
            assert!(bad.parse::<Control>().is_err(), "{bad}");
        }
    }
}
