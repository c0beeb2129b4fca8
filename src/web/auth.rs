//! HTTP basic authentication against bcrypt hashes, as exporter-toolkit does it, and a step
//! further: an unknown user, and a wrong password of any user, cost the bcrypt work of the
//! users' most costly hash; bcrypt runs one at a time off the async threads, and a credential
//! that was once right is remembered by digest so that scrapes stay cheap.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::config::bcrypt_cost;

/// A syntactically valid bcrypt hash of no known password. Its cost (the two digits after
/// `$2b$`) is replaced by the cost of the configured users' hashes.
const FAKE_HASH_TAIL: &str = "Jg/O6A22pOPrJOOgugA4Je4/DbCEAFmGVma3KB5LhCCHvmh69HgGS";

/// How many verified credentials are remembered; a full cache is emptied, not evicted entry by
/// entry, since the legitimate working set is one or two Prometheus servers.
const CACHE_CAPACITY: usize = 256;

/// The user and password of an `Authorization: Basic` header.
#[derive(PartialEq, Eq)]
pub struct Credentials {
    /// The user name, as sent.
    pub user: Vec<u8>,
    /// The password, as sent.
    pub password: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &String::from_utf8_lossy(&self.user))
            .finish_non_exhaustive()
    }
}

/// Parses the value of an `Authorization` header; `None` unless it is well-formed `Basic`.
pub fn parse_basic(value: &[u8]) -> Option<Credentials> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim_start())
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some(Credentials {
        user: decoded[..colon].to_vec(),
        password: decoded[colon + 1..].to_vec(),
    })
}

/// The fake hash for the given cost, always well-formed.
pub fn fake_hash(cost: u32) -> String {
    format!("$2b${:02}${FAKE_HASH_TAIL}", cost.clamp(4, 31))
}

/// Checks credentials against the users of the current web configuration.
#[derive(Debug)]
pub struct Authenticator {
    // One bcrypt at a time: it is deliberately expensive, and a flood of guesses must not take
    // every core from the poller and from scrapes that are already authenticated.
    bcrypt: Semaphore,
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator {
            bcrypt: Semaphore::new(1),
            verified: Mutex::new(HashSet::new()),
        }
    }
}

impl Authenticator {
    /// Whether `credentials` name one of `users` with the right password.
    pub async fn check(
        &self,
        users: &BTreeMap<String, String>,
        fake: &str,
        credentials: Credentials,
    ) -> bool {
        let known = std::str::from_utf8(&credentials.user)
            .ok()
            .and_then(|user| users.get(user));
        let hash = known.map_or(fake, String::as_str).to_owned();
        // The digest covers the hash too, so that a changed or removed user is never let in
        // from the cache.
        let digest = digest(&credentials, &hash);
        if known.is_some() && self.cache().contains(&digest) {
            return true;
        }
        let Ok(_permit) = self.bcrypt.acquire().await else {
            return false;
        };
        let password = credentials.password;
        let fake = fake.to_owned();
        let ok =
            tokio::task::spawn_blocking(move || verify_in_constant_time(&password, &hash, &fake))
                .await
                .unwrap_or(false);
        if ok && known.is_some() {
            let mut cache = self.cache();
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(digest);
            return true;
        }
        false
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Verifies `password` against `hash`; a failure costs as much bcrypt work as `fake`, the
/// fake hash of the users' highest cost. bcrypt at cost `k` costs twice as much as at `k - 1`,
/// so a failed check at cost `c` is followed by one check against a fake hash of every cost
/// from `c` to the highest minus one: `t(c) + t(c) + t(c+1) + … + t(M-1) = t(M)`. Without it, a
/// wrong password for a user with a cheap hash answers in a millisecond where an unknown user
/// takes the full cost, and timing tells the users apart.
fn verify_in_constant_time(password: &[u8], hash: &str, fake: &str) -> bool {
    let ok = bcrypt::verify(password, hash).unwrap_or(false);
    if !ok {
        let highest = bcrypt_cost(fake).unwrap_or(4);
        let from = bcrypt_cost(hash).unwrap_or(highest);
        for cost in from..highest {
            let _ = bcrypt::verify(password, &fake_hash(cost));
        }
    }
    ok
}

fn digest(credentials: &Credentials, hash: &str) -> [u8; 32] {
    let mut sha = Sha256::new();
    for part in [
        &credentials.user[..],
        hash.as_bytes(),
        &credentials.password,
    ] {
        sha.update((part.len() as u64).to_be_bytes());
        sha.update(part);
    }
    sha.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
        .into_bytes()
    }

    #[test]
    fn basic_credentials_are_parsed() {
        let creds = parse_basic(&basic("prometheus:s3cr:et")).unwrap();
        assert_eq!(creds.user, b"prometheus");
        assert_eq!(creds.password, b"s3cr:et");
        assert!(!format!("{creds:?}").contains("s3cr"), "password printed");
        let empty = parse_basic(&basic(":")).unwrap();
        assert!(empty.user.is_empty() && empty.password.is_empty());
        assert!(
            parse_basic(b"basic  cDpx").is_some(),
            "scheme is case-insensitive"
        );
        for bad in [
            &b""[..],
            b"Basic",
            b"Basic ",
            b"Bearer cDpx",
            b"Basic !!!",
            b"Basic bm9jb2xvbg==",
            b"Basic \xff\xfe",
        ] {
            assert_eq!(parse_basic(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_fake_hash_is_a_valid_bcrypt_hash_of_the_given_cost() {
        for cost in [4, 10, 12] {
            let hash = fake_hash(cost);
            assert_eq!(crate::web::config::bcrypt_cost(&hash), Some(cost));
            assert_eq!(bcrypt::verify("anything", &hash).ok(), Some(false));
        }
    }

    #[tokio::test]
    async fn users_passwords_and_the_cache() {
        let hash = bcrypt::hash_with_salt("right", 4, [7; 16])
            .unwrap()
            .to_string();
        let users = BTreeMap::from([("prometheus".to_owned(), hash.clone())]);
        let fake = fake_hash(4);
        let auth = Authenticator::default();
        let creds = |u: &str, p: &str| Credentials {
            user: u.into(),
            password: p.into(),
        };
        assert!(
            auth.check(&users, &fake, creds("prometheus", "right"))
                .await
        );
        assert!(
            !auth
                .check(&users, &fake, creds("prometheus", "wrong"))
                .await
        );
        assert!(!auth.check(&users, &fake, creds("nobody", "right")).await);
        assert_eq!(auth.cache().len(), 1, "only successes are cached");
        // Cached, and still right.
        assert!(
            auth.check(&users, &fake, creds("prometheus", "right"))
                .await
        );
        // A user removed from the file is not let in from the cache.
        let none = BTreeMap::new();
        assert!(!auth.check(&none, &fake, creds("prometheus", "right")).await);
        // Nor is one whose password was changed.
        let changed = BTreeMap::from([(
            "prometheus".to_owned(),
            bcrypt::hash_with_salt("new", 4, [8; 16])
                .unwrap()
                .to_string(),
        )]);
        assert!(
            !auth
                .check(&changed, &fake, creds("prometheus", "right"))
                .await
        );
        assert!(
            auth.check(&changed, &fake, creds("prometheus", "new"))
                .await
        );
    }
}
