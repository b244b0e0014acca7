//! What the configuration says about notifications: the rules, the named channels, and the delivery timings. Read
//! from the TOML file (`[notify]`); secrets are given there or, better, named there as environment variables
//! (`secret_env`, `password_env`), and are never shown: not in the API, not in the log, not in `Debug` output.
use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::domain::Rule;

/// A secret from the configuration; its `Debug` form shows nothing of it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// On which triggers, to which channels (by name).
    pub rules: Vec<Rule>,
    /// The channels, by name.
    pub channels: BTreeMap<String, ChannelSettings>,
    /// Wait before the second attempt; each later wait doubles, up to `backoff_max_ms`.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// Attempts per message before it is given up (status `dead`).
    pub max_attempts: u32,
    /// One attempt's time limit (connect, send, answer).
    pub timeout_ms: u64,
    /// How often the outbox is looked at without a wake-up (messages of other nodes, due retries are woken for).
    pub poll_ms: u64,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            rules: Vec::new(),
            channels: BTreeMap::new(),
            backoff_initial_ms: 1_000,
            backoff_max_ms: 3_600_000,
            max_attempts: 50,
            timeout_ms: 10_000,
            poll_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelSettings {
    Webhook(WebhookSettings),
    Email(EmailSettings),
}

/// POST JSON to a URL, signed with HMAC-SHA256.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    /// The signing secret, or (better) `secret_env`: the environment variable that holds it.
    pub secret: Option<Secret>,
    pub secret_env: Option<String>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain SMTP, upgraded with STARTTLS (refused if the server does not offer it). Port 587 by default.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS). Port 465 by default.
    Tls,
    /// No encryption: only for a relay on this machine or a trusted network. Port 25 by default.
    None,
}

/// Mail over SMTP.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub host: String,
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    pub username: Option<String>,
    /// The password, or (better) `password_env`: the environment variable that holds it.
    pub password: Option<Secret>,
    pub password_env: Option<String>,
    pub from: String,
    pub to: Vec<String>,
}

/// A channel ready to use: its secrets read.
#[derive(Debug, Clone)]
pub enum Channel {
    Webhook { url: String, secret: Secret },
    Email { settings: EmailSettings, password: Option<Secret> },
}

/// Everything the delivery worker needs, checked.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    pub channels: BTreeMap<String, Channel>,
    /// Where links to jobs point: the public base URL of the API.
    pub public_url: String,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub max_attempts: u32,
    pub timeout: Duration,
    pub poll: Duration,
}

impl NotifyConfig {
    /// The wait after failed attempt number `attempts` (1 for the first): `backoff_initial` doubled per earlier
    /// failure, at most `backoff_max`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.backoff_initial.saturating_mul(1 << doublings).min(self.backoff_max)
    }
}

fn secret(given: &Option<Secret>, env: &Option<String>, what: &str) -> anyhow::Result<Option<Secret>> {
    match (given, env) {
        (Some(_), Some(_)) => anyhow::bail!("{what}: give the secret or the variable that holds it, not both"),
        (Some(s), None) => Ok(Some(s.clone())),
        (None, Some(name)) => match std::env::var(name) {
            Ok(value) if !value.is_empty() => Ok(Some(Secret(value))),
            _ => anyhow::bail!("{what}: the environment variable {name} is not set"),
        },
        (None, None) => Ok(None),
    }
}

