//! Settings: defaults from code < TOML file (`--config`) < `TASKYARD_*` environment < command-line flags.
//! Validated once at start; everything after trusts them.
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::access::{KeyEntry, Keyring};
use crate::domain::env::{is_hook, is_name};
use crate::engine::EngineConfig;
use crate::engine::job_artifacts::ArtifactConfig;
use crate::engine::notify::{NotifyConfig, NotifySettings};
use crate::store::DbOptions;

/// The programs tasks may run when nothing else is configured: enough for the walk-through, and none of them runs
/// another program or reads or writes a file named in its arguments.
pub const DEFAULT_ALLOW: &[&str] = &["echo", "true", "false", "sleep", "printf"];

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// For people: one readable line per event.
    Text,
    /// For log collectors: one JSON object per line, with the fields of the request or job it belongs to.
    Json,
}

/// One source's settings, by TOML key; a later layer's key replaces an earlier one's.
pub type Layer = toml::Table;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub bind: String,
    /// `sqlite://PATH?mode=rwc` or `postgres://USER@HOST/DB`.
    pub database_url: String,
    /// Programs (argv[0], exact match) that tasks may run: bare names (resolved on the server's PATH at start) or
    /// absolute paths.
    pub allow: Vec<String>,
    /// Variables of the server's environment that jobs get besides PATH, HOME, LANG, LANGUAGE, LC_*, TZ, USER and
    /// LOGNAME.
    pub env_passthrough: Vec<String>,
    /// Start-up hook variables (LD_PRELOAD, PYTHONPATH, PATH, ...) that tasks may set all the same.
    pub allow_env_hooks: Vec<String>,
    /// Jobs run at once by this server.
    pub max_concurrency: usize,
    /// Admin keys given as they are (`TASKYARD_API_KEY` sets one), named `api_keys[0]`, ... in the audit log.
    /// With these or `keys`, every /api route requires a key in `X-API-Key`.
    pub api_keys: Vec<String>,
    /// Named, scoped keys stored as SHA-256 digests (`[[keys]]` tables; `taskyard key new` makes one).
    pub keys: Vec<KeyEntry>,
    /// Stored output per stream per job; past it, lines are counted, not stored.
    pub output_max_bytes: u64,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Largest result a registered function may return (its JSON); a larger one fails the job.
    pub result_max_bytes: u64,
    /// Between SIGTERM and SIGKILL when a job is canceled or times out.
    pub kill_grace_seconds: u64,
    /// Keep-alive comment interval on idle SSE streams.
    pub sse_keepalive_seconds: u64,
    /// How long a job's claim lasts without renewal (the runner renews it every third of this; the reaper looks
    /// for expired ones as often).
    pub lease_seconds: u64,
    /// On SIGTERM/SIGINT, how long running jobs may finish before they are stopped and handed back.
    pub drain_seconds: u64,
    /// Finished jobs older than this many days are deleted with their output (0 keeps them forever).
    pub retention_days: f64,
    /// When finished jobs hold more stored output than this, the oldest are deleted (0: no cap).
    pub retention_max_output_bytes: u64,
    /// How often retention runs, in seconds.
    pub retention_check_seconds: u64,
    /// A schedule's fire with no started job this many seconds after its time is late: the task is reported
    /// `overdue`, and with `missed: skip` the fire is dropped.
    pub overdue_grace_seconds: u64,
    /// A task whose last this many finished runs all failed is reported `failing` (0: never).
    pub failing_runs: u64,
    /// Database connections: PostgreSQL's pool size, or SQLite's reader connections (besides its one writer).
    /// Default 16 on PostgreSQL, 8 on SQLite.
    pub database_max_connections: Option<u32>,
    /// PostgreSQL: a statement running longer than this is canceled by the server.
    pub database_statement_timeout_seconds: u64,
    /// The URL other people reach this node's API at, as the node registry shows it (default: http:// and the
    /// address it listens on).
    pub advertise_url: Option<String>,
    /// SQLite: below this much free space under the database file, new jobs and task writes are refused and job
    /// output is no longer stored, until there is room again (0: never). PostgreSQL: not checked.
    pub min_free_bytes: u64,
    /// `/metrics` answers without an API key (when keys are configured; without keys it is open anyway).
    pub metrics_public: bool,
    /// How the server writes its log lines to stderr.
    pub log_format: LogFormat,
    /// The URL people reach the API at, for links in notifications (default: `advertise_url`, or http:// and the
    /// address it listens on).
    pub public_url: Option<String>,
    /// Notification rules, channels and delivery timings (`[notify]` in the config file).
    pub notify: NotifySettings,
    /// Where jobs' artifact files are stored: an `object_store` URL (`file:///srv/taskyard/artifacts`; a directory
    /// every node reaches, for several nodes). Default: `artifacts/` beside the SQLite file (or in the current
    /// directory on PostgreSQL).
    pub artifacts_url: Option<String>,
    /// The artifact store's options (credentials, endpoint, region, ...), by `object_store`'s names.
    pub artifacts_options: std::collections::BTreeMap<String, String>,
    /// Where each job attempt's artifacts directory is made (each server needs its own). Default:
    /// `artifacts-work/` beside the SQLite file (or in the current directory on PostgreSQL).
    pub artifacts_work_dir: Option<String>,
    /// Files a job attempt may keep; past it, files are listed as dropped.
    pub artifacts_max_files: u64,
    /// Bytes a job attempt may keep in all; a file that would pass it is listed as dropped.
    pub artifacts_max_bytes: u64,
    /// The executable whose hidden `supervise` subcommand runs the job supervisor (default: this executable). Not a
    /// setting of the file, environment or flags: an application that embeds taskyard in a binary of its own, and
    /// the tests, point it at a `taskyard` binary.
    #[serde(skip)]
    pub supervisor_program: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8000".into(),
            database_url: "sqlite://taskyard.db?mode=rwc".into(),
            allow: DEFAULT_ALLOW.iter().map(|s| s.to_string()).collect(),
            env_passthrough: Vec::new(),
            allow_env_hooks: Vec::new(),
            // Trivial jobs wait on a slot with fewer (see the benchmark chapter); each running job holds at
            // most two output tails of 1 MiB.
            max_concurrency: 16,
            api_keys: Vec::new(),
            keys: Vec::new(),
            output_max_bytes: 10 * 1024 * 1024,
            max_body_bytes: 1024 * 1024,
            result_max_bytes: 1024 * 1024,
            kill_grace_seconds: 5,
            sse_keepalive_seconds: 15,
            lease_seconds: 15,
            drain_seconds: 30,
            retention_days: 30.0,
            retention_max_output_bytes: 0,
            retention_check_seconds: 60,
            overdue_grace_seconds: 60,
            failing_runs: 3,
            database_max_connections: None,
            database_statement_timeout_seconds: 30,
            advertise_url: None,
            min_free_bytes: 256 * 1024 * 1024,
            metrics_public: false,
            log_format: LogFormat::Text,
            public_url: None,
            notify: NotifySettings::default(),
            artifacts_url: None,
            artifacts_options: Default::default(),
            artifacts_work_dir: None,
            artifacts_max_files: 100,
            artifacts_max_bytes: 100 * 1024 * 1024,
            supervisor_program: None,
        }
    }
}

