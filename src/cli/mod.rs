//! The `taskyard` command line: `serve` runs the server; `service` installs it as a systemd service; `openapi` prints
//! the API document; the hidden `supervise` is the job supervisor that `serve` starts. The other commands are a
//! client of a running server (through `taskyard-client`): one file per group (`tasks`, `run`, `jobs`, `admin`, `functions`),
//! `follow` prints a followed job, `format` holds all output formatting, `remote` the server options, exit codes
//! and errors. This file only parses and dispatches.
pub mod admin;
pub mod follow;
pub mod format;
pub mod functions;
pub mod jobs;
pub mod remote;
pub mod run;
pub mod service;
pub mod tasks;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::RangedU64ValueParser;
use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use serde::Serialize;
use toml::Value;

use crate::config::{Layer, Settings};
use crate::domain::Scope;

#[derive(Debug, Parser)]
#[command(
    name = "taskyard",
    version,
    about = "A self-hosted task runner: stored commands, run as jobs, with live output over SSE",
    after_help = "Client commands talk to the server at --server or TASKYARD_URL (default http://127.0.0.1:8000), \
                  with the API key in TASKYARD_API_KEY if it needs one.\n\nExamples:\n  taskyard serve\n  \
                  taskyard task add 'echo hello {who}' --name greet -p who=world\n  taskyard run greet --follow\n  \
                  taskyard jobs --status failed"
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
    /// Make API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// The job supervisor, started by `serve` with its control socket as stdin (see `engine::supervisor`).
    #[command(hide = true)]
    Supervise,
    #[command(flatten)]
    Client(Box<ClientCommand>),
}

/// The commands that talk to a running server.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create, list, show, change and delete tasks.
    Task(tasks::TaskArgs),
    /// Run a task: print the job id, or follow the job, or wait for it and exit with its outcome.
    Run(run::RunArgs),
    /// List jobs, newest first.
    Jobs(jobs::JobsArgs),
    /// Show a job.
    #[command(after_help = "Example:\n  taskyard job 01JF3Q6Z8V3K4W2M1N0P9R8S7T --output json")]
    Job(jobs::JobArgs),
    /// Print a job's output; -f follows it live.
    Logs(jobs::LogsArgs),
    /// Cancel a pending or running job.
    #[command(after_help = "Example:\n  taskyard cancel 01JF3Q6Z8V3K4W2M1N0P9R8S7T")]
    Cancel(jobs::JobArgs),
    /// Run a finished job again as it was submitted: prints the new job's id.
    #[command(after_help = "Example:\n  taskyard retry 01JF3Q6Z8V3K4W2M1N0P9R8S7T")]
    Retry(jobs::JobArgs),
    /// List orphaned tasks; exits 1 when there is any.
    Orphans(admin::OrphansArgs),
    /// List the nodes that serve the database.
    Nodes(admin::NodesArgs),
    /// List the registered Rust functions, or show one with the schema of its params.
    Functions(functions::FunctionsArgs),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  taskyard completions bash > ~/.local/share/bash-completion/completions/taskyard
  taskyard completions zsh > ~/.zfunc/_taskyard
  taskyard completions fish > ~/.config/fish/completions/taskyard.fish")]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: Shell,
    },
}

