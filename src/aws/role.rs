//! Credentials for a member account: `sts:AssumeRole` into its read-only role, or
//! `sts:AssumeRoot` with the audit task policy (centralized root access), cached and refreshed
//! shortly before they expire, so that the steady state makes no `AssumeRole` call per poll
//! per account and one `AssumeRoot` call per account per 14 minutes.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials};
use aws_sdk_sts::types::PolicyDescriptorType;
use tokio::sync::Mutex;

use super::errors::sdk_error;
use crate::error::Error;
use crate::posture::Identity;

/// The session name shown in the member account's CloudTrail for the exporter's calls.
pub const SESSION_NAME: &str = "aws-root-mfa-exporter";
/// Credentials are renewed this long before they expire, so that no call of a poll (bounded by
/// `--poll.timeout`) runs with credentials that lapse under it.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// Root sessions last at most 900 s, so a five-minute margin would renew them every other
/// poll; one minute is enough for the few calls of one check (and an expiry under a check is
/// caught by [`SESSION_REJECTED`]).
pub const ROOT_REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(60);
/// The longest root session `sts:AssumeRoot` grants.
pub const ROOT_SESSION_SECONDS: i32 = 900;
/// The AWS-managed task policy that lets a root session read root's credentials and nothing
/// else (`arn:<partition>:iam::aws:policy/root-task/IAMAuditRootUserCredentials`).
pub const AUDIT_TASK_POLICY: &str = "root-task/IAMAuditRootUserCredentials";

/// The audit task policy's ARN in `partition`.
pub fn audit_task_policy_arn(partition: &str) -> String {
    format!("arn:{partition}:iam::aws:policy/{AUDIT_TASK_POLICY}")
}

/// Credentials that carry no expiry are renewed this often all the same: a session revoked on
/// the AWS side must not be used for ever.
pub const MAX_AGE_WITHOUT_EXPIRY: Duration = Duration::from_secs(60 * 60);
/// The error codes that say the session itself is no good any more (expired early, or
/// revoked): the cached credentials are dropped so that the next check assumes the role afresh.
pub const SESSION_REJECTED: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
];

/// A role ARN of the form `arn:<partition>:iam::<12-digit account>:role/<path/name>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RoleArn {
    arn: String,
    identity: Identity,
}

impl RoleArn {
    /// The role `name` in `account` of `partition`.
    pub fn new(partition: &str, account_id: &str, name: &str) -> Result<RoleArn, String> {
        format!("arn:{partition}:iam::{account_id}:role/{name}").parse()
    }

    /// The account and partition the role belongs to.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The ARN as text.
    pub fn as_str(&self) -> &str {
        &self.arn
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

impl FromStr for RoleArn {
    type Err = String;

    fn from_str(s: &str) -> Result<RoleArn, String> {
        let bad = || format!("not an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME): {s:?}");
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(bad());
        };
        let name = resource.strip_prefix("role/").unwrap_or("");
        let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        if arn != "arn"
            || partition.is_empty()
            || service != "iam"
            || !region.is_empty()
            || !account_ok
            || name.is_empty()
        {
            return Err(bad());
        }
        Ok(RoleArn {
            arn: s.to_owned(),
            identity: Identity {
                account_id: account.to_owned(),
                partition: partition.to_owned(),
            },
        })
    }
}

/// What the credentials of a member account are obtained as.
#[derive(Debug, Clone)]
enum Grant {
    /// `sts:AssumeRole` into a role of the account.
    Role {
        role: RoleArn,
        external_id: Option<String>,
    },
    /// `sts:AssumeRoot` on the account's root user, with the audit task policy.
    Root { target: Identity },
}

/// Assumed-role (or root-session) credentials for one account, fetched with the ambient
/// credentials' STS client.
pub struct RoleCredentials {
    sts: aws_sdk_sts::Client,
    grant: Grant,
    cached: Mutex<Option<Cached>>,
}

/// Credentials and when they were obtained.
#[derive(Debug, Clone)]
struct Cached {
    credentials: Credentials,
    obtained: SystemTime,
}

impl fmt::Debug for RoleCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the credentials, and never the external id.
        let mut d = f.debug_struct("RoleCredentials");
        match &self.grant {
            Grant::Role { role, .. } => d.field("role", role),
            Grant::Root { target } => d.field("root_of", &target.account_id),
        };
        d.finish_non_exhaustive()
    }
}

