//! The `taskyard` command line: `serve` runs the server; `service` installs it as a systemd service; `openapi` prints
//! the API document.
pub mod service;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "taskyard",
    version,
    about = "A self-hosted task runner: stored commands, run as jobs, with live output over SSE"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (SQLite file ./taskyard.db and 127.0.0.1:8000 unless told otherwise).
    Serve(Box<ServeArgs>),
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
    /// Install taskyard as a systemd service, remove it, or show it.
    Service(service::ServiceArgs),
}

/// Settings come from defaults < the TOML file < TASKYARD_* environment variables < these flags.
#[derive(Debug, Args)]
#[command(after_help = "API keys: set TASKYARD_API_KEY (or `api_keys = [...]` in the config file) to require the \
                        X-API-Key header on every /api route. Keys are not accepted as flags, so they never show in \
                        the process list.")]
pub struct ServeArgs {
    /// TOML config file (keys: bind, database_url, allow, env_passthrough, allow_env_hooks, max_concurrency,
    /// api_keys, output_max_bytes, max_body_bytes, kill_grace_seconds, sse_keepalive_seconds, lease_seconds,
    /// drain_seconds, retention_days, retention_max_output_bytes, retention_check_seconds, database_max_connections,
    /// database_statement_timeout_seconds, advertise_url, min_free_bytes).
    #[arg(long, env = "TASKYARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8000].
    #[arg(long, env = "TASKYARD_BIND", value_name = "ADDR")]
    pub bind: Option<String>,
    /// sqlite://PATH?mode=rwc or postgres://USER@HOST/DB [default: sqlite://taskyard.db?mode=rwc].
    #[arg(long, env = "TASKYARD_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// A program tasks may run (argv[0], exact match): a bare name, resolved on the server's PATH at start, or an
    /// absolute path; repeat for more. Replaces the default list (echo, true, false, sleep, printf). The
    /// environment variable takes a comma-separated list.
    #[arg(long = "allow", env = "TASKYARD_ALLOW", value_name = "PROGRAM", value_delimiter = ',')]
    pub allow: Vec<String>,
    /// A variable of the server's environment that jobs get too (besides PATH, HOME, LANG, LANGUAGE, LC_*, TZ,
    /// USER, LOGNAME); repeat for more, or a comma-separated list in the environment variable.
    #[arg(long = "env-passthrough", env = "TASKYARD_ENV_PASSTHROUGH", value_name = "NAME", value_delimiter = ',')]
    pub env_passthrough: Vec<String>,
    /// A start-up hook variable (LD_PRELOAD, PYTHONPATH, PATH, ...) that tasks may set all the same; repeat for
    /// more. Such a variable lets whoever creates tasks choose code that allowed programs load.
    #[arg(long = "allow-env-hook", env = "TASKYARD_ALLOW_ENV_HOOKS", value_name = "NAME", value_delimiter = ',')]
    pub allow_env_hooks: Vec<String>,
    /// Jobs run at once [default: 5].
    #[arg(long, env = "TASKYARD_MAX_CONCURRENCY", value_name = "N")]
    pub max_concurrency: Option<usize>,
    /// Stored output per stream per job, in bytes; the rest is counted, not stored [default: 10485760].
    #[arg(long, env = "TASKYARD_OUTPUT_MAX_BYTES", value_name = "BYTES")]
    pub output_max_bytes: Option<u64>,
    /// Largest accepted request body, in bytes [default: 1048576].
    #[arg(long, env = "TASKYARD_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Seconds between SIGTERM and SIGKILL when a job is canceled or times out [default: 5].
    #[arg(long, env = "TASKYARD_KILL_GRACE_SECONDS", value_name = "SECONDS")]
    pub kill_grace_seconds: Option<u64>,
    /// Seconds a job's claim lasts without renewal; a job whose runner died is rescued about this long after
    /// [default: 15].
    #[arg(long, env = "TASKYARD_LEASE_SECONDS", value_name = "SECONDS")]
    pub lease_seconds: Option<u64>,
    /// On SIGTERM/SIGINT, seconds running jobs may take to finish before they are stopped and handed back
    /// [default: 30]. A second signal stops at once.
    #[arg(long, env = "TASKYARD_DRAIN_SECONDS", value_name = "SECONDS")]
    pub drain_seconds: Option<u64>,
    /// Delete finished jobs and their output after this many days; 0 keeps them [default: 30].
    #[arg(long, env = "TASKYARD_RETENTION_DAYS", value_name = "DAYS")]
    pub retention_days: Option<f64>,
    /// Delete the oldest finished jobs while their stored output exceeds this many bytes; 0: no cap [default: 0].
    #[arg(long, env = "TASKYARD_RETENTION_MAX_OUTPUT_BYTES", value_name = "BYTES")]
    pub retention_max_output_bytes: Option<u64>,
    /// Database connections: PostgreSQL's pool size, or SQLite's readers [default: 16 on PostgreSQL, 8 on SQLite].
    #[arg(long, env = "TASKYARD_DATABASE_MAX_CONNECTIONS", value_name = "N")]
    pub database_max_connections: Option<u32>,
    /// PostgreSQL statement timeout in seconds [default: 30].
    #[arg(long, env = "TASKYARD_DATABASE_STATEMENT_TIMEOUT_SECONDS", value_name = "SECONDS")]
    pub database_statement_timeout_seconds: Option<u64>,
    /// The URL this node's API is reached at, for the node registry [default: http://<listening address>].
    #[arg(long, env = "TASKYARD_ADVERTISE_URL", value_name = "URL")]
    pub advertise_url: Option<String>,
    /// SQLite: below this much free disk space under the database, refuse new jobs and task writes (507) and store
    /// no more job output, until there is room; 0 turns it off [default: 268435456 (256 MiB)].
    #[arg(long, env = "TASKYARD_MIN_FREE_BYTES", value_name = "BYTES")]
    pub min_free_bytes: Option<u64>,
}

