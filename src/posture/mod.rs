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

mod controls;
mod inventory;

pub use controls::{Control, Status, Verdict};
pub use inventory::{Inventory, MfaKind};

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
mod tests;
