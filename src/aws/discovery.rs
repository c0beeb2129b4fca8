//! Which accounts to check: the ambient credentials' own account, an explicit list of roles,
//! or every active account of an AWS Organization, optionally one shard of them, reached
//! through a role in each member or through root sessions (centralized root access).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_organizations::types::{AccountState, AccountStatus};
use tracing::{info, warn};

use super::account::{AccountClients, Outcome, ReportSchedule};
use super::clients::ClientFactory;
use super::errors::sdk_error;
use super::paging::Pages;
use super::role::{RoleArn, RoleCredentials};
use super::shard::Shard;
use crate::error::Error;
use crate::posture::Identity;
use crate::snapshot::OrgFeatures;

/// `ListAccounts` returns at most 20 accounts a page.
const ACCOUNTS_PAGE_SIZE: i32 = 20;
/// The most `ListAccounts` pages followed: 50,000 accounts. Organizations of tens of thousands
/// of accounts exist, so the cap leaves them room; a listing still going past it is not
/// trusted to end.
const ACCOUNT_PAGE_CAP: usize = 2_500;
/// The key of the ambient credentials' account while its id is not known.
pub const AMBIENT_KEY: &str = "ambient";

/// One account to check, with the clients whose credentials reach it.
#[derive(Debug, Clone)]
pub struct Target {
    /// A stable key: the account id where known in advance, else [`AMBIENT_KEY`].
    pub key: String,
    /// The account and partition, when known without asking STS.
    pub identity: Option<Identity>,
    /// The account's name where known (from AWS Organizations), else empty.
    pub account_name: String,
    /// The clients to check it with.
    pub clients: Clients,
}

/// How one account is reached.
#[derive(Debug, Clone)]
pub enum Clients {
    /// Clients built once: the ambient account's, or a test's.
    Built(AccountClients),
    /// An assumed role's or a root session's: its credentials are cached here, and its SDK
    /// clients are built for each check and dropped after it. Kept, the two clients would cost
    /// some 36 KiB per account (3.6 GB for 100,000 roles) and 0.3 ms each to build before
    /// serving.
    Role {
        /// Builds the clients; one shared by every account.
        factory: Arc<ClientFactory>,
        /// The role's (or root session's) credentials, cached across checks.
        credentials: Arc<RoleCredentials>,
        /// Whether the credentials are a root session (`sts:AssumeRoot`), which reads root's
        /// own devices and activity.
        root_session: bool,
        /// When root's activity is next read from the credential report
        /// (`--collector.root-activity`), kept across checks.
        report: Option<Arc<ReportSchedule>>,
    },
}

impl Clients {
    /// Checks the account; see [`AccountClients::check`].
    pub async fn check(&self, known: Option<&Identity>) -> Outcome {
        // Boxed: the SDK's futures are kilobytes, and the poller keeps every finished check's
        // task until the poll ends; boxed, what it keeps is the outcome, not the future's room.
        match self {
            Clients::Built(clients) => Box::pin(clients.check(known)).await,
            Clients::Role {
                factory,
                credentials,
                root_session,
                report,
            } => {
                let mut clients = if *root_session {
                    AccountClients::root_session(factory, credentials.clone())
                } else {
                    AccountClients::assumed(factory, credentials.clone())
                };
                if let Some(schedule) = report {
                    clients = clients.with_report_schedule(schedule.clone());
                }
                Box::pin(clients.check(known)).await
            }
        }
    }

    /// The same clients, also reading root's activity from the credential report at most
    /// every `every` (never for a root session, which reads it from root itself).
    pub fn with_root_activity(self, every: Duration) -> Clients {
        match self {
            Clients::Built(clients) => Clients::Built(clients.with_root_activity(every)),
            Clients::Role {
                factory,
                credentials,
                root_session,
                report,
            } => Clients::Role {
                report: if root_session {
                    report
                } else {
                    Some(Arc::new(ReportSchedule::new(every)))
                },
                factory,
                credentials,
                root_session,
            },
        }
    }

    /// Whether root's activity is read from the credential report.
    pub fn reads_credential_report(&self) -> bool {
        match self {
            Clients::Built(clients) => clients.reads_credential_report(),
            Clients::Role { report, .. } => report.is_some(),
        }
    }
}

impl From<AccountClients> for Clients {
    fn from(clients: AccountClients) -> Clients {
        Clients::Built(clients)
    }
}