impl Settings {
    /// The settings a TOML file sets, as a layer to merge. The file is read as settings first, so that a bad key
    /// or value is reported naming the file. Unknown keys are an error, so a typo never passes silently.
    pub fn file_layer(path: &Path) -> anyhow::Result<Layer> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        let invalid = |e: toml::de::Error| anyhow::anyhow!("config file {} is not valid: {e}", path.display());
        toml::from_str::<Settings>(&text).map_err(invalid)?;
        toml::from_str(&text).map_err(invalid)
    }

    /// The settings from merged layers (TOML key to value), over the defaults.
    pub fn from_layers(layers: Layer) -> anyhow::Result<Settings> {
        Settings::deserialize(layers).map_err(|e| anyhow::anyhow!("invalid setting: {e}"))
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let check = |ok: bool, msg: &str| if ok { Ok(()) } else { Err(anyhow::anyhow!("invalid setting: {msg}")) };
        check(!self.bind.trim().is_empty(), "bind must not be empty")?;
        check((1..=1024).contains(&self.max_concurrency), "max_concurrency must be between 1 and 1024")?;
        check(self.output_max_bytes >= 1024, "output_max_bytes must be at least 1024")?;
        check(self.max_body_bytes >= 1024, "max_body_bytes must be at least 1024")?;
        check(self.result_max_bytes >= 2, "result_max_bytes must be at least 2")?;
        check(self.sse_keepalive_seconds >= 1, "sse_keepalive_seconds must be at least 1")?;
        check((1..=3600).contains(&self.lease_seconds), "lease_seconds must be between 1 and 3600")?;
        check(self.drain_seconds <= 24 * 3600, "drain_seconds must be at most 86400")?;
        check(
            self.retention_days.is_finite() && (0.0..=36_500.0).contains(&self.retention_days),
            "retention_days must be between 0 (keep forever) and 36500",
        )?;
        check(self.retention_check_seconds >= 1, "retention_check_seconds must be at least 1")?;
        check(
            (1..=7 * 86_400).contains(&self.overdue_grace_seconds),
            "overdue_grace_seconds must be between 1 and 604800",
        )?;
        check(self.failing_runs <= 1000, "failing_runs must be at most 1000")?;
        check(
            self.database_max_connections.is_none_or(|n| (1..=1000).contains(&n)),
            "database_max_connections must be between 1 and 1000",
        )?;
        check(
            self.advertise_url.as_deref().is_none_or(|u| {
                (u.starts_with("http://") || u.starts_with("https://"))
                    && u.len() > 8
                    && !u.contains(char::is_whitespace)
            }),
            "advertise_url must be an http:// or https:// URL",
        )?;
        check(
            self.public_url.as_deref().is_none_or(|u| {
                (u.starts_with("http://") || u.starts_with("https://"))
                    && u.len() > 8
                    && !u.contains(char::is_whitespace)
            }),
            "public_url must be an http:// or https:// URL",
        )?;
        self.notify.resolve("http://check").map_err(|e| anyhow::anyhow!("invalid setting: {e}"))?;
        check(
            (1..=86_400).contains(&self.database_statement_timeout_seconds),
            "database_statement_timeout_seconds must be between 1 and 86400",
        )?;
        check((1..=100_000).contains(&self.artifacts_max_files), "artifacts_max_files must be between 1 and 100000")?;
        check(
            self.artifacts_url.as_deref().is_none_or(|u| u.contains("://")),
            "artifacts_url must be a URL such as file:///srv/taskyard/artifacts",
        )?;
        check(self.api_keys.iter().all(|k| k.len() >= 8), "every API key must be at least 8 characters")?;
        self.keyring()?;
        check(
            self.allow.iter().all(|p| {
                !p.trim().is_empty()
                    && !p.contains(char::is_whitespace)
                    && !p.contains('\0')
                    && (p.starts_with('/') || !p.contains('/'))
            }),
            "allow entries must be bare program names or absolute paths, without spaces",
        )?;
        check(
            self.env_passthrough.iter().all(|n| is_name(n) && !n.starts_with("TASKYARD_")),
            "env_passthrough entries must be variable names (letters, digits, '_'), and not TASKYARD_* (the \
             server's own settings, the API keys among them)",
        )?;
        check(
            self.allow_env_hooks.iter().all(|n| is_hook(n)),
            "allow_env_hooks entries must be refused start-up hook variables such as LD_PRELOAD or PYTHONPATH (other \
             variables are allowed anyway)",
        )?;
        Ok(())
    }

    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            allow: self.allow.clone(),
            env_passthrough: self.env_passthrough.iter().cloned().collect(),
            allow_env_hooks: self.allow_env_hooks.iter().cloned().collect(),
            max_concurrency: self.max_concurrency,
            output_max_bytes: self.output_max_bytes,
            result_max_bytes: self.result_max_bytes,
            kill_grace: Duration::from_secs(self.kill_grace_seconds),
            lease: Duration::from_secs(self.lease_seconds),
            retention_age: (self.retention_days > 0.0).then(|| Duration::from_secs_f64(self.retention_days * 86_400.0)),
            retention_max_output_bytes: (self.retention_max_output_bytes > 0)
                .then_some(self.retention_max_output_bytes),
            retention_every: Duration::from_secs(self.retention_check_seconds),
            overdue_grace: Duration::from_secs(self.overdue_grace_seconds),
            failing_runs: self.failing_runs,
            supervisor_program: self.supervisor_program.clone(),
            notify_channels: self.notify.channels.keys().cloned().collect(),

            artifacts: self.artifact_config(),
        }
    }

    /// The directory that defaults are relative to: the SQLite file's, or the current one.
    fn data_dir(&self) -> std::path::PathBuf {
        let dir = crate::store::sqlite_file(&self.database_url)
            .and_then(|file| file.parent().map(Path::to_path_buf))
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or_else(|| ".".into());
        std::path::absolute(&dir).unwrap_or(dir)
    }

    fn artifact_config(&self) -> ArtifactConfig {
        let data = self.data_dir();
        let default_url = || format!("file://{}", data.join("artifacts").display());
        ArtifactConfig {
            store_url: self.artifacts_url.clone().unwrap_or_else(default_url),
            store_options: self.artifacts_options.clone(),
            work_dir: self.artifacts_work_dir.as_ref().map_or_else(|| data.join("artifacts-work"), Into::into),
            max_files: self.artifacts_max_files,
            max_bytes: self.artifacts_max_bytes,
        }
    }

    pub fn db_options(&self) -> DbOptions {
        let sqlite = self.database_url.starts_with("sqlite:");
        DbOptions {
            max_connections: self.database_max_connections.unwrap_or(if sqlite { 8 } else { 16 }),
            statement_timeout: Duration::from_secs(self.database_statement_timeout_seconds),
            min_free_bytes: self.min_free_bytes,
        }
    }

    /// Every key the server accepts.
    pub fn keyring(&self) -> anyhow::Result<Keyring> {
        Keyring::new(&self.keys, &self.api_keys).map_err(|e| anyhow::anyhow!("invalid setting: keys: {e}"))
    }

    /// The notification set-up, its secrets read; `listening` is the address the server listens on (the link base
    /// when neither `public_url` nor `advertise_url` is set).
    pub fn notify_config(&self, listening: &str) -> anyhow::Result<NotifyConfig> {
        let base = self.public_url.clone().or_else(|| self.advertise_url.clone());
        let base = base.unwrap_or_else(|| format!("http://{listening}"));
        self.notify.resolve(&base).map_err(|e| anyhow::anyhow!("invalid setting: {e}"))
    }

    pub fn drain(&self) -> Duration {
        Duration::from_secs(self.drain_seconds)
    }
}
