//! API keys: the configured keys (named, scoped, stored only as SHA-256 hashes), telling which one a request
//! presented in constant time, and making new ones. Which route needs which scope is the API's (`api::auth`).
//!
//! A key is 32 random bytes, so a plain SHA-256 of it cannot be reversed or guessed: a slow password hash would
//! add nothing but latency to every request.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{Principal, Scope, is_key_name};

/// How a key starts: it tells a taskyard key apart in a secret scanner or a leaked log.
pub const KEY_PREFIX: &str = "tyk_";

/// One `[[keys]]` entry of the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Shown in the audit log and the server's log lines; never the key itself.
    pub name: String,
    pub scope: Scope,
    /// The SHA-256 of the key, in lowercase hex (`taskyard key new` prints it).
    pub sha256: String,
}

impl KeyEntry {
    pub fn validate(&self) -> Result<(), String> {
        if !is_key_name(&self.name) {
            return Err(format!("key name {:?} must be 1 to 64 letters, digits, '-', '_' or '.'", self.name));
        }
        let hex =
            self.sha256.len() == 64 && self.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex {
            return Err(format!("key {:?}: sha256 must be 64 lowercase hex digits", self.name));
        }
        Ok(())
    }
}

/// Every key a server accepts, each as a digest and the identity it stands for.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<([u8; 32], Principal)>,
}

impl Keyring {
    /// The named keys, plus the plain `api_keys` (and `TASKYARD_API_KEY`), which are admin keys named
    /// `api_keys[0]`, `api_keys[1]`, ... in their order.
    pub fn new(entries: &[KeyEntry], plain: &[String]) -> Result<Keyring, String> {
        let mut keys = Vec::new();
        for entry in entries {
            entry.validate()?;
            let mut digest = [0u8; 32];
            hex::decode_to_slice(&entry.sha256, &mut digest).map_err(|e| format!("key {:?}: {e}", entry.name))?;
            keys.push((digest, Principal { name: entry.name.clone(), scope: entry.scope }));
        }
        for (i, key) in plain.iter().enumerate() {
            keys.push((digest(key), Principal { name: format!("api_keys[{i}]"), scope: Scope::Admin }));
        }
        let mut names: Vec<&str> = keys.iter().map(|(_, p)| p.name.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("two keys are named {:?}", pair[0]));
        }
        Ok(Keyring { keys })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The identity of the key `given`, if it is one of these. Every key is compared, each in time that does not
    /// depend on where the digests differ, so timing tells neither which key matched nor how close a guess came.
    pub fn identify(&self, given: &[u8]) -> Option<Principal> {
        let given = Sha256::digest(given);
        let mut found = None;
        for (digest, principal) in &self.keys {
            if constant_time_eq(digest, &given) {
                found = Some(principal);
            }
        }
        found.cloned()
    }
}

/// The SHA-256 of a key, as stored.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A new random key and its config entry.
pub fn new_key(name: &str, scope: Scope) -> anyhow::Result<(String, KeyEntry)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("cannot read random bytes: {e}"))?;
    let key = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    let entry = KeyEntry { name: name.to_string(), scope, sha256: hex::encode(digest(&key)) };
    entry.validate().map_err(|e| anyhow::anyhow!(e))?;
    Ok((key, entry))
}

/// Equal in time that depends only on the lengths, not on where the bytes differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_whole_keys() {
        assert!(constant_time_eq(b"secret-key", b"secret-key"));
        assert!(!constant_time_eq(b"secret-key", b"secret-kez"));
        assert!(!constant_time_eq(b"secret-key", b"secret-key2"));
        assert!(!constant_time_eq(b"secret-key", b""));
    }

    #[test]
    fn a_new_key_is_found_by_its_entry_alone() {
        let (key, entry) = new_key("ci", Scope::Execute).unwrap();
        assert!(key.starts_with(KEY_PREFIX) && key.len() == KEY_PREFIX.len() + 64, "{key}");
        assert!(!entry.sha256.contains(&key[KEY_PREFIX.len()..]));
        let ring = Keyring::new(&[entry], &["plain-admin-key".into()]).unwrap();
        assert_eq!(ring.identify(key.as_bytes()), Some(Principal { name: "ci".into(), scope: Scope::Execute }));
        assert_eq!(
            ring.identify(b"plain-admin-key"),
            Some(Principal { name: "api_keys[0]".into(), scope: Scope::Admin })
        );
        assert_eq!(ring.identify(b"tyk_guess"), None);
        assert_eq!(ring.identify(b""), None);
        let (other, _) = new_key("ci", Scope::Read).unwrap();
        assert_ne!(key, other, "keys are random");
    }

    #[test]
    fn bad_entries_are_refused() {
        let (_, good) = new_key("ci", Scope::Read).unwrap();
        let short = KeyEntry { sha256: "abc".into(), ..good.clone() };
        let upper = KeyEntry { sha256: good.sha256.to_uppercase(), ..good.clone() };
        let name = KeyEntry { name: "c i".into(), ..good.clone() };
        for bad in [short, upper, name] {
            assert!(Keyring::new(std::slice::from_ref(&bad), &[]).is_err(), "{bad:?}");
        }
        assert!(Keyring::new(&[good.clone(), good], &[]).unwrap_err().contains("two keys"));
    }
}
