//! The check of one account: the STS and IAM calls the decision needs, every page of them,
//! and the decision itself from [`crate::posture`].
//!
//! Through a root session (centralized root access) the check reads root's own devices
//! (`ListMFADevices` without a user name) for an exact inventory, and root's last activity
//! (`GetUser`, and `ListAccessKeys` with `GetAccessKeyLastUsed` where keys exist).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_iam::types::SummaryKeyType;
use tokio::sync::Mutex;

use super::activity::{self, RootActivity};
use super::clients::ClientFactory;
use super::errors::sdk_error;
use super::paging::Pages;
use super::role::{self, RoleCredentials, SharedRoleCredentials};
use crate::error::Error;
use crate::posture::{self, Identity, Inventory, Posture, Summary, VirtualDevice};

/// Page size for `ListVirtualMFADevices`: the API's maximum, so that an account with thousands
/// of IAM users costs as few calls as possible.
const MFA_PAGE_SIZE: i32 = 1000;
/// The most `ListVirtualMFADevices` pages followed: 100,000 devices, far more than IAM's quota
/// of users allows. A listing still going past it is not trusted to end.
const MFA_PAGE_CAP: usize = 100;
/// A root user holds at most 8 MFA devices; the listing asks for pages of the API's maximum,
/// and follows at most this many (an answer that pages on past it is not trusted to end).
const ROOT_MFA_PAGE_CAP: usize = 10;

/// What one check found: the identity once STS has answered, and the posture or why not.
#[derive(Debug)]
pub struct Outcome {
    /// The account and partition the credentials belong to, if STS answered.
    pub identity: Option<Identity>,
    /// The root user's posture, or why it could not be observed.
    pub result: Result<Posture, Error>,
    /// Root's last activity, where this check reads it (root sessions); its failure never
    /// fails the posture.
    pub activity: Option<Result<RootActivity, Error>>,
}

/// When root's activity was last read from the account's credential report.
#[derive(Debug)]
pub struct ReportSchedule {
    every: Duration,
    last: Mutex<Option<Instant>>,
}

impl ReportSchedule {
    /// Reads the report no more often than `every`.
    pub fn new(every: Duration) -> ReportSchedule {
        ReportSchedule {
            every,
            last: Mutex::new(None),
        }
    }
}

/// The STS and IAM clients that check one account.
#[derive(Debug, Clone)]
pub struct AccountClients {
    sts: aws_sdk_sts::Client,
    iam: aws_sdk_iam::Client,
    role: Option<Arc<RoleCredentials>>,
    /// Where the calls go, named in network errors (shared by every account's clients).
    endpoint: Arc<str>,
    /// Whether the credentials are a root session, which sees root's own devices.
    root_session: bool,
    /// Where root's activity comes from the credential report (`--collector.root-activity`).
    report: Option<Arc<ReportSchedule>>,
}

impl AccountClients {
    /// Clients with the ambient credentials.
    pub fn new(factory: &ClientFactory) -> AccountClients {
        AccountClients::from_clients(factory.sts(None), factory.iam(None))
            .at_endpoint(factory.endpoint())
    }

    /// Clients for a member account, with credentials from assuming its role.
    pub fn assumed(factory: &ClientFactory, role: Arc<RoleCredentials>) -> AccountClients {
        let provider = SharedCredentialsProvider::new(SharedRoleCredentials(role.clone()));
        AccountClients {
            sts: factory.sts(Some(provider.clone())),
            iam: factory.iam(Some(provider)),
            role: Some(role),
            endpoint: factory.endpoint(),
            root_session: false,
            report: None,
        }
    }

    /// Clients for a member account through a root session (`sts:AssumeRoot` with the audit
    /// task policy). Only IAM is called with it: the audit policy allows nothing else, and
    /// the account is known from the Organization.
    pub fn root_session(factory: &ClientFactory, session: Arc<RoleCredentials>) -> AccountClients {
        let provider = SharedCredentialsProvider::new(SharedRoleCredentials(session.clone()));
        AccountClients {
            sts: factory.sts(None),
            iam: factory.iam(Some(provider)),
            role: Some(session),
            endpoint: factory.endpoint(),
            root_session: true,
            report: None,
        }
    }

