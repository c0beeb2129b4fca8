//! The compliance decision: a pure function of the AWS answers, free of I/O.
//!
//! Three AWS Security Hub controls about the root user get a verdict each:
//! - IAM.6 (CIS AWS Foundations 1.6, AWS Config `root-account-hardware-mfa-enabled`): the root
//!   user has MFA, and no *virtual* MFA device is assigned to it. FIDO keys, passkeys and
//!   hardware TOTP tokens never appear in the virtual device list, so this is the most a
//!   non-root caller can know.
//! - IAM.9 (CIS 1.5, `root-account-mfa-enabled`): the root user has MFA of any kind.
//! - IAM.4 (CIS 1.4, `iam-root-access-key-check`): the root user has no access keys.
//!
//! Through centralized root access (`sts:AssumeRoot`) the exporter sees root's own devices, so
//! the posture there comes from an exact [`Inventory`] ([`decide_exact`]) instead of being
//! inferred from the virtual device list ([`decide`]). IAM.6 keeps its strict meaning in both.

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

/// The kind of an MFA device, told by its serial number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaKind {
    /// A virtual (authenticator app) device: an ARN with `:mfa/`.
    Virtual,
    /// A FIDO security key or passkey: an ARN with `:u2f/`.
    Fido,
    /// A hardware TOTP token: a serial that is not an ARN.
    HardwareTotp,
}

impl MfaKind {
    /// Every kind, in the order the `type` label values are exported.
    pub const ALL: [MfaKind; 3] = [MfaKind::Virtual, MfaKind::Fido, MfaKind::HardwareTotp];

    /// The value of the `type` label and of JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            MfaKind::Virtual => "virtual",
            MfaKind::Fido => "fido",
            MfaKind::HardwareTotp => "hardware_totp",
        }
    }

    /// The kind of the device with this `SerialNumber`, as `iam:ListMFADevices` reports it.
    ///
    /// IAM names virtual and FIDO devices by ARN (`arn:aws:iam::ACCOUNT:mfa/NAME`,
    /// `arn:aws:iam::ACCOUNT:u2f/…`) and hardware TOTP tokens by the serial printed on them
    /// (`GAHT12345678`). An ARN of any other resource type is not a device IAM knows of, and
    /// an empty serial (the SDK fills a missing one with "") says nothing: both are read as
    /// virtual, the kind that fails IAM.6, so that an unknown never passes the control.
    pub fn from_serial(serial: &str) -> MfaKind {
        if serial.is_empty() {
            return MfaKind::Virtual;
        }
        if !serial.starts_with("arn:") {
            return MfaKind::HardwareTotp;
        }
        // arn:PARTITION:iam::ACCOUNT:RESOURCE; the resource is everything after the fifth colon.
        let resource = serial.splitn(6, ':').nth(5).unwrap_or("");
        if resource.starts_with("u2f/") {
            MfaKind::Fido
        } else {
            MfaKind::Virtual
        }
    }
}

/// Root's own MFA devices by kind, as a root session lists them (every page): exact, where
/// the virtual device list only allows an inference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// Virtual (authenticator app) devices.
    #[serde(rename = "virtual")]
    pub virtual_: u32,
    /// FIDO security keys and passkeys.
    pub fido: u32,
    /// Hardware TOTP tokens.
    pub hardware_totp: u32,
}

impl Inventory {
    /// The inventory of the devices with these serial numbers.
    pub fn of<'a>(serials: impl IntoIterator<Item = &'a str>) -> Inventory {
        let mut inventory = Inventory::default();
        for serial in serials {
            let count = match MfaKind::from_serial(serial) {
                MfaKind::Virtual => &mut inventory.virtual_,
                MfaKind::Fido => &mut inventory.fido,
                MfaKind::HardwareTotp => &mut inventory.hardware_totp,
            };
            *count = count.saturating_add(1);
        }
        inventory
    }

    /// How many devices of `kind`.
    pub fn count(&self, kind: MfaKind) -> u32 {
        match kind {
            MfaKind::Virtual => self.virtual_,
            MfaKind::Fido => self.fido,
            MfaKind::HardwareTotp => self.hardware_totp,
        }
    }

    /// How many devices in all.
    pub fn total(&self) -> u32 {
        MfaKind::ALL.iter().map(|k| self.count(*k)).sum()
    }

    /// A short description for people: `virtual 1, fido 1`, or `none`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = MfaKind::ALL
            .iter()
            .filter(|k| self.count(**k) > 0)
            .map(|k| format!("{} {}", k.as_str(), self.count(*k)))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

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

