//! Who may do what: the scopes an API key carries and the identity a request is made with.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a key may do. Each scope includes the ones below it: `admin` may do everything `execute` may, and
/// `execute` everything `read` may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every GET and every event stream: tasks, jobs, output, nodes, metrics.
    Read,
    /// `read`, and running, canceling and retrying jobs.
    Execute,
    /// `execute`, and creating, changing and deleting tasks, settings, and reading the audit log.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Execute, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Execute => "execute",
            Scope::Admin => "admin",
        }
    }

    /// Whether a key with this scope may do what `needed` allows.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| format!("unknown scope {s:?}; the scopes are read, execute and admin"))
    }
}

/// The identity a request is made with: the name of the key it presented and that key's scope. A short-lived
/// token minted for a browser carries the same two values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub name: String,
    pub scope: Scope,
}

/// A key name: 1 to 64 ASCII letters, digits, `-`, `_` or `.`, so it reads the same in logs, the audit log and
/// the config file.
pub fn is_key_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_include_the_ones_below() {
        use Scope::*;
        let allowed: Vec<(Scope, Scope)> = Scope::ALL
            .into_iter()
            .flat_map(|have| Scope::ALL.into_iter().map(move |need| (have, need)))
            .filter(|(have, need)| have.allows(*need))
            .collect();
        assert_eq!(
            allowed,
            [(Read, Read), (Execute, Read), (Execute, Execute), (Admin, Read), (Admin, Execute), (Admin, Admin)]
        );
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
        assert!("root".parse::<Scope>().is_err());
    }

    #[test]
    fn key_names() {
        assert!(is_key_name("ci-deploy.prod_1"));
        for bad in ["", "has space", "x=y", &"n".repeat(65)] {
            assert!(!is_key_name(bad), "{bad:?}");
        }
    }
}