fn check_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl NotifySettings {
    /// Checks the settings and reads the secrets; `public_url` is where links to jobs point.
    pub fn resolve(&self, public_url: &str) -> anyhow::Result<NotifyConfig> {
        let mut channels = BTreeMap::new();
        for (name, settings) in &self.channels {
            let what = format!("notify.channels.{name}");
            anyhow::ensure!(check_name(name), "{what}: a channel name is 1 to 64 letters, digits, '-' or '_'");
            let channel = match settings {
                ChannelSettings::Webhook(w) => {
                    anyhow::ensure!(
                        (w.url.starts_with("http://") || w.url.starts_with("https://"))
                            && reqwest::Url::parse(&w.url).is_ok(),
                        "{what}: url must be an http:// or https:// URL"
                    );
                    let secret = secret(&w.secret, &w.secret_env, &what)?.ok_or_else(|| {
                        anyhow::anyhow!("{what}: a webhook needs secret_env (or secret) to sign with")
                    })?;
                    anyhow::ensure!(secret.0.len() >= 16, "{what}: the signing secret must be at least 16 characters");
                    Channel::Webhook { url: w.url.clone(), secret }
                }
                ChannelSettings::Email(e) => {
                    super::email::check(e).map_err(|err| anyhow::anyhow!("{what}: {err}"))?;
                    let password = secret(&e.password, &e.password_env, &what)?;
                    anyhow::ensure!(
                        password.is_some() == e.username.is_some(),
                        "{what}: username and password (or password_env) go together"
                    );
                    Channel::Email { settings: e.clone(), password }
                }
            };
            channels.insert(name.clone(), channel);
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let what = format!("notify.rules[{i}]");
            anyhow::ensure!(
                !rule.on.is_empty() && !rule.channels.is_empty(),
                "{what}: name triggers (on) and channels"
            );
            if let Some(unknown) = rule.channels.iter().find(|c| !channels.contains_key(*c)) {
                anyhow::bail!("{what}: no channel named '{unknown}' is configured under [notify.channels]");
            }
        }
        anyhow::ensure!(self.backoff_initial_ms >= 1, "notify.backoff_initial_ms must be at least 1");
        anyhow::ensure!(
            self.backoff_max_ms >= self.backoff_initial_ms,
            "notify.backoff_max_ms must be at least backoff_initial_ms"
        );
        anyhow::ensure!(self.max_attempts >= 1, "notify.max_attempts must be at least 1");
        anyhow::ensure!((1..=600_000).contains(&self.timeout_ms), "notify.timeout_ms must be between 1 and 600000");
        anyhow::ensure!(self.poll_ms >= 1, "notify.poll_ms must be at least 1");
        Ok(NotifyConfig {
            channels,
            public_url: public_url.trim_end_matches('/').to_string(),
            backoff_initial: Duration::from_millis(self.backoff_initial_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
            max_attempts: self.max_attempts,
            timeout: Duration::from_millis(self.timeout_ms),
            poll: Duration::from_millis(self.poll_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> NotifySettings {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let s =
            parse("[channels.ops]\nkind = \"webhook\"\nurl = \"http://127.0.0.1/\"\nsecret = \"0123456789abcdef-x\"\n");
        assert!(!format!("{s:?}").contains("0123456789abcdef"));
        let resolved = s.resolve("http://x").unwrap();
        assert!(!format!("{resolved:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn bad_settings_are_refused_naming_the_channel_or_rule() {
        let cases = [
            ("[channels.ops]\nkind = \"webhook\"\nurl = \"http://h/\"\n", "notify.channels.ops: a webhook needs"),
            ("[channels.ops]\nkind = \"webhook\"\nurl = \"ftp://h/\"\nsecret = \"0123456789abcdef\"\n", "url must be"),
            (
                "[channels.ops]\nkind = \"webhook\"\nurl = \"http://h/\"\nsecret_env = \"TASKYARD_TEST_UNSET_VAR\"\n",
                "is not set",
            ),
            ("[[rules]]\non = [\"failed\"]\nchannels = [\"nope\"]\n", "no channel named 'nope'"),
            (
                "[channels.\"a b\"]\nkind = \"webhook\"\nurl = \"http://h/\"\nsecret = \"0123456789abcdef\"\n",
                "channel name",
            ),
            ("[channels.m]\nkind = \"email\"\nhost = \"h\"\nfrom = \"not an address\"\nto = [\"a@b.c\"]\n", "from"),
            ("[channels.m]\nkind = \"email\"\nhost = \"h\"\nfrom = \"a@b.c\"\nto = []\n", "to"),
        ];
        for (text, expected) in cases {
            let err = parse(text).resolve("http://x").unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn unknown_keys_and_triggers_do_not_parse() {
        assert!(
            toml::from_str::<NotifySettings>(
                "[channels.ops]\nkind = \"webhook\"\nurl = \"http://h/\"\nsecrt = \"x\"\n"
            )
            .is_err()
        );
        assert!(toml::from_str::<NotifySettings>("[[rules]]\non = [\"exploded\"]\nchannels = [\"x\"]\n").is_err());
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let s = NotifySettings { backoff_initial_ms: 100, backoff_max_ms: 1_000, ..Default::default() };
        let c = s.resolve("http://x").unwrap();
        let waits: Vec<u128> = (1..=6).map(|n| c.backoff(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1_000, 1_000]);
    }
}