impl RoleCredentials {
    /// Credentials for `role`, assumed through `sts` with the optional external id.
    pub fn new(
        sts: aws_sdk_sts::Client,
        role: RoleArn,
        external_id: Option<String>,
    ) -> RoleCredentials {
        RoleCredentials {
            sts,
            grant: Grant::Role { role, external_id },
            cached: Mutex::new(None),
        }
    }

    /// Root-session credentials for the member account `target`, obtained through
    /// `sts:AssumeRoot` with the audit task policy of its partition. `sts` must reach a
    /// regional STS endpoint: the global one refuses `AssumeRoot`.
    pub fn root(sts: aws_sdk_sts::Client, target: Identity) -> RoleCredentials {
        RoleCredentials {
            sts,
            grant: Grant::Root { target },
            cached: Mutex::new(None),
        }
    }

    /// The operation that obtains these credentials, as errors and CloudTrail name it.
    pub fn operation(&self) -> &'static str {
        match self.grant {
            Grant::Role { .. } => "AssumeRole",
            Grant::Root { .. } => "AssumeRoot",
        }
    }

    /// Cached credentials, renewed through `sts:AssumeRole` (or `sts:AssumeRoot`) when missing
    /// or about to expire. Concurrent callers wait for one renewal instead of each making
    /// their own.
    pub async fn credentials(&self) -> Result<Credentials, Error> {
        let margin = match self.grant {
            Grant::Role { .. } => REFRESH_BEFORE_EXPIRY,
            Grant::Root { .. } => ROOT_REFRESH_BEFORE_EXPIRY,
        };
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached
            .as_ref()
            .filter(|c| fresh(&c.credentials, c.obtained, SystemTime::now(), margin))
        {
            return Ok(c.credentials.clone());
        }
        let op = self.operation();
        let c = match &self.grant {
            Grant::Role { role, external_id } => {
                self.sts
                    .assume_role()
                    .role_arn(role.as_str())
                    .role_session_name(SESSION_NAME)
                    .set_external_id(external_id.clone())
                    .send()
                    .await
                    .map_err(|e| sdk_error("sts", op, e))?
                    .credentials
            }
            Grant::Root { target } => {
                self.sts
                    .assume_root()
                    .target_principal(&target.account_id)
                    .task_policy_arn(
                        PolicyDescriptorType::builder()
                            .arn(audit_task_policy_arn(&target.partition))
                            .build(),
                    )
                    .duration_seconds(ROOT_SESSION_SECONDS)
                    .send()
                    .await
                    .map_err(|e| sdk_error("sts", op, e))?
                    .credentials
            }
        };
        let c = c.ok_or_else(|| Error::Incomplete {
            operation: op,
            what: "no Credentials".into(),
        })?;
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            expiry,
            op,
        );
        *cached = Some(Cached {
            credentials: creds.clone(),
            obtained: SystemTime::now(),
        });
        Ok(creds)
    }

    /// Drops the cached credentials, so that the next call assumes the role again.
    pub async fn forget(&self) {
        *self.cached.lock().await = None;
    }
}

/// Whether credentials obtained at `obtained` can still be used for a whole check at `now`.
/// With an expiry, they must have more than `margin` left.
fn fresh(creds: &Credentials, obtained: SystemTime, now: SystemTime, margin: Duration) -> bool {
    match creds.expiry() {
        None => now
            .duration_since(obtained)
            .is_ok_and(|age| age < MAX_AGE_WITHOUT_EXPIRY),
        Some(expiry) => expiry.duration_since(now).is_ok_and(|left| left > margin),
    }
}