impl ServeArgs {
    /// Layers the file (if any), then the environment and flags (clap has already put flags over env).
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut s = match &self.config {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        if let Some(v) = &self.bind {
            s.bind = v.clone();
        }
        if let Some(v) = &self.database_url {
            s.database_url = v.clone();
        }
        let allow: Vec<String> = self.allow.iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect();
        if !allow.is_empty() {
            s.allow = allow;
        }
        if !self.env_passthrough.is_empty() {
            s.env_passthrough = self.env_passthrough.clone();
        }
        if !self.allow_env_hooks.is_empty() {
            s.allow_env_hooks = self.allow_env_hooks.clone();
        }
        if let Some(v) = self.max_concurrency {
            s.max_concurrency = v;
        }
        if let Some(v) = self.output_max_bytes {
            s.output_max_bytes = v;
        }
        if let Some(v) = self.max_body_bytes {
            s.max_body_bytes = v;
        }
        if let Some(v) = self.kill_grace_seconds {
            s.kill_grace_seconds = v;
        }
        if let Some(v) = self.lease_seconds {
            s.lease_seconds = v;
        }
        if let Some(v) = self.drain_seconds {
            s.drain_seconds = v;
        }
        if let Some(v) = self.retention_days {
            s.retention_days = v;
        }
        if let Some(v) = self.retention_max_output_bytes {
            s.retention_max_output_bytes = v;
        }
        if let Some(v) = self.database_max_connections {
            s.database_max_connections = Some(v);
        }
        if let Some(v) = self.database_statement_timeout_seconds {
            s.database_statement_timeout_seconds = v;
        }
        if let Some(v) = &self.advertise_url {
            s.advertise_url = Some(v.clone());
        }
        if let Some(v) = self.min_free_bytes {
            s.min_free_bytes = v;
        }
        if let Ok(key) = std::env::var("TASKYARD_API_KEY")
            && !key.is_empty()
        {
            s.api_keys = vec![key];
        }
        Ok(s)
    }
}
