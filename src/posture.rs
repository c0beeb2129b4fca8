//! The compliance decision: a pure function of the AWS answers, free of I/O.
//!
//! It follows CIS AWS Foundations "Ensure hardware MFA is enabled for the root user account"
//! (Security Hub IAM.6, AWS Config `root-account-hardware-mfa-enabled`): the root user has MFA,
//! and no *virtual* MFA device is assigned to it. FIDO keys, passkeys and hardware TOTP tokens
//! never appear in the virtual device list, so this is the most a non-root caller can know.

use serde::Serialize;

/// The partition whose accounts have no root user (AWS GovCloud).
const GOVCLOUD: &str = "aws-us-gov";

/// Who the credentials belong to, from `sts:GetCallerIdentity`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Identity {
    /// The 12-digit account id.
    pub account_id: String,
    /// The ARN partition: `aws`, `aws-cn`, `aws-us-gov`, …
    pub partition: String,
}

impl Identity {
    /// Reads account and partition from the caller's ARN (`arn:<partition>:sts::<account>:…`).
    pub fn from_caller(account_id: &str, caller_arn: &str) -> Option<Identity> {
        let mut parts = caller_arn.split(':');
        let (Some("arn"), Some(partition)) = (parts.next(), parts.next()) else {
            return None;
        };
        if partition.is_empty() || account_id.is_empty() {
            return None;
        }
        Some(Identity {
            account_id: account_id.to_owned(),
            partition: partition.to_owned(),
        })
    }

    /// The exact ARN under which IAM reports the root user as the owner of an MFA device.
    pub fn root_arn(&self) -> String {
        format!("arn:{}:iam::{}:root", self.partition, self.account_id)
    }

    /// Whether the account has a root user at all (GovCloud accounts have none).
    pub fn has_root_user(&self) -> bool {
        self.partition != GOVCLOUD
    }
}

/// The keys of `iam:GetAccountSummary` that the decision reads; `None` where IAM left one out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// `AccountMFAEnabled`.
    pub mfa_enabled: Option<i32>,
    /// `AccountAccessKeysPresent`.
    pub access_keys_present: Option<i32>,
    /// `AccountSigningCertificatesPresent`.
    pub signing_certificates_present: Option<i32>,
    /// `AccountPasswordPresent` (only on current IAM).
    pub password_present: Option<i32>,
}

impl Summary {
    /// Whether the virtual MFA devices must be listed to decide (only when MFA is enabled).
    pub fn needs_device_listing(&self) -> bool {
        self.mfa_enabled == Some(1)
    }
}

/// One assigned virtual MFA device, as `iam:ListVirtualMFADevices` reports it. Only its owner
/// matters: its name (serial number) says nothing about who it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualDevice {
    /// The ARN of the user the device is assigned to.
    pub user_arn: Option<String>,
}

/// Where an account stands against the control: the one answer that `check`, its JSON and the
/// landing page give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Root has MFA and none of it is virtual.
    Compliant,
    /// Root credentials exist and root MFA is missing or virtual.
    NonCompliant,
    /// There are no root credentials (centralized root access) or no root user (GovCloud).
    NotApplicable,
    /// The last check failed, so where the account stands now is not known.
    Error,
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

/// The observed root-user posture of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posture {
    /// The root user has at least one MFA device.
    pub mfa_enabled: bool,
    /// MFA is enabled and no virtual device is assigned to root.
    pub hardware: bool,
    /// How many virtual MFA devices are assigned to root.
    pub virtual_devices: u32,
    /// The root user has access keys (or IAM did not say it has none).
    pub access_keys_present: bool,
    /// The root user has a password, access keys or signing certificates, or IAM did not say.
    pub credentials_present: bool,
}

impl Posture {
    /// The posture of an account with no root user at all.
    pub const NO_ROOT_USER: Posture = Posture {
        mfa_enabled: false,
        hardware: false,
        virtual_devices: 0,
        access_keys_present: false,
        credentials_present: false,
    };

