//! Which accounts to check: the ambient credentials' own account, an explicit list of roles,
//! or every active account of an AWS Organization, optionally one shard of them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_organizations::types::{AccountState, AccountStatus};
use tracing::{info, warn};

use crate::aws::{AccountClients, ApiCallInterceptor, sdk_error};
use crate::error::Error;
use crate::metrics::ApiCounters;
use crate::posture::Identity;
use crate::role::{RoleArn, RoleCredentials};

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
    pub clients: AccountClients,
}

/// `--shard INDEX/COUNT`: this instance checks the accounts whose id hashes to INDEX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This instance's shard, from 0.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
}

impl Shard {
    /// Whether `account_id` belongs to this shard.
    pub fn owns(&self, account_id: &str) -> bool {
        shard_of(account_id, self.count) == self.index
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("expected INDEX/COUNT with 0 <= INDEX < COUNT, got {s:?}");
        let (index, count) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = index.trim().parse().map_err(|_| bad())?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard of an account: FNV-1a of its id, modulo `count`. The hash is fixed here (not the
/// standard library's, which may change between releases) so that replicas of different
/// versions still split an Organization the same way.
pub fn shard_of(account_id: &str, count: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in account_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(count.max(1))) as u32
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
    sdk: SdkConfig,
    api: ApiCounters,
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
            clients: self.ambient.clone(),
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
            clients: AccountClients::assumed(&self.sdk, &self.api, creds),
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
    /// A fleet found by `discovery` with the ambient configuration `sdk`.
    pub fn new(
        sdk: &SdkConfig,
        api: &ApiCounters,
        discovery: Discovery,
        shard: Option<Shard>,
        external_id: Option<String>,
    ) -> Fleet {
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(sdk)
                .interceptor(ApiCallInterceptor::new(api.clone()))
                .build(),
        );
        let maker = TargetMaker {
            sdk: sdk.clone(),
            api: api.clone(),
            sts,
            external_id,
            ambient: AccountClients::new(sdk, api),
        };
        match discovery {
            Discovery::Ambient => Fleet::from_targets(vec![maker.ambient(None, String::new())]),
            Discovery::Roles(roles) => Fleet::from_targets(
                roles
                    .into_iter()
                    .filter(|r| in_shard(shard, &r.identity().account_id))
                    .map(|r| maker.role(r, String::new()))
                    .collect(),
            ),
            Discovery::Organization { role_name, refresh } => {
                let orgs = aws_sdk_organizations::Client::from_conf(
                    aws_sdk_organizations::config::Builder::from(sdk)
                        .interceptor(ApiCallInterceptor::new(api.clone()))
                        .build(),
                );
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
    fn shards_parse() {
        assert_eq!("0/1".parse(), Ok(Shard { index: 0, count: 1 }));
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["", "1", "3/3", "0/0", "-1/2", "a/b", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_partition_the_accounts() {
        let ids: Vec<String> = (0..3000u64)
            .map(|i| format!("{:012}", 100_000_000_000 + i * 7919))
            .collect();
        for count in [1u32, 2, 3, 7] {
            let mut sizes = vec![0usize; count as usize];
            for id in &ids {
                let owners: Vec<u32> = (0..count)
                    .filter(|&index| Shard { index, count }.owns(id))
                    .collect();
                assert_eq!(owners.len(), 1, "{id} has exactly one shard of {count}");
                sizes[owners[0] as usize] += 1;
            }
            let even = ids.len() / count as usize;
            for size in sizes {
                assert!(
                    size.abs_diff(even) < even / 5 + 10,
                    "uneven {count} shards: {size} vs {even}"
                );
            }
        }
    }

    #[test]
    fn the_hash_is_stable() {
        // Replicas of different versions must agree: these values may never change.
        assert_eq!(
            shard_of("123456789012", 1_000_003),
            shard_of("123456789012", 1_000_003)
        );
        assert_eq!(
            shard_of("", u32::MAX),
            (0xcbf2_9ce4_8422_2325u64 % u64::from(u32::MAX)) as u32
        );
        assert_eq!(
            shard_of("a", 1 << 31),
            (0xaf63_dc4c_8601_ec8cu64 % (1u64 << 31)) as u32
        );
    }

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