/// The observed root-user posture of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posture {
    /// The account has a root user (GovCloud accounts have none).
    pub root_user: bool,
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
    /// Root's own devices by kind, where they were listed exactly (through a root session).
    pub inventory: Option<Inventory>,
}

impl Posture {
    /// The posture of an account with no root user at all.
    pub const NO_ROOT_USER: Posture = Posture {
        root_user: false,
        mfa_enabled: false,
        hardware: false,
        virtual_devices: 0,
        access_keys_present: false,
        credentials_present: false,
        inventory: None,
    };

    /// The verdict of `control` for this posture.
    ///
    /// The MFA controls do not apply where root has no credentials (nobody can sign in as
    /// root, so MFA protects nothing: AWS Config answers NOT_APPLICABLE too); IAM.4 applies to
    /// every root user, and passes where there are no keys.
    pub fn verdict(&self, control: Control) -> Verdict {
        let passed_if = |ok: bool| if ok { Verdict::Passed } else { Verdict::Failed };
        match control {
            _ if !self.root_user => Verdict::NotApplicable,
            Control::Iam4 => passed_if(!self.access_keys_present),
            _ if !self.credentials_present => Verdict::NotApplicable,
            Control::Iam6 => passed_if(self.hardware),
            Control::Iam9 => passed_if(self.mfa_enabled),
        }
    }

    /// Where an account with this observed posture stands against `controls` (never
    /// [`Status::Error`]): non-compliant if any failed; not applicable where root has no
    /// credentials or none of them applies; compliant otherwise.
    pub fn status(&self, controls: &[Control]) -> Status {
        let verdicts = || controls.iter().map(|c| self.verdict(*c));
        if verdicts().any(|v| v == Verdict::Failed) {
            Status::NonCompliant
        } else if !self.credentials_present || verdicts().all(|v| v == Verdict::NotApplicable) {
            Status::NotApplicable
        } else {
            Status::Compliant
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
    /// IAM says root has MFA, but root's own listing holds no device: one of them is wrong,
    /// and an empty listing must not be read as "no virtual device".
    #[error("AccountMFAEnabled is 1 but ListMFADevices listed no device of root")]
    InventoryDisagrees,
}

impl Undecidable {
    /// The API operation whose answer was missing, so that the error names the right call.
    pub fn operation(&self) -> &'static str {
        match self {
            Undecidable::MissingMfaEnabled => "GetAccountSummary",
            Undecidable::DevicesNotListed => "ListVirtualMFADevices",
            Undecidable::InventoryDisagrees => "ListMFADevices",
        }
    }
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
    let (access_keys_present, credentials_present) = credentials(summary);
    Ok(Posture {
        root_user: true,
        mfa_enabled,
        hardware: mfa_enabled && virtual_devices == 0,
        virtual_devices,
        access_keys_present,
        credentials_present,
        inventory: None,
    })
}

/// Decides the root posture from a root session's exact answers: the summary and root's own
/// devices, from every page of `iam:ListMFADevices`.
///
/// IAM.6 keeps the control's strict meaning: hardware only when root has MFA and no virtual
/// device at all, so a virtual device beside a FIDO key still fails it. The summary's
/// `AccountMFAEnabled` is not needed (the inventory says more), but a summary that claims MFA
/// beside an empty inventory is a contradiction, not a pass or a fail.
pub fn decide_exact(
    identity: &Identity,
    summary: &Summary,
    inventory: Inventory,
) -> Result<Posture, Undecidable> {
    if !identity.has_root_user() {
        return Ok(Posture::NO_ROOT_USER);
    }
    if summary.mfa_enabled == Some(1) && inventory.total() == 0 {
        return Err(Undecidable::InventoryDisagrees);
    }
    let mfa_enabled = inventory.total() > 0;
    let (access_keys_present, credentials_present) = credentials(summary);
    Ok(Posture {
        root_user: true,
        mfa_enabled,
        hardware: mfa_enabled && inventory.virtual_ == 0,
        virtual_devices: inventory.virtual_,
        access_keys_present,
        credentials_present,
        inventory: Some(inventory),
    })
}

/// Whether root has access keys, and any credential at all; a key missing from the summary
/// counts as present, since unknown is not "absent".
fn credentials(summary: &Summary) -> (bool, bool) {
    let present = |flag: Option<i32>| flag != Some(0);
    let access_keys_present = present(summary.access_keys_present);
    let credentials_present = access_keys_present
        || present(summary.password_present)
        || present(summary.signing_certificates_present);
    (access_keys_present, credentials_present)
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
        /// IAM.4, IAM.6 and IAM.9, then the status over all three.
        verdicts: Option<([Verdict; 3], Status)>,
    }