/// How the accounts are found.
#[derive(Debug, Clone)]
pub enum Discovery {
    /// The account of the ambient credentials only.
    Ambient,
    /// Every listed role's account.
    Roles(Vec<RoleArn>),
    /// Every active account of the Organization, reached as `members` says.
    Organization {
        /// How each member account is reached.
        members: Members,
        /// How often to list the accounts again.
        refresh: Duration,
    },
}

/// How Organization mode reaches a member account (the management account itself is always
/// checked directly, with the ambient credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Members {
    /// Through `sts:AssumeRole` into the role of this name in each member.
    Role(String),
    /// Through `sts:AssumeRoot` with the audit task policy (centralized root access), which
    /// sees root's own devices and activity.
    Root,
}

/// The Organization's centralized root access features, from `iam:ListOrganizationsFeatures`
/// (management account or the IAM delegated administrator only).
pub async fn organization_features(iam: &aws_sdk_iam::Client) -> Result<OrgFeatures, Error> {
    use aws_sdk_iam::types::FeatureType;
    const OP: &str = "ListOrganizationsFeatures";
    let out = iam
        .list_organizations_features()
        .send()
        .await
        .map_err(|e| sdk_error("iam", OP, e))?;
    let enabled = |f: FeatureType| out.enabled_features().contains(&f);
    Ok(OrgFeatures {
        organization_id: out.organization_id().unwrap_or_default().to_owned(),
        root_credentials_management: enabled(FeatureType::RootCredentialsManagement),
        root_sessions: enabled(FeatureType::RootSessions),
    })
}

/// An account of the Organization, as `ListAccounts` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    /// The account id.
    pub id: String,
    /// The account's name.
    pub name: String,
    /// Whether it is active (not suspended, closing or closed).
    pub active: bool,
}

/// The set of targets, kept up to date with the Organization in Organization mode.
#[derive(Debug)]
pub struct Fleet {
    targets: BTreeMap<String, Target>,
    org: Option<Organization>,
}

/// Makes targets from the ambient configuration.
#[derive(Debug)]
struct TargetMaker {
    factory: Arc<ClientFactory>,
    sts: aws_sdk_sts::Client,
    external_id: Option<String>,
    ambient: AccountClients,
}

impl TargetMaker {
    fn ambient(&self, identity: Option<Identity>, account_name: String) -> Target {
        Target {
            key: identity
                .as_ref()
                .map_or_else(|| AMBIENT_KEY.into(), |i| i.account_id.clone()),
            identity,
            account_name,
            clients: Clients::Built(self.ambient.clone()),
        }
    }

    fn root(&self, identity: Identity, account_name: String) -> Target {
        let session = RoleCredentials::root(self.sts.clone(), identity.clone());
        self.reached(identity, account_name, session, true)
    }

    fn role(&self, role: RoleArn, account_name: String) -> Target {
        let identity = role.identity().clone();
        let creds = RoleCredentials::new(self.sts.clone(), role, self.external_id.clone());
        self.reached(identity, account_name, creds, false)
    }

    /// A member reached with `credentials`, its clients built for each check.
    fn reached(
        &self,
        identity: Identity,
        account_name: String,
        credentials: RoleCredentials,
        root_session: bool,
    ) -> Target {
        Target {
            key: identity.account_id.clone(),
            identity: Some(identity),
            account_name,
            clients: Clients::Role {
                factory: self.factory.clone(),
                credentials: Arc::new(credentials),
                root_session,
                report: None,
            },
        }
    }
}

/// Organization mode's discovery state.
#[derive(Debug)]
struct Organization {
    members: Members,
    refresh: Duration,
    shard: Option<Shard>,
    maker: TargetMaker,
    orgs: aws_sdk_organizations::Client,
    caller: Option<Identity>,
    listed_at: Option<Instant>,
    ok: Option<bool>,
    iam: aws_sdk_iam::Client,
    features: Option<OrgFeatures>,
    features_denied_logged: bool,
    root_activity: Option<Duration>,
}

fn in_shard(shard: Option<Shard>, account_id: &str) -> bool {
    shard.is_none_or(|s| s.owns(account_id))
}

