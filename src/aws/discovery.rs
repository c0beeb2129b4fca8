//! Which accounts to check: the ambient credentials' own account, an explicit list of roles,
//! or every active account of an AWS Organization, optionally one shard of them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_organizations::types::{AccountState, AccountStatus};
use tracing::{info, warn};

use super::account::{AccountClients, Outcome};
use super::clients::ClientFactory;
use super::errors::sdk_error;
use super::role::{RoleArn, RoleCredentials};
use super::shard::Shard;
use crate::error::Error;
use crate::posture::Identity;

/// `ListAccounts` returns at most 20 accounts a page.
const ACCOUNTS_PAGE_SIZE: i32 = 20;
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
    /// An assumed role's: its credentials are cached here, and its SDK clients are built for
    /// each check and dropped after it. Kept, the two clients would cost some 36 KiB per
    /// account (3.6 GB for 100,000 roles) and 0.3 ms each to build before serving.
    Role {
        /// Builds the clients; one shared by every account.
        factory: Arc<ClientFactory>,
        /// The role's credentials, cached across checks.
        credentials: Arc<RoleCredentials>,
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
            } => {
                let clients = AccountClients::assumed(factory, credentials.clone());
                Box::pin(clients.check(known)).await
            }
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
    /// Every active account of the Organization, through `role_name` in each member account.
    Organization {
        /// The role to assume in each member account.
        role_name: String,
        /// How often to list the accounts again.
        refresh: Duration,
    },
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

    fn role(&self, role: RoleArn, account_name: String) -> Target {
        let identity = role.identity().clone();
        let creds = Arc::new(RoleCredentials::new(
            self.sts.clone(),
            role,
            self.external_id.clone(),
        ));
        Target {
            key: identity.account_id.clone(),
            identity: Some(identity),
            account_name,
            clients: Clients::Role {
                factory: self.factory.clone(),
                credentials: creds,
            },
        }
    }
}

/// Organization mode's discovery state.
#[derive(Debug)]
struct Organization {
    role_name: String,
    refresh: Duration,
    shard: Option<Shard>,
    maker: TargetMaker,
    orgs: aws_sdk_organizations::Client,
    caller: Option<Identity>,
    listed_at: Option<Instant>,
    ok: Option<bool>,
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
            Discovery::Organization { role_name, refresh } => {
                let orgs = factory.organizations();
                Fleet {
                    targets: BTreeMap::new(),
                    org: Some(Organization {
                        role_name,
                        refresh,
                        shard,
                        maker,
                        orgs,
                        caller: None,
                        listed_at: None,
                        ok: None,
                    }),
                }
            }
        }
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

    /// Whether the last Organizations listing succeeded (`None` outside Organization mode).
    pub fn discovery_ok(&self) -> Option<bool> {
        self.org.as_ref().and_then(|o| o.ok)
    }

    /// In Organization mode, lists the accounts again when the refresh interval has passed (or
    /// the last listing failed). A failed listing keeps the previous targets.
    pub async fn refresh_if_due(&mut self) {
        let Some(org) = self.org.as_mut() else {
            return;
        };
        let due = org.ok != Some(true) || org.listed_at.is_none_or(|t| t.elapsed() >= org.refresh);
        if !due {
            return;
        }
        match org.list().await {
            Ok((caller, accounts)) => {
                org.ok = Some(true);
                org.listed_at = Some(Instant::now());
                self.targets = org.rebuild(std::mem::take(&mut self.targets), &caller, &accounts);
            }
            Err(err) => {
                org.ok = Some(false);
                warn!(code = err.code(), error = %err, "listing the Organization's accounts failed; keeping the previous list");
            }
        }
    }
}

impl Organization {
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
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok((caller, accounts)),
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
                None => match RoleArn::new(&caller.partition, &account.id, &self.role_name) {
                    Ok(role) => self.maker.role(role, account.name.clone()),
                    Err(err) => {
                        warn!(account_id = %account.id, error = %err, "skipping an account");
                        continue;
                    }
                },
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