    #[test]
    fn decision_table() {
        use Status::*;
        use Verdict::{Failed, NotApplicable as Na, Passed};
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
                verdicts: Some(([Passed, Failed, Failed], NonCompliant)),
            },
            Case {
                name: "hardware MFA: enabled and no virtual device at all",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![]),
                want: Ok((true, true, 0, false, true)),
                verdicts: Some(([Passed, Passed, Passed], Compliant)),
            },
            Case {
                name: "legacy root-account-mfa-device assigned to root",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![root_device("aws", "root-account-mfa-device")]),
                want: Ok((true, false, 1, false, true)),
                verdicts: Some(([Passed, Failed, Passed], NonCompliant)),
            },
            Case {
                name: "root device with any name is found by its user ARN",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![root_device("aws", "phone")]),
                want: Ok((true, false, 1, false, true)),
                verdicts: Some(([Passed, Failed, Passed], NonCompliant)),
            },
            Case {
                name: "root device on the last page behind 250 user devices",
                partition: "aws",
                summary: usual(1),
                devices: Some(many_users_then_root),
                want: Ok((true, false, 1, false, true)),
                verdicts: Some(([Passed, Failed, Passed], NonCompliant)),
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
                verdicts: Some(([Passed, Passed, Passed], Compliant)),
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
                verdicts: Some(([Passed, Passed, Passed], Compliant)),
            },
            Case {
                name: "another account's root is not this root",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![device("x", Some("arn:aws:iam::999999999999:root"))]),
                want: Ok((true, true, 0, false, true)),
                verdicts: Some(([Passed, Passed, Passed], Compliant)),
            },
            Case {
                name: "devices with no user (unassigned) are not root's",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![device("spare", None), device("spare2", None)]),
                want: Ok((true, true, 0, false, true)),
                verdicts: Some(([Passed, Passed, Passed], Compliant)),
            },
            Case {
                name: "both a virtual and a hardware device: non-compliant",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![root_device("aws", "phone"), user_device(1)]),
                want: Ok((true, false, 1, false, true)),
                verdicts: Some(([Passed, Failed, Passed], NonCompliant)),
            },
            Case {
                name: "two virtual devices on root are counted",
                partition: "aws",
                summary: usual(1),
                devices: Some(vec![root_device("aws", "a"), root_device("aws", "b")]),
                want: Ok((true, false, 2, false, true)),
                verdicts: Some(([Passed, Failed, Passed], NonCompliant)),
            },
            Case {
                name: "no root credentials at all: not applicable",
                partition: "aws",
                summary: summary(Some(0), Some(0), Some(0), Some(0)),
                devices: None,
                want: Ok((false, false, 0, false, false)),
                verdicts: Some(([Passed, Na, Na], NotApplicable)),
            },
            Case {
                name: "access keys but no password: credentials present",
                partition: "aws",
                summary: summary(Some(0), Some(1), Some(0), Some(0)),
                devices: None,
                want: Ok((false, false, 0, true, true)),
                verdicts: Some(([Failed, Failed, Failed], NonCompliant)),
            },
            Case {
                name: "signing certificate only: credentials present",
                partition: "aws",
                summary: summary(Some(0), Some(0), Some(1), Some(0)),
                devices: None,
                want: Ok((false, false, 0, false, true)),
                verdicts: Some(([Passed, Failed, Failed], NonCompliant)),
            },
            Case {
                name: "password key missing (older IAM): unknown counts as present",
                partition: "aws",
                summary: summary(Some(0), Some(0), Some(0), None),
                devices: None,
                want: Ok((false, false, 0, false, true)),
                verdicts: Some(([Passed, Failed, Failed], NonCompliant)),
            },
            Case {
                name: "access keys key missing: unknown counts as present",
                partition: "aws",
                summary: summary(Some(1), None, Some(0), Some(0)),
                devices: Some(vec![]),
                want: Ok((true, true, 0, true, true)),
                verdicts: Some(([Failed, Passed, Passed], NonCompliant)),
            },
            Case {
                name: "certificates key missing: unknown counts as present",
                partition: "aws",
                summary: summary(Some(0), Some(0), None, Some(0)),
                devices: None,
                want: Ok((false, false, 0, false, true)),
                verdicts: Some(([Passed, Failed, Failed], NonCompliant)),
            },
            Case {
                name: "AccountMFAEnabled missing: cannot decide",
                partition: "aws",
                summary: summary(None, Some(0), Some(0), Some(1)),
                devices: Some(vec![]),
                want: Err(Undecidable::MissingMfaEnabled),
                verdicts: None,
            },
            Case {
                name: "MFA enabled but devices not listed: cannot decide",
                partition: "aws",
                summary: usual(1),
                devices: None,
                want: Err(Undecidable::DevicesNotListed),
                verdicts: None,
            },
            Case {
                name: "China partition root device",
                partition: "aws-cn",
                summary: usual(1),
                devices: Some(vec![root_device("aws-cn", "root-account-mfa-device")]),
                want: Ok((true, false, 1, false, true)),
                verdicts: Some(([Passed, Failed, Passed], NonCompliant)),
            },
            Case {
                name: "China partition: an aws-partition root ARN does not match",
                partition: "aws-cn",
                summary: usual(1),
                devices: Some(vec![root_device("aws", "root-account-mfa-device")]),
                want: Ok((true, true, 0, false, true)),
                verdicts: Some(([Passed, Passed, Passed], Compliant)),
            },
            Case {
                name: "China partition hardware",
                partition: "aws-cn",
                summary: usual(1),
                devices: Some(vec![]),
                want: Ok((true, true, 0, false, true)),
                verdicts: Some(([Passed, Passed, Passed], Compliant)),
            },
            Case {
                name: "GovCloud has no root user: not applicable whatever IAM says",
                partition: "aws-us-gov",
                summary: Summary::default(),
                devices: None,
                want: Ok((false, false, 0, false, false)),
                verdicts: Some(([Na, Na, Na], NotApplicable)),
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
            let verdicts = got
                .ok()
                .map(|p| (Control::ALL.map(|c| p.verdict(c)), p.status(&Control::ALL)));
            assert_eq!(verdicts, case.verdicts, "{}", case.name);
        }
    }

    #[test]
    fn status_follows_the_selected_controls() {
        let hardware_and_keys = Posture {
            root_user: true,
            mfa_enabled: true,
            hardware: true,
            virtual_devices: 0,
            access_keys_present: true,
            credentials_present: true,
            inventory: None,
        };
        let cases = [
            (hardware_and_keys, &Control::ALL[..], Status::NonCompliant),
            (
                hardware_and_keys,
                &[Control::Iam6, Control::Iam9][..],
                Status::Compliant,
            ),
            (
                hardware_and_keys,
                &[Control::Iam4][..],
                Status::NonCompliant,
            ),
            (
                Posture::NO_ROOT_USER,
                &[Control::Iam4][..],
                Status::NotApplicable,
            ),
            (
                Posture::NO_ROOT_USER,
                &Control::ALL[..],
                Status::NotApplicable,
            ),
        ];
        for (posture, controls, want) in cases {
            assert_eq!(posture.status(controls), want, "{controls:?}");
        }
    }

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

    #[test]
    fn device_kind_from_serial_number() {
        let cases = [
            (
                "arn:aws:iam::123456789012:mfa/root-account-mfa-device",
                MfaKind::Virtual,
            ),
            ("arn:aws:iam::123456789012:mfa/phone", MfaKind::Virtual),
            (
                "arn:aws-cn:iam::123456789012:mfa/path/phone",
                MfaKind::Virtual,
            ),
            (
                "arn:aws:iam::123456789012:u2f/root-account-mfa-device/YubiKeyABCD",
                MfaKind::Fido,
            ),
            (
                "arn:aws-us-gov:iam::123456789012:u2f/user/x/passkey",
                MfaKind::Fido,
            ),
            ("GAHT12345678", MfaKind::HardwareTotp),
            ("12345678", MfaKind::HardwareTotp),
            // A device name that merely contains "u2f" is still a virtual device.
            ("arn:aws:iam::123456789012:mfa/u2f-backup", MfaKind::Virtual),
            // Not a device ARN IAM knows: read as virtual, so that it never passes IAM.6.
            ("arn:aws:iam::123456789012:user/u2f", MfaKind::Virtual),
            ("arn:", MfaKind::Virtual),
            // Only the exact prefix makes an ARN.
            ("ARN:aws:iam::123456789012:u2f/x", MfaKind::HardwareTotp),
            // No serial at all says nothing: never a hardware token.
            ("", MfaKind::Virtual),
        ];
        for (serial, want) in cases {
            assert_eq!(MfaKind::from_serial(serial), want, "{serial}");
        }
    }

    fn virt(n: &str) -> String {
        format!("arn:aws:iam::{ACCOUNT}:mfa/{n}")
    }

    fn fido(n: &str) -> String {
        format!("arn:aws:iam::{ACCOUNT}:u2f/root-account-mfa-device/{n}")
    }

    /// The inventory (virtual, fido, hardware TOTP), the verdicts of IAM.4, IAM.6 and IAM.9,
    /// and the status; or why there is none.
    type Exact = Result<((u32, u32, u32), [Verdict; 3], Status), Undecidable>;

    #[test]
    fn exact_inventory_decision_table() {
        use Status::*;
        use Verdict::{Failed, NotApplicable as Na, Passed};
        let totp = |n: u32| format!("GAHT{n:08}");
        let cases: Vec<(&str, Vec<String>, Summary, Exact)> = vec![
            (
                "FIDO only",
                vec![fido("yubikey")],
                usual(1),
                Ok(((0, 1, 0), [Passed, Passed, Passed], Compliant)),
            ),
            (
                "hardware TOTP only",
                vec![totp(1)],
                usual(1),
                Ok(((0, 0, 1), [Passed, Passed, Passed], Compliant)),
            ),
            (
                "virtual only",
                vec![virt("phone")],
                usual(1),
                Ok(((1, 0, 0), [Passed, Failed, Passed], NonCompliant)),
            ),
            (
                "virtual and FIDO: IAM.6 strict, fails",
                vec![virt("phone"), fido("key")],
                usual(1),
                Ok(((1, 1, 0), [Passed, Failed, Passed], NonCompliant)),
            ),
            (
                "no device",
                vec![],
                usual(0),
                Ok(((0, 0, 0), [Passed, Failed, Failed], NonCompliant)),
            ),
            (
                "several of each",
                vec![
                    virt("a"),
                    virt("b"),
                    fido("c"),
                    fido("d"),
                    fido("e"),
                    totp(1),
                    totp(2),
                    totp(3),
                ],
                usual(1),
                Ok(((2, 3, 3), [Passed, Failed, Passed], NonCompliant)),
            ),
            (
                "two FIDO and a TOTP, no virtual",
                vec![fido("a"), fido("b"), totp(7)],
                usual(1),
                Ok(((0, 2, 1), [Passed, Passed, Passed], Compliant)),
            ),
            (
                "no device and no credentials: not applicable",
                vec![],
                summary(Some(0), Some(0), Some(0), Some(0)),
                Ok(((0, 0, 0), [Passed, Na, Na], NotApplicable)),
            ),
            (
                "AccountMFAEnabled missing: the inventory decides",
                vec![fido("k")],
                summary(None, Some(0), Some(0), Some(1)),
                Ok(((0, 1, 0), [Passed, Passed, Passed], Compliant)),
            ),
            (
                "summary says no MFA but root lists a device: the inventory decides",
                vec![virt("p")],
                usual(0),
                Ok(((1, 0, 0), [Passed, Failed, Passed], NonCompliant)),
            ),
            (
                "keys present with FIDO",
                vec![fido("k")],
                summary(Some(1), Some(1), Some(0), Some(1)),
                Ok(((0, 1, 0), [Failed, Passed, Passed], NonCompliant)),
            ),
            (
                "summary says MFA but the listing is empty: cannot decide",
                vec![],
                usual(1),
                Err(Undecidable::InventoryDisagrees),
            ),
        ];
        for (name, serials, summary, want) in cases {
            let inventory = Inventory::of(serials.iter().map(String::as_str));
            let got = decide_exact(&identity("aws"), &summary, inventory).map(|p| {
                let inv = p.inventory.expect("an exact posture carries its inventory");
                assert_eq!(p.virtual_devices, inv.virtual_, "{name}");
                (
                    (inv.virtual_, inv.fido, inv.hardware_totp),
                    Control::ALL.map(|c| p.verdict(c)),
                    p.status(&Control::ALL),
                )
            });
            assert_eq!(got, want, "{name}");
        }
        // GovCloud: no root user, whatever the inventory.
        let gov = decide_exact(&identity("aws-us-gov"), &usual(1), Inventory::default());
        assert_eq!(gov, Ok(Posture::NO_ROOT_USER));
    }

    #[test]
    fn inventory_counts_and_describes() {
        let serials = [virt("a"), fido("b"), fido("c")];
        let inv = Inventory::of(serials.iter().map(String::as_str));
        assert_eq!(inv.total(), 3);
        assert_eq!(MfaKind::ALL.map(|k| inv.count(k)), [1, 2, 0]);
        assert_eq!(inv.describe(), "virtual 1, fido 2");
        assert_eq!(Inventory::default().describe(), "none");
    }
}