impl ClientCommand {
    /// Runs the command (or prints completions): its exit code.
    pub fn run(self) -> ExitCode {
        use remote::main;
        match self {
            ClientCommand::Task(args) => main(tasks::main(args)),
            ClientCommand::Run(args) => main(run::main(args)),
            ClientCommand::Jobs(args) => main(jobs::list(args)),
            ClientCommand::Job(args) => main(jobs::show(args)),
            ClientCommand::Logs(args) => main(jobs::logs(args)),
            ClientCommand::Cancel(args) => main(jobs::cancel(args)),
            ClientCommand::Retry(args) => main(jobs::retry(args)),
            ClientCommand::Orphans(args) => main(admin::orphans(args)),
            ClientCommand::Nodes(args) => main(admin::nodes(args)),
            ClientCommand::Functions(args) => main(functions::main(args)),
            ClientCommand::Completions { shell } => {
                clap_complete::generate(shell, &mut Cli::command(), "taskyard", &mut std::io::stdout());
                ExitCode::SUCCESS
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a random key and print it once, with the config lines that hold its digest (the key is stored nowhere).
    New {
        /// The key's name, as the audit log and the server's log show it.
        #[arg(long)]
        name: String,
        /// read (GETs and streams), execute (also run, cancel and retry jobs) or admin (also tasks, settings and
        /// the audit log).
        #[arg(long)]
        scope: Scope,
    },
}

impl KeyCommand {
    /// What `taskyard key ...` prints.
    pub fn run(&self) -> anyhow::Result<String> {
        match self {
            KeyCommand::New { name, scope } => {
                let (key, entry) = crate::access::new_key(name, *scope)?;
                let table = toml::to_string(&entry)?;
                Ok(format!(
                    "{key}\n\n# The key above is shown only now. Add these lines to the server's config file:\n\
                     [[keys]]\n{table}"
                ))
            }
        }
    }
}

/// Settings come from defaults < the TOML file < TASKYARD_* environment variables < these flags. Each field is
/// named as its TOML key (see [`Settings`]).
#[derive(Debug, Args, Serialize)]
#[command(after_help = "API keys: `taskyard key new --name NAME --scope read|execute|admin` prints a key and the \
                        [[keys]] lines for the config file; TASKYARD_API_KEY (or `api_keys = [...]`) sets an admin \
                        key. With any key set, every /api route needs the X-API-Key header. Keys are not accepted as \
                        flags, so they never show in the process list.")]
pub struct ServeArgs {
    /// TOML config file (keys: bind, database_url, allow, env_passthrough, allow_env_hooks, max_concurrency,
    /// api_keys, keys, output_max_bytes, max_body_bytes, result_max_bytes, kill_grace_seconds, sse_keepalive_seconds,
    /// lease_seconds, drain_seconds, retention_days, retention_max_output_bytes, retention_check_seconds,
    /// overdue_grace_seconds, failing_runs, database_max_connections,
    /// database_statement_timeout_seconds, advertise_url, min_free_bytes, metrics_public, log_format).
    #[arg(long, env = "TASKYARD_CONFIG", value_name = "FILE")]
    #[serde(skip)]
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
    /// Jobs run at once [default: 16].
    #[arg(long, env = "TASKYARD_MAX_CONCURRENCY", value_name = "N", value_parser = up_to_i64::<usize>())]
    pub max_concurrency: Option<usize>,
    /// Stored output per stream per job, in bytes; the rest is counted, not stored [default: 10485760].
    #[arg(long, env = "TASKYARD_OUTPUT_MAX_BYTES", value_name = "BYTES", value_parser = up_to_i64::<u64>())]
    pub output_max_bytes: Option<u64>,
    /// Largest accepted request body, in bytes [default: 1048576].
    #[arg(long, env = "TASKYARD_MAX_BODY_BYTES", value_name = "BYTES", value_parser = up_to_i64::<usize>())]
    pub max_body_bytes: Option<usize>,
    /// Largest result a registered function may return, in bytes of JSON [default: 1048576].
    #[arg(long, env = "TASKYARD_RESULT_MAX_BYTES", value_name = "BYTES", value_parser = up_to_i64::<u64>())]
    pub result_max_bytes: Option<u64>,
    /// Seconds between SIGTERM and SIGKILL when a job is canceled or times out [default: 5].
    #[arg(long, env = "TASKYARD_KILL_GRACE_SECONDS", value_name = "SECONDS", value_parser = up_to_i64::<u64>())]
    pub kill_grace_seconds: Option<u64>,
    /// Seconds a job's claim lasts without renewal; a job whose runner died is rescued about this long after
    /// [default: 15].
    #[arg(long, env = "TASKYARD_LEASE_SECONDS", value_name = "SECONDS", value_parser = up_to_i64::<u64>())]
    pub lease_seconds: Option<u64>,
    /// On SIGTERM/SIGINT, seconds running jobs may take to finish before they are stopped and handed back
    /// [default: 30]. A second signal stops at once.
    #[arg(long, env = "TASKYARD_DRAIN_SECONDS", value_name = "SECONDS", value_parser = up_to_i64::<u64>())]
    pub drain_seconds: Option<u64>,
    /// Delete finished jobs and their output after this many days; 0 keeps them [default: 30].
    #[arg(long, env = "TASKYARD_RETENTION_DAYS", value_name = "DAYS")]
    pub retention_days: Option<f64>,
    /// Delete the oldest finished jobs while their stored output exceeds this many bytes; 0: no cap [default: 0].
    #[arg(long, env = "TASKYARD_RETENTION_MAX_OUTPUT_BYTES", value_name = "BYTES", value_parser = up_to_i64::<u64>())]
    pub retention_max_output_bytes: Option<u64>,
    /// Database connections: PostgreSQL's pool size, or SQLite's readers [default: 16 on PostgreSQL, 8 on SQLite].
    #[arg(long, env = "TASKYARD_DATABASE_MAX_CONNECTIONS", value_name = "N")]
    pub database_max_connections: Option<u32>,
    /// PostgreSQL statement timeout in seconds [default: 30].
    #[arg(long, env = "TASKYARD_DATABASE_STATEMENT_TIMEOUT_SECONDS", value_name = "SECONDS", value_parser = up_to_i64::<u64>())]
    pub database_statement_timeout_seconds: Option<u64>,
    /// The URL this node's API is reached at, for the node registry [default: http://<listening address>].
    #[arg(long, env = "TASKYARD_ADVERTISE_URL", value_name = "URL")]
    pub advertise_url: Option<String>,
    /// SQLite: below this much free disk space under the database, refuse new jobs and task writes (507) and store
    /// no more job output, until there is room; 0 turns it off [default: 268435456 (256 MiB)].
    #[arg(long, env = "TASKYARD_MIN_FREE_BYTES", value_name = "BYTES", value_parser = up_to_i64::<u64>())]
    pub min_free_bytes: Option<u64>,
    /// Serve /metrics without an API key even when keys are configured [default: false].
    #[arg(long, env = "TASKYARD_METRICS_PUBLIC", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub metrics_public: Option<bool>,
    /// Log lines as `text` (readable) or `json` (one object per line) [default: text].
    #[arg(long, env = "TASKYARD_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Where jobs' artifact files are stored: an object store URL such as file:///srv/taskyard/artifacts (shared by
    /// every node) [default: artifacts/ beside the SQLite file, or in the current directory].
    #[arg(long, env = "TASKYARD_ARTIFACTS_URL", value_name = "URL")]
    pub artifacts_url: Option<String>,
    /// Where each job attempt's artifacts directory is made; each server needs its own [default: artifacts-work/
    /// beside the SQLite file, or in the current directory].
    #[arg(long, env = "TASKYARD_ARTIFACTS_WORK_DIR", value_name = "DIR")]
    pub artifacts_work_dir: Option<String>,
    /// Files a job attempt may keep [default: 100].
    #[arg(long, env = "TASKYARD_ARTIFACTS_MAX_FILES", value_name = "N", value_parser = up_to_i64::<u64>())]
    pub artifacts_max_files: Option<u64>,
    /// Bytes a job attempt may keep in all [default: 104857600 (100 MiB)].
    #[arg(long, env = "TASKYARD_ARTIFACTS_MAX_BYTES", value_name = "BYTES", value_parser = up_to_i64::<u64>())]
    pub artifacts_max_bytes: Option<u64>,
}

/// A count or size: up to `i64::MAX`, as in the TOML file (whose integers are 64-bit signed), whichever source
/// gives it.
fn up_to_i64<T: TryFrom<u64> + Clone + Send + Sync + 'static>() -> RangedU64ValueParser<T> {
    RangedU64ValueParser::new().range(0..=i64::MAX as u64)
}

impl ServeArgs {
    /// The settings, layered once: defaults < the file (if any) < what clap took from `TASKYARD_*` variables and
    /// flags (it already puts flags over variables). Every setting given here is a field named as its TOML key,
    /// so the layers merge key by key without a line per setting.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut layers = match &self.config {
            Some(path) => Settings::file_layer(path)?,
            None => Layer::new(),
        };
        layers.extend(self.layer()?);
        if let Ok(key) = std::env::var("TASKYARD_API_KEY")
            && !key.is_empty()
        {
            // No flag: a key on the command line would show in the process list.
            layers.insert("api_keys".into(), toml::Value::Array(vec![key.into()]));
        }
        Settings::from_layers(layers)
    }

