//! The check of one account: the STS and IAM calls the decision needs, every page of them,
//! and the decision itself from [`crate::posture`].

use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_iam::types::SummaryKeyType;

use super::clients::ClientFactory;
use super::errors::sdk_error;
use super::paging::Pages;
use super::role::{self, RoleCredentials, SharedRoleCredentials};
use crate::error::Error;
use crate::posture::{self, Identity, Posture, Summary, VirtualDevice};

/// Page size for `ListVirtualMFADevices`: the API's maximum, so that an account with thousands
/// of IAM users costs as few calls as possible.
const MFA_PAGE_SIZE: i32 = 1000;
/// The most `ListVirtualMFADevices` pages followed: 100,000 devices, far more than IAM's quota
/// of users allows. A listing still going past it is not trusted to end.
const MFA_PAGE_CAP: usize = 100;

/// What one check found: the identity once STS has answered, and the posture or why not.
#[derive(Debug)]
pub struct Outcome {
    /// The account and partition the credentials belong to, if STS answered.
    pub identity: Option<Identity>,
    /// The root user's posture, or why it could not be observed.
    pub result: Result<Posture, Error>,
}

/// The STS and IAM clients that check one account.
#[derive(Debug, Clone)]
pub struct AccountClients {
    sts: aws_sdk_sts::Client,
    iam: aws_sdk_iam::Client,
    role: Option<Arc<RoleCredentials>>,
    /// Where the calls go, named in network errors (shared by every account's clients).
    endpoint: Arc<str>,
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
        }
    }

    /// The same clients, checking through `role`: its credentials are assumed before each
    /// check and dropped when AWS rejects the session (tests pair mocked clients with a role).
    pub fn with_role(mut self, role: Arc<RoleCredentials>) -> AccountClients {
        self.role = Some(role);
        self
    }

    /// Wraps clients that were built elsewhere (tests build them with mocked responses).
    pub fn from_clients(sts: aws_sdk_sts::Client, iam: aws_sdk_iam::Client) -> AccountClients {
        AccountClients {
            sts,
            iam,
            role: None,
            endpoint: Arc::from("the clients' own endpoint"),
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
                    };
                }
            },
        };
        let result = self.posture(&identity).await;
        if let (Some(role), Err(err)) = (&self.role, &result)
            && role::SESSION_REJECTED.contains(&err.code())
        {
            // The session was revoked or expired early: assume the role afresh next time
            // instead of failing with the cached credentials until they expire.
            role.forget().await;
        }
        Outcome {
            identity: Some(identity),
            result,
        }
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