    /// The same clients, reading root's own devices and activity as a root session does
    /// (tests pair mocked clients with it).
    pub fn as_root_session(mut self) -> AccountClients {
        self.root_session = true;
        self
    }

    /// The same clients, checking through `role`: its credentials are assumed before each
    /// check and dropped when AWS rejects the session (tests pair mocked clients with a role).
    pub fn with_role(mut self, role: Arc<RoleCredentials>) -> AccountClients {
        self.role = Some(role);
        self
    }

    /// The same clients, also reading root's last activity from the IAM credential report, no
    /// more often than `every` (a root session reads it exactly, and is left as it is).
    pub fn with_root_activity(mut self, every: Duration) -> AccountClients {
        if !self.root_session {
            self.report = Some(Arc::new(ReportSchedule::new(every)));
        }
        self
    }

    /// The same clients, reading root's activity from the credential report on `schedule`,
    /// which is kept across checks by whoever builds these clients for each one.
    pub fn with_report_schedule(mut self, schedule: Arc<ReportSchedule>) -> AccountClients {
        self.report = Some(schedule);
        self
    }

    /// Whether these clients read root's activity from the credential report.
    pub fn reads_credential_report(&self) -> bool {
        self.report.is_some()
    }

    /// Wraps clients that were built elsewhere (tests build them with mocked responses).
    pub fn from_clients(sts: aws_sdk_sts::Client, iam: aws_sdk_iam::Client) -> AccountClients {
        AccountClients {
            sts,
            iam,
            role: None,
            endpoint: Arc::from("the clients' own endpoint"),
            root_session: false,
            report: None,
        }
    }

    fn at_endpoint(mut self, endpoint: Arc<str>) -> AccountClients {
        self.endpoint = endpoint;
        self
    }

    /// Checks the root user of the account these clients' credentials belong to. When the
    /// account is `known` (from a role ARN or the Organization), STS is not asked again.
    pub async fn check(&self, known: Option<&Identity>) -> Outcome {
        let mut outcome = self.check_unnamed(known).await;
        outcome.result = outcome.result.map_err(|e| e.at_endpoint(&self.endpoint));
        outcome
    }

    async fn check_unnamed(&self, known: Option<&Identity>) -> Outcome {
        if let Some(role) = &self.role {
            // Assume the role first, so that a failure is reported as AssumeRole's, with its code.
            if let Err(err) = role.credentials().await {
                return Outcome {
                    identity: known.cloned(),
                    result: Err(err),
                    activity: None,
                };
            }
        }
        let identity = match known {
            Some(identity) => identity.clone(),
            None => match self.caller_identity().await {
                Ok(identity) => identity,
                Err(err) => {
                    return Outcome {
                        identity: None,
                        result: Err(err),
                        activity: None,
                    };
                }
            },
        };
        let (result, activity) = if self.root_session {
            match self.root_posture(&identity).await {
                Ok((posture, summary)) => {
                    let activity = self.root_activity(&summary).await;
                    (Ok(posture), Some(activity))
                }
                Err(err) => (Err(err), None),
            }
        } else {
            let result = self.posture(&identity).await;
            let activity = match (&result, &self.report) {
                (Ok(_), Some(schedule)) => self.report_activity(schedule).await,
                _ => None,
            };
            (result, activity)
        };
        let rejected =
            |r: Option<&Error>| r.is_some_and(|e| role::SESSION_REJECTED.contains(&e.code()));
        if let Some(role) = &self.role
            && (rejected(result.as_ref().err())
                || rejected(activity.as_ref().and_then(|a| a.as_ref().err())))
        {
            // The session was revoked or expired early: assume the role afresh next time
            // instead of failing with the cached credentials until they expire.
            role.forget().await;
        }
        Outcome {
            identity: Some(identity),
            result,
            activity,
        }
    }