    /// The settings clap found in the environment or the flags; one it did not find (no value, or an empty list)
    /// is left to the layers below.
    fn layer(&self) -> anyhow::Result<Layer> {
        let mut layer = Layer::try_from(self)?;
        layer.retain(|_, value| !matches!(value, Value::Array(items) if items.is_empty()));
        // `TASKYARD_ALLOW=echo, true,` means echo and true.
        if let Some(Value::Array(programs)) = layer.get_mut("allow") {
            programs.retain_mut(|p| match p {
                Value::String(name) => {
                    *name = name.trim().to_string();
                    !name.is_empty()
                }
                _ => true,
            });
            if programs.is_empty() {
                layer.remove("allow");
            }
        }
        Ok(layer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from([&["taskyard", "serve"], args].concat()).expect("the arguments parse");
        match cli.command {
            Command::Serve(args) => *args,
            _ => panic!("not serve"),
        }
    }

    #[test]
    fn flags_go_over_the_file_and_the_file_over_the_defaults() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("taskyard.toml");
        std::fs::write(&file, "lease_seconds = 3\ndrain_seconds = 2\nallow = [\"sleep\"]\n").expect("write");
        let path = file.display().to_string();
        let s = serve(&["--config", &path, "--drain-seconds", "7", "--allow", " echo, ,true"]).settings().unwrap();
        assert_eq!((s.lease_seconds, s.drain_seconds), (3, 7));
        assert_eq!(s.allow, ["echo", "true"]);
        assert_eq!(s.max_concurrency, Settings::default().max_concurrency);
        let s = serve(&["--config", &path]).settings().unwrap();
        assert_eq!(s.allow, ["sleep"]);
    }