/// Lets the SDK clients of a member account draw from the same cache as [`RoleCredentials`].
#[derive(Debug, Clone)]
pub struct SharedRoleCredentials(pub std::sync::Arc<RoleCredentials>);

impl ProvideCredentials for SharedRoleCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.0
                .credentials()
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        let ok = "arn:aws:iam::123456789012:role/audit/RootMfaReader";
        let arn: RoleArn = ok.parse().unwrap();
        assert_eq!(arn.identity().account_id, "123456789012");
        assert_eq!(arn.identity().partition, "aws");
        assert_eq!(arn.to_string(), ok);
        let cn: RoleArn = "arn:aws-cn:iam::123456789012:role/r".parse().unwrap();
        assert_eq!(cn.identity().partition, "aws-cn");
        for bad in [
            "",
            "arn:aws:iam::123456789012:user/alice",
            "arn:aws:iam::12345678901:role/short-account",
            "arn:aws:iam::1234567890123:role/long-account",
            "arn:aws:iam::12345678901x:role/letters",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:sts::123456789012:role/wrong-service",
            "arn:aws:iam:us-east-1:123456789012:role/regional",
            "arn::iam::123456789012:role/no-partition",
            "role/name",
        ] {
            assert!(bad.parse::<RoleArn>().is_err(), "{bad}");
        }
        assert_eq!(
            RoleArn::new("aws", "123456789012", "r").unwrap().as_str(),
            "arn:aws:iam::123456789012:role/r"
        );
    }

    #[test]
    fn credentials_are_renewed_before_they_expire() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let with_expiry = |secs_left: u64| {
            Credentials::new(
                "a",
                "s",
                None,
                Some(now + Duration::from_secs(secs_left)),
                "t",
            )
        };
        let just = now - Duration::from_secs(1);
        let m = REFRESH_BEFORE_EXPIRY;
        assert!(fresh(&with_expiry(3600), just, now, m));
        assert!(fresh(&with_expiry(301), just, now, m));
        assert!(!fresh(&with_expiry(300), just, now, m));
        assert!(!fresh(&with_expiry(0), just, now, m));
        let expired = Credentials::new("a", "s", None, Some(now - Duration::from_secs(1)), "t");
        assert!(!fresh(&expired, just, now, m));
        // Without an expiry: renewed hourly all the same.
        let forever = Credentials::new("a", "s", None, None, "t");
        assert!(fresh(&forever, just, now, m));
        assert!(fresh(&forever, now - Duration::from_secs(3599), now, m));
        assert!(!fresh(&forever, now - Duration::from_secs(3600), now, m));
    }

    #[test]
    fn root_sessions_are_reused_until_a_minute_before_they_expire() {
        // A 900 s session checked every 300 s: fresh at 600 s and 300 s left, renewed when
        // 60 s or less are left, so one AssumeRoot per three polls.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let left = |secs: u64| {
            Credentials::new("a", "s", None, Some(now + Duration::from_secs(secs)), "t")
        };
        let m = ROOT_REFRESH_BEFORE_EXPIRY;
        assert!(fresh(&left(600), now, now, m));
        assert!(fresh(&left(300), now, now, m));
        assert!(fresh(&left(61), now, now, m));
        assert!(!fresh(&left(60), now, now, m));
        assert!(!fresh(&left(0), now, now, m));
    }

    #[test]
    fn audit_task_policy_follows_the_partition() {
        assert_eq!(
            audit_task_policy_arn("aws"),
            "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials"
        );
        assert_eq!(
            audit_task_policy_arn("aws-cn"),
            "arn:aws-cn:iam::aws:policy/root-task/IAMAuditRootUserCredentials"
        );
    }
}