    /// Root's activity from the credential report's `<root_account>` row, when the schedule
    /// says it is due; `None` when it is not due, or the report is still being generated
    /// (then it is asked again at the next poll). A report younger than four hours is reused by
    /// IAM itself, so asking more often than that would only cost calls.
    async fn report_activity(
        &self,
        schedule: &ReportSchedule,
    ) -> Option<Result<RootActivity, Error>> {
        let mut last = schedule.last.lock().await;
        if last.is_some_and(|t| t.elapsed() < schedule.every) {
            return None;
        }
        let generated = match self.iam.generate_credential_report().send().await {
            Ok(out) => out,
            Err(e) => {
                *last = Some(Instant::now());
                return Some(Err(sdk_error("iam", "GenerateCredentialReport", e)));
            }
        };
        if generated.state() != Some(&aws_sdk_iam::types::ReportStateType::Complete) {
            return None;
        }
        *last = Some(Instant::now());
        const OP: &str = "GetCredentialReport";
        let result = async {
            let out = self
                .iam
                .get_credential_report()
                .send()
                .await
                .map_err(|e| sdk_error("iam", OP, e))?;
            let content = out.content().ok_or_else(|| Error::Incomplete {
                operation: OP,
                what: "no Content".into(),
            })?;
            let csv = std::str::from_utf8(content.as_ref()).map_err(|_| Error::Incomplete {
                operation: OP,
                what: "a report that is not UTF-8".into(),
            })?;
            activity::from_credential_report(csv).map_err(|what| Error::Incomplete {
                operation: OP,
                what,
            })
        }
        .await;
        Some(result)
    }

    /// The posture from a root session's exact answers, and the summary it read.
    async fn root_posture(&self, identity: &Identity) -> Result<(Posture, Summary), Error> {
        if !identity.has_root_user() {
            return Ok((Posture::NO_ROOT_USER, Summary::default()));
        }
        let summary = self.account_summary().await?;
        let serials = self.root_mfa_serials().await?;
        let inventory = Inventory::of(serials.iter().map(String::as_str));
        let posture = posture::decide_exact(identity, &summary, inventory).map_err(|e| {
            Error::Incomplete {
                operation: e.operation(),
                what: e.to_string(),
            }
        })?;
        Ok((posture, summary))
    }