    #[test]
    fn a_size_past_what_the_file_can_hold_is_refused_naming_the_flag() {
        let max = i64::MAX.to_string();
        assert_eq!(serve(&["--output-max-bytes", &max]).settings().unwrap().output_max_bytes, i64::MAX as u64);
        let args = ["taskyard", "serve", "--output-max-bytes", "9223372036854775808"];
        let err = Cli::try_parse_from(args).expect_err("past i64::MAX");
        assert!(err.to_string().contains("--output-max-bytes"), "{err}");
    }

    #[test]
    fn metrics_public_and_log_format_reach_the_settings() {
        use crate::config::LogFormat;
        let s = serve(&[]).settings().unwrap();
        assert_eq!((s.metrics_public, s.log_format), (false, LogFormat::Text));
        let s = serve(&["--metrics-public", "--log-format", "json"]).settings().unwrap();
        assert_eq!((s.metrics_public, s.log_format), (true, LogFormat::Json));
        assert!(!serve(&["--metrics-public", "false"]).settings().unwrap().metrics_public);
        // An option where the value belongs is refused by the parser; given with `=`, by the settings.
        assert!(Cli::try_parse_from(["taskyard", "serve", "--log-format", "--json"]).is_err());
        let err = serve(&["--log-format=--json"]).settings();
        assert!(err.is_err_and(|e| e.to_string().contains("log_format")));
    }

    #[test]
    fn a_new_key_prints_config_lines_the_server_reads() {
        let cli = Cli::try_parse_from(["taskyard", "key", "new", "--name", "ci", "--scope", "execute"]).unwrap();
        let Command::Key(command) = cli.command else { panic!("not key") };
        let printed = command.run().unwrap();
        let key = printed.lines().next().unwrap();
        assert!(key.starts_with(crate::access::KEY_PREFIX), "{printed}");
        let (_, config) = printed.split_once('\n').unwrap();
        let settings: Settings = toml::from_str(config).expect("the printed lines are a config file");
        assert_eq!(settings.keys.len(), 1);
        assert!(!printed[key.len()..].contains(&key[4..]), "the key itself is not in the config lines");
        assert!(printed.lines().any(|l| l == "[[keys]]"), "{printed}");
        let found = settings.keyring().unwrap().identify(key.as_bytes()).expect("the key is known");
        assert_eq!((found.name.as_str(), found.scope), ("ci", Scope::Execute));
        assert!(Cli::try_parse_from(["taskyard", "key", "new", "--name", "ci", "--scope", "root"]).is_err());
    }

    #[test]
    fn artifact_settings_reach_the_settings() {
        let s = serve(&["--artifacts-url", "file:///srv/a", "--artifacts-max-files", "7"]).settings().unwrap();
        assert_eq!((s.artifacts_url.as_deref(), s.artifacts_max_files), (Some("file:///srv/a"), 7));
        assert_eq!(s.artifacts_max_bytes, Settings::default().artifacts_max_bytes);
        let s = serve(&["--artifacts-max-files", "0"]).settings().unwrap();
        assert!(s.validate().is_err_and(|e| e.to_string().contains("artifacts_max_files")));
    }

    #[test]
    fn a_retention_that_is_not_a_number_is_not_taken_for_unset() {
        let s = serve(&["--retention-days", "NaN"]).settings().unwrap();
        assert!(s.retention_days.is_nan());
        let err = s.validate().expect_err("NaN days");
        assert!(err.to_string().contains("retention_days"), "{err}");
    }
}