    /// Where an account with this observed posture stands (never [`Status::Error`]).
    pub fn status(&self) -> Status {
        if !self.credentials_present {
            Status::NotApplicable
        } else if self.hardware {
            Status::Compliant
        } else {
            Status::NonCompliant
        }
    }
}

/// Why the answers were not enough to decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Undecidable {
    /// `GetAccountSummary` did not report `AccountMFAEnabled`.
    #[error("GetAccountSummary did not report AccountMFAEnabled")]
    MissingMfaEnabled,
    /// MFA is enabled but the virtual devices were not listed in full.
    #[error("MFA is enabled but the virtual MFA devices were not listed")]
    DevicesNotListed,
}

/// Decides the root posture from the answers of STS and IAM.
///
/// `devices` is every assigned virtual MFA device of the account, from all pages, or `None`
/// when they were not listed (which is only allowed when MFA is disabled). A key missing from
/// the summary counts as present: unknown is not "absent".
pub fn decide(
    identity: &Identity,
    summary: &Summary,
    devices: Option<&[VirtualDevice]>,
) -> Result<Posture, Undecidable> {
    if !identity.has_root_user() {
        return Ok(Posture::NO_ROOT_USER);
    }
    let mfa_enabled = match summary.mfa_enabled {
        Some(flag) => flag == 1,
        None => return Err(Undecidable::MissingMfaEnabled),
    };
    let virtual_devices = if mfa_enabled {
        let devices = devices.ok_or(Undecidable::DevicesNotListed)?;
        let root_arn = identity.root_arn();
        let count = devices
            .iter()
            .filter(|device| device.user_arn.as_deref() == Some(root_arn.as_str()))
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    } else {
        0
    };
    let present = |flag: Option<i32>| flag != Some(0);
    let access_keys_present = present(summary.access_keys_present);
    let credentials_present = access_keys_present
        || present(summary.password_present)
        || present(summary.signing_certificates_present);
    Ok(Posture {
        mfa_enabled,
        hardware: mfa_enabled && virtual_devices == 0,
        virtual_devices,
        access_keys_present,
        credentials_present,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "123456789012";

    fn identity(partition: &str) -> Identity {
        Identity {
            account_id: ACCOUNT.into(),
            partition: partition.into(),
        }
    }

    fn summary(
        mfa: Option<i32>,
        keys: Option<i32>,
        certs: Option<i32>,
        pw: Option<i32>,
    ) -> Summary {
        Summary {
            mfa_enabled: mfa,
            access_keys_present: keys,
            signing_certificates_present: certs,
            password_present: pw,
        }
    }

    /// A summary with MFA on or off, root password present, no keys, no certificates.
    fn usual(mfa: i32) -> Summary {
        summary(Some(mfa), Some(0), Some(0), Some(1))
    }

    /// A device of `user_arn`; its name is only there for the reader, as the decision ignores
    /// device names.
    fn device(_name: &str, user_arn: Option<&str>) -> VirtualDevice {
        VirtualDevice {
            user_arn: user_arn.map(str::to_owned),
        }
    }

    fn root_device(partition: &str, _name: &str) -> VirtualDevice {
        VirtualDevice {
            user_arn: Some(format!("arn:{partition}:iam::{ACCOUNT}:root")),
        }
    }

    fn user_device(i: usize) -> VirtualDevice {
        device(
            &format!("user-{i}"),
            Some(&format!("arn:aws:iam::{ACCOUNT}:user/user-{i}")),
        )
    }

    struct Case {
        name: &'static str,
        partition: &'static str,
        summary: Summary,
        devices: Option<Vec<VirtualDevice>>,
        want: Result<(bool, bool, u32, bool, bool), Undecidable>,
        compliance: Option<Status>,
    }

    #[test]
    fn decision_table() {
        use Status::*;
        let many_users_then_root: Vec<VirtualDevice> = (0..250)
            .map(user_device)
            .chain([root_device("aws", "my-yubikey-backup-phone")])
            .collect();
        let cases = vec![
            Case {
                name: "MFA disabled",
                partition: "aws",
                summary: usual(0),
                devices: None,
                want: Ok((false, false, 0, false, true)),
                compliance: Some(NonCompliant),
            },
            Case {
                name: "hardware MFA: enabled and no virtual device at all",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![]),
                want: Ok((true, true, 0, false, true)),
                compliance: Some(Compliant),
            },
            Case {
                name: "legacy root-account-mfa-device assigned to root",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![root_device("aws", "root-account-mfa-device")]),
                want: Ok((true, false, 1, false, true)),
                compliance: Some(NonCompliant),
            },
            Case {
                name: "root device with any name is found by its user ARN",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![root_device("aws", "phone")]),
                want: Ok((true, false, 1, false, true)),
                compliance: Some(NonCompliant),
            },
            Case {
                name: "root device on the last page behind 250 user devices",
                partition: "aws",
                summary: usual(1),
                devices: Some(many_users_then_root),
                want: Ok((true, false, 1, false, true)),
                compliance: Some(NonCompliant),
            },
            Case {
                name: "decoy user rootadmin owns a device named root-account-mfa-device",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![device(
                    "root-account-mfa-device",
                    Some(&format!("arn:aws:iam::{ACCOUNT}:user/rootadmin")),
                )]),
                want: Ok((true, true, 0, false, true)),
                compliance: Some(Compliant),
            },
            Case {
                name: "a user path ending in root is not the root user",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![device(
                    "x",
                    Some(&format!("arn:aws:iam::{ACCOUNT}:user/root")),
                )]),
                want: Ok((true, true, 0, false, true)),
                compliance: Some(Compliant),
            },
            Case {
                name: "another account's root is not this root",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![device("x", Some("arn:aws:iam::999999999999:root"))]),
                want: Ok((true, true, 0, false, true)),
                compliance: Some(Compliant),
            },
            Case {
                name: "devices with no user (unassigned) are not root's",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![device("spare", None), device("spare2", None)]),
                want: Ok((true, true, 0, false, true)),
                compliance: Some(Compliant),
            },
            Case {
                name: "both a virtual and a hardware device: non-compliant",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![root_device("aws", "phone"), user_device(1)]),
                want: Ok((true, false, 1, false, true)),
                compliance: Some(NonCompliant),
            },
            Case {
                name: "two virtual devices on root are counted",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![root_device("aws", "a"), root_device("aws", "b")]),
                want: Ok((true, false, 2, false, true)),
                compliance: Some(NonCompliant),
            },
            Case {
                name: "no root credentials at all: not applicable",
                partition: "aws",
                summary: summary(Some(0), Some(0), Some(0), Some(0)),
                devices: None,
                want: Ok((false, false, 0, false, false)),
                compliance: Some(NotApplicable),
            },
            Case {
                name: "access keys but no password: credentials present",
                partition: "aws",
                summary: summary(Some(0), Some(1), Some(0), Some(0)),
                devices: None,
                want: Ok((false, false, 0, true, true)),
                compliance: Some(NonCompliant),
            },
            Case {
                name: "signing certificate only: credentials present",
                partition: "aws",
                summary: summary(Some(0), Some(0), Some(1), Some(0)),
                devices: None,
                want: Ok((false, false, 0, false, true)),
                compliance: Some(NonCompliant),
            },
            Case {
                name: "password key missing (older IAM): unknown counts as present",
                partition: "aws",
                summary: summary(Some(0), Some(0), Some(0), None),
                devices: None,
                want: Ok((false, false, 0, false, true)),
                compliance: Some(NonCompliant),
            },
            Case {
                name: "access keys key missing: unknown counts as present",
                partition: "aws",
                summary: summary(Some(1), None, Some(0), Some(0)),
                devices: Some(vec![]),
                want: Ok((true, true, 0, true, true)),
                compliance: Some(Compliant),
            },
            Case {
                name: "certificates key missing: unknown counts as present",
                partition: "aws",
                summary: summary(Some(0), Some(0), None, Some(0)),
                devices: None,
                want: Ok((false, false, 0, false, true)),
                compliance: Some(NonCompliant),
            },
            Case {
                name: "AccountMFAEnabled missing: cannot decide",
                partition: "aws",
                summary: summary(None, Some(0), Some(0), Some(1)),
                devices: Some(vec![]),
                want: Err(Undecidable::MissingMfaEnabled),
                compliance: None,
            },
            Case {
                name: "MFA enabled but devices not listed: cannot decide",
                partition: "aws",
                summary: usual(1),
                devices: None,
                want: Err(Undecidable::DevicesNotListed),
                compliance: None,
            },
            Case {
                name: "China partition root device",
                partition: "aws-cn",
                summary: usual(1),
                devices: Some(vec![root_device("aws-cn", "root-account-mfa-device")]),
                want: Ok((true, false, 1, false, true)),
                compliance: Some(NonCompliant),
            },
            Case {
                name: "China partition: an aws-partition root ARN does not match",
                partition: "aws-cn",
                summary: usual(1),
                devices: Some(vec![root_device("aws", "root-account-mfa-device")]),
                want: Ok((true, true, 0, false, true)),
                compliance: Some(Compliant),
            },
            Case {
                name: "China partition hardware",
                partition: "aws-cn",
                summary: usual(1),
                devices: Some(vec![]),
                want: Ok((true, true, 0, false, true)),
                compliance: Some(Compliant),
            },
            Case {
                name: "GovCloud has no root user: not applicable whatever IAM says",
                partition: "aws-us-gov",
                summary: Summary::default(),
                devices: None,
                want: Ok((false, false, 0, false, false)),
                compliance: Some(NotApplicable),
            },
        ];

        for case in cases {
            let id = identity(case.partition);
            let got = decide(&id, &case.summary, case.devices.as_deref());
            let got_tuple = got.clone().map(|p| {
                (
                    p.mfa_enabled,
                    p.hardware,
                    p.virtual_devices,
                    p.access_keys_present,
                    p.credentials_present,
                )
            });
            assert_eq!(got_tuple, case.want.clone(), "{}", case.name);
            assert_eq!(
                got.ok().map(|p| p.status()),
                case.compliance,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn identity_from_caller_arn() {
        let cases = [
            ("arn:aws:sts::123456789012:assumed-role/r/s", Some("aws")),
            ("arn:aws-cn:iam::123456789012:user/u", Some("aws-cn")),
            (
                "arn:aws-us-gov:sts::123456789012:user/u",
                Some("aws-us-gov"),
            ),
            ("not-an-arn", None),
            ("arn::sts::123456789012:user/u", None),
            ("", None),
        ];
        for (arn, partition) in cases {
            let got = Identity::from_caller(ACCOUNT, arn);
            assert_eq!(
                got.as_ref().map(|i| i.partition.as_str()),
                partition,
                "{arn}"
            );
        }
        assert_eq!(Identity::from_caller("", "arn:aws:sts::1:user/u"), None);
    }

    #[test]
    fn root_arn_is_exact() {
        assert_eq!(identity("aws").root_arn(), "arn:aws:iam::123456789012:root");
        assert_eq!(
            identity("aws-cn").root_arn(),
            "arn:aws-cn:iam::123456789012:root"
        );
    }

    #[test]
    fn devices_are_listed_only_when_mfa_is_enabled() {
        assert!(usual(1).needs_device_listing());
        assert!(!usual(0).needs_device_listing());
        assert!(!Summary::default().needs_device_listing());
    }
}
