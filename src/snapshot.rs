//! What one poll knows: the state of every watched account and its pre-encoded exposition.

use crate::aws::activity::RootActivity;
use crate::posture::{Control, Posture, Status};
use crate::web::compression::Precompressed;
use bytes::Bytes;

/// The last known state of one watched account.
#[derive(Debug, Clone, Default)]
pub struct AccountView {
    /// The account id; `None` until the credentials' account has been identified.
    pub account_id: Option<String>,
    /// The account's name where known (from AWS Organizations), else empty.
    pub account_name: String,
    /// The ARN partition, once identified.
    pub partition: Option<String>,
    /// The last observed posture; kept when a later check fails.
    pub posture: Option<Posture>,
    /// Whether the last check succeeded.
    pub last_check_ok: bool,
    /// Unix time of the last successful check.
    pub last_success_unix: Option<f64>,
    /// The bounded code of the last failure, if the last check failed.
    pub last_error_code: Option<&'static str>,
    /// The message of the last failure, if the last check failed.
    pub last_error: Option<String>,
    /// Root's last activity as last read; kept when a later read fails.
    pub activity: Option<RootActivity>,
    /// Whether the last read of root's activity succeeded; `None` where it is not read.
    pub activity_ok: Option<bool>,
    /// Unix time (`detail.eventTime`) of the newest CloudTrail event about this account's
    /// root that the exporter acted on (`--events.sqs-queue-url`).
    pub last_event_unix: Option<f64>,
}

impl AccountView {
    /// The account's status against `controls`: only a successful last check tells where it
    /// stands now.
    pub fn status(&self, controls: &[Control]) -> Status {
        match self.observed() {
            Some(posture) => posture.status(controls),
            None => Status::Error,
        }
    }

    /// The posture as the last check observed it; `None` when that check failed, since a
    /// posture kept from an earlier check says nothing about now.
    pub fn observed(&self) -> Option<Posture> {
        self.posture.filter(|_| self.last_check_ok)
    }
}

/// What `iam:ListOrganizationsFeatures` says about centralized root access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgFeatures {
    /// The Organization's id (`o-…`).
    pub organization_id: String,
    /// `RootCredentialsManagement`: member root credentials may be audited and deleted
    /// centrally (what `sts:AssumeRoot` with the audit policy needs).
    pub root_credentials_management: bool,
    /// `RootSessions`: task-scoped root sessions for privileged actions.
    pub root_sessions: bool,
}

/// One poll's result, swapped in whole; the HTTP handlers only ever read it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The accounts, in a stable order.
    pub accounts: Vec<AccountView>,
    /// The Prometheus text exposition of the accounts' series (the exporter's own metrics are
    /// encoded per scrape).
    pub exposition: Bytes,
    /// The exposition deflated once, for gzip responses.
    pub compressed: Precompressed,
    /// How many polls have completed; 0 until the first one has.
    pub completed_polls: u64,
    /// Whether the accounts to watch have been discovered at least once (from the start in
    /// the modes that list them on the command line).
    pub discovered: bool,
    /// The Organization's centralized root access features (Organization modes, where the
    /// caller may read them).
    pub features: Option<OrgFeatures>,
}

impl Snapshot {
    /// Whether the exporter has something true to say: the accounts were discovered and
    /// polled once. Until then `/readyz` answers 503, so that a blind exporter is not "ready".
    pub fn ready(&self) -> bool {
        self.discovered && self.completed_polls > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(ok: bool, posture: Option<Posture>) -> AccountView {
        AccountView {
            last_check_ok: ok,
            posture,
            ..AccountView::default()
        }
    }

    #[test]
    fn status_needs_a_successful_last_check() {
        let hardware = Posture {
            root_user: true,
            mfa_enabled: true,
            hardware: true,
            virtual_devices: 0,
            access_keys_present: false,
            credentials_present: true,
            inventory: None,
        };
        let virt = Posture {
            hardware: false,
            virtual_devices: 1,
            ..hardware
        };
        let cases = [
            (view(true, Some(hardware)), Status::Compliant),
            (view(true, Some(virt)), Status::NonCompliant),
            (
                view(true, Some(Posture::NO_ROOT_USER)),
                Status::NotApplicable,
            ),
            (view(false, Some(hardware)), Status::Error),
            (view(false, None), Status::Error),
            (view(true, None), Status::Error),
        ];
        for (v, want) in cases {
            assert_eq!(v.status(&Control::ALL), want, "{v:?}");
        }
    }
}