impl Fleet {
    /// A fleet found by `discovery`, reached with clients from `factory`.
    pub fn new(
        factory: &ClientFactory,
        discovery: Discovery,
        shard: Option<Shard>,
        external_id: Option<String>,
    ) -> Fleet {
        let maker = TargetMaker {
            factory: Arc::new(factory.clone()),
            sts: factory.sts(None),
            external_id,
            ambient: AccountClients::new(factory),
        };
        match discovery {
            Discovery::Ambient => Fleet::from_targets(vec![maker.ambient(None, String::new())]),
            Discovery::Roles(roles) => {
                let started = Instant::now();
                let listed = roles.len();
                let fleet = Fleet::from_targets(
                    roles
                        .into_iter()
                        .filter(|r| in_shard(shard, &r.identity().account_id))
                        .map(|r| maker.role(r, String::new()))
                        .collect(),
                );
                // A long list takes a moment, and the first poll a while: say where it stands.
                info!(
                    roles = listed,
                    watched = fleet.targets.len(),
                    seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
                    "accounts to check are ready; the first poll starts once serving"
                );
                fleet
            }
            Discovery::Organization { members, refresh } => {
                let orgs = factory.organizations();
                Fleet {
                    targets: BTreeMap::new(),
                    org: Some(Organization {
                        members,
                        refresh,
                        shard,
                        maker,
                        orgs,
                        caller: None,
                        listed_at: None,
                        ok: None,
                        iam: factory.iam(None),
                        features: None,
                        features_denied_logged: false,
                        root_activity: None,
                    }),
                }
            }
        }
    }

    /// Reads root's last activity from each account's credential report, no more often than
    /// `every` (`--collector.root-activity`); root sessions read it exactly instead.
    pub fn with_root_activity(mut self, every: Duration) -> Fleet {
        for target in self.targets.values_mut() {
            target.clients = target.clients.clone().with_root_activity(every);
        }
        if let Some(org) = self.org.as_mut() {
            org.root_activity = Some(every);
        }
        self
    }

    /// A fixed set of targets (tests build them with mocked clients).
    pub fn from_targets(targets: Vec<Target>) -> Fleet {
        Fleet {
            targets: targets.into_iter().map(|t| (t.key.clone(), t)).collect(),
            org: None,
        }
    }

    /// The targets of the coming poll, in a stable order.
    pub fn targets(&self) -> Vec<Target> {
        self.targets.values().cloned().collect()
    }

    /// Whether the accounts have been listed at least once; always true outside Organization
    /// mode, where the accounts come from the command line.
    pub fn discovered(&self) -> bool {
        self.org.as_ref().is_none_or(|o| o.listed_at.is_some())
    }

    /// The Organization's centralized root access features as last read (Organization modes
    /// only; `None` where the caller may not read them).
    pub fn features(&self) -> Option<OrgFeatures> {
        self.org.as_ref().and_then(|o| o.features.clone())
    }

    /// Whether the last Organizations listing succeeded (`None` outside Organization mode).
    pub fn discovery_ok(&self) -> Option<bool> {
        self.org.as_ref().and_then(|o| o.ok)
    }

    /// In Organization mode, lists the accounts again when the refresh interval has passed (or
    /// the last listing failed). A failed listing keeps the previous targets and is returned,
    /// so that the caller can say so.
    pub async fn refresh_if_due(&mut self) -> Result<(), Error> {
        let Some(org) = self.org.as_mut() else {
            return Ok(());
        };
        let due = org.ok != Some(true) || org.listed_at.is_none_or(|t| t.elapsed() >= org.refresh);
        if !due {
            return Ok(());
        }
        match org
            .list()
            .await
            .map_err(|e| e.at_endpoint(&org.maker.factory.endpoint()))
        {
            Ok((caller, accounts)) => {
                org.ok = Some(true);
                org.listed_at = Some(Instant::now());
                self.targets = org.rebuild(std::mem::take(&mut self.targets), &caller, &accounts);
                org.refresh_features().await;
                Ok(())
            }
            Err(err) => {
                org.ok = Some(false);
                Err(err)
            }
        }
    }
}

impl Organization {
    /// Reads the feature state again, with the account list. A failure (a delegated
    /// administrator for Organizations but not for IAM, say) leaves the gauges absent rather
    /// than guessing, and is logged once, not on every refresh.
    async fn refresh_features(&mut self) {
        match organization_features(&self.iam).await {
            Ok(features) => self.features = Some(features),
            Err(err) => {
                self.features = None;
                if !self.features_denied_logged {
                    self.features_denied_logged = true;
                    warn!(code = err.code(), error = %err,
                          "cannot read the Organization's root access features; their gauges stay absent");
                }
            }
        }
    }