    /// The serial numbers of root's own MFA devices, from every page of `ListMFADevices`
    /// without a user name (which a root session answers for root). A device without a serial
    /// fails the listing: its kind cannot be told.
    async fn root_mfa_serials(&self) -> Result<Vec<String>, Error> {
        const OP: &str = "ListMFADevices";
        let mut serials = Vec::new();
        let mut pages = Pages::new(OP, ROOT_MFA_PAGE_CAP);
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .iam
                .list_mfa_devices()
                .max_items(MFA_PAGE_SIZE)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| sdk_error("iam", OP, e))?;
            for device in out.mfa_devices() {
                if device.serial_number().is_empty() {
                    return Err(Error::Incomplete {
                        operation: OP,
                        what: "a device without a SerialNumber".into(),
                    });
                }
                serials.push(device.serial_number().to_owned());
            }
            marker = pages.next(out.is_truncated(), out.marker())?;
            if marker.is_none() {
                return Ok(serials);
            }
        }
    }

    /// Root's last activity through a root session: `PasswordLastUsed` from `GetUser`, and the
    /// last use of each access key where the summary does not rule keys out.
    async fn root_activity(&self, summary: &Summary) -> Result<RootActivity, Error> {
        let user = self
            .iam
            .get_user()
            .send()
            .await
            .map_err(|e| sdk_error("iam", "GetUser", e))?;
        let mut activity = RootActivity {
            password_last_used: user
                .user()
                .and_then(|u| u.password_last_used())
                .map(|t| t.as_secs_f64()),
            ..RootActivity::default()
        };
        if summary.access_keys_present == Some(0) {
            return Ok(activity);
        }
        let keys = self
            .iam
            .list_access_keys()
            .send()
            .await
            .map_err(|e| sdk_error("iam", "ListAccessKeys", e))?;
        // Ordinals as the credential report numbers them: the older key is key 1.
        let mut metadata: Vec<_> = keys.access_key_metadata().iter().collect();
        metadata.sort_by(|a, b| {
            let at = |k: &aws_sdk_iam::types::AccessKeyMetadata| {
                k.create_date().map(|d| d.as_secs_f64())
            };
            at(a)
                .partial_cmp(&at(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        for (slot, key) in activity
            .access_keys_last_used
            .iter_mut()
            .zip(metadata.iter().filter_map(|k| k.access_key_id()))
        {
            let out = self
                .iam
                .get_access_key_last_used()
                .access_key_id(key)
                .send()
                .await
                .map_err(|e| sdk_error("iam", "GetAccessKeyLastUsed", e))?;
            // A key never used has no LastUsedDate.
            *slot = out
                .access_key_last_used()
                .and_then(|u| u.last_used_date())
                .map(|t| t.as_secs_f64());
        }
        Ok(activity)
    }

    async fn posture(&self, identity: &Identity) -> Result<Posture, Error> {
        if !identity.has_root_user() {
            return Ok(Posture::NO_ROOT_USER);
        }
        let summary = self.account_summary().await?;
        let devices = if summary.needs_device_listing() {
            Some(self.assigned_virtual_devices().await?)
        } else {
            None
        };
        posture::decide(identity, &summary, devices.as_deref()).map_err(|e| Error::Incomplete {
            operation: e.operation(),
            what: e.to_string(),
        })
    }

    /// The account and partition of these clients' credentials, from `sts:GetCallerIdentity`.
    pub async fn caller_identity(&self) -> Result<Identity, Error> {
        const OP: &str = "GetCallerIdentity";
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| sdk_error("sts", OP, e))?;
        let (Some(account), Some(arn)) = (out.account(), out.arn()) else {
            return Err(Error::Incomplete {
                operation: OP,
                what: "no Account or Arn".into(),
            });
        };
        Identity::from_caller(account, arn).ok_or_else(|| Error::Incomplete {
            operation: OP,
            what: format!("unparsable caller ARN {arn:?}"),
        })
    }

    async fn account_summary(&self) -> Result<Summary, Error> {
        const OP: &str = "GetAccountSummary";
        let out = self
            .iam
            .get_account_summary()
            .send()
            .await
            .map_err(|e| sdk_error("iam", OP, e))?;
        let map = out.summary_map().ok_or_else(|| Error::Incomplete {
            operation: OP,
            what: "no SummaryMap".into(),
        })?;
        let get = |key: SummaryKeyType| map.get(&key).copied();
        Ok(Summary {
            mfa_enabled: get(SummaryKeyType::AccountMfaEnabled),
            access_keys_present: get(SummaryKeyType::AccountAccessKeysPresent),
            signing_certificates_present: get(SummaryKeyType::AccountSigningCertificatesPresent),
            password_present: get(SummaryKeyType::AccountPasswordPresent),
        })
    }

    /// Every assigned virtual MFA device, from every page; any failure fails the whole listing,
    /// because a partial listing must never be read as "no virtual device".
    async fn assigned_virtual_devices(&self) -> Result<Vec<VirtualDevice>, Error> {
        const OP: &str = "ListVirtualMFADevices";
        let mut devices = Vec::new();
        let mut pages = Pages::new(OP, MFA_PAGE_CAP);
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .iam
                .list_virtual_mfa_devices()
                .assignment_status(aws_sdk_iam::types::AssignmentStatusType::Assigned)
                .max_items(MFA_PAGE_SIZE)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| sdk_error("iam", OP, e))?;
            devices.extend(out.virtual_mfa_devices().iter().map(|d| VirtualDevice {
                user_arn: d.user().map(|u| u.arn().to_owned()),
            }));
            marker = pages.next(out.is_truncated(), out.marker())?;
            if marker.is_none() {
                return Ok(devices);
            }
        }
    }
}