    /// The caller's identity (asked once) and every account of the Organization, every page.
    async fn list(&mut self) -> Result<(Identity, Vec<OrgAccount>), Error> {
        let caller = match &self.caller {
            Some(c) => c.clone(),
            None => {
                let c = self.maker.ambient.caller_identity().await?;
                self.caller = Some(c.clone());
                c
            }
        };
        let mut accounts = Vec::new();
        let mut pages = Pages::new("ListAccounts", ACCOUNT_PAGE_CAP);
        let mut token: Option<String> = None;
        loop {
            let out = self
                .orgs
                .list_accounts()
                .max_results(ACCOUNTS_PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error("organizations", "ListAccounts", e))?;
            accounts.extend(out.accounts().iter().filter_map(|a| {
                Some(OrgAccount {
                    id: a.id()?.to_owned(),
                    name: a.name().unwrap_or_default().to_owned(),
                    active: is_active(a.state(), a.status()),
                })
            }));
            // An empty NextToken ends the listing as an absent one does.
            let next = out.next_token().filter(|t| !t.is_empty());
            token = pages.next(next.is_some(), next)?;
            if token.is_none() {
                return Ok((caller, accounts));
            }
        }
    }

    /// The active accounts of this shard as targets, reusing the clients (and so the cached
    /// credentials) of accounts that stay.
    fn rebuild(
        &self,
        mut previous: BTreeMap<String, Target>,
        caller: &Identity,
        accounts: &[OrgAccount],
    ) -> BTreeMap<String, Target> {
        let mut next = BTreeMap::new();
        for account in accounts
            .iter()
            .filter(|a| a.active && in_shard(self.shard, &a.id))
        {
            let target = match previous.remove(&account.id) {
                Some(mut kept) => {
                    kept.account_name.clone_from(&account.name);
                    kept
                }
                None if account.id == caller.account_id => self
                    .maker
                    .ambient(Some(caller.clone()), account.name.clone()),
                None => match &self.members {
                    Members::Root => self.maker.root(
                        Identity {
                            account_id: account.id.clone(),
                            partition: caller.partition.clone(),
                        },
                        account.name.clone(),
                    ),
                    Members::Role(role_name) => {
                        match RoleArn::new(&caller.partition, &account.id, role_name) {
                            Ok(role) => self.maker.role(role, account.name.clone()),
                            Err(err) => {
                                warn!(account_id = %account.id, error = %err, "skipping an account");
                                continue;
                            }
                        }
                    }
                },
            };
            // New targets get a report schedule; kept ones keep theirs (and its last read).
            let target = match self.root_activity {
                Some(every) if !target.clients.reads_credential_report() => Target {
                    clients: target.clients.with_root_activity(every),
                    ..target
                },
                _ => target,
            };
            next.insert(account.id.clone(), target);
        }
        let active = accounts.iter().filter(|a| a.active).count();
        info!(
            listed = accounts.len(),
            active,
            watched = next.len(),
            shard = self
                .shard
                .map(|s| s.to_string())
                .unwrap_or_else(|| "all".into()),
            "listed the Organization's accounts"
        );
        next
    }
}

/// Newer Organizations answers carry `State`; older ones only `Status`.
fn is_active(state: Option<&AccountState>, status: Option<&AccountStatus>) -> bool {
    match (state, status) {
        (Some(state), _) => *state == AccountState::Active,
        (None, Some(status)) => *status == AccountStatus::Active,
        (None, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_accounts_are_checked() {
        use AccountState as S;
        use AccountStatus as T;
        let cases = [
            (Some(S::Active), None, true),
            (Some(S::Suspended), Some(T::Active), false),
            (Some(S::PendingClosure), None, false),
            (Some(S::Closed), None, false),
            (Some(S::PendingActivation), None, false),
            (None, Some(T::Active), true),
            (None, Some(T::Suspended), false),
            (None, Some(T::PendingClosure), false),
            (None, None, false),
        ];
        for (state, status, want) in cases {
            assert_eq!(
                is_active(state.as_ref(), status.as_ref()),
                want,
                "{state:?} {status:?}"
            );
        }
    }
}
