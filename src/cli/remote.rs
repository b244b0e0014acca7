//! What every client command shares: where the server is, how to print, and how errors become exit codes.
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use taskyard_client::{Client, Error};

/// Exit codes of the client commands (besides 0, and a job's own exit code for `run --wait/--follow`). They sit
/// above the sysexits range (64-78) and below 126, so they collide with no shell or sysexits meaning.
pub mod code {
    /// The job ran past its timeout and was killed.
    pub const TIMEOUT: u8 = 80;
    /// The job was killed by a signal it did not get from taskyard.
    pub const SIGNAL: u8 = 81;
    /// The job's runner died (or the server stopped) while it ran, and it was not run again.
    pub const LOST: u8 = 82;
    /// The job was canceled.
    pub const CANCELED: u8 = 83;
    /// The job's program could not be started.
    pub const SPAWN_ERROR: u8 = 84;
    /// The server could not be reached.
    pub const UNREACHABLE: u8 = 85;
    /// The server refused the request (no such task or job, invalid input, missing API key, ...).
    pub const REFUSED: u8 = 86;
    /// Something went wrong on the server, or the answer could not be read.
    pub const SERVER: u8 = 87;
    /// Bad arguments (as clap exits on its own).
    pub const USAGE: u8 = 2;
    /// `orphans`: at least one task is orphaned.
    pub const ORPHANS: u8 = 1;
}

/// The exit codes as `--help` shows them.
pub const EXIT_CODES: &str = "Exit codes:
  0    done (for run --wait/--follow: the job completed)
  1    orphans: a task is orphaned
  N    run --wait/--follow: the job exited with code N (1-255); 1 also for a function's error or panic
  2    bad arguments
  80   the job timed out            81  the job was killed by a signal
  82   the job was lost             83  the job was canceled
  84   the job's program could not be started
  85   the server could not be reached
  86   the server refused the request (unknown task or job, invalid input, API key)
  87   the server failed, or its answer could not be read";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables and lines for people.
    Text,
    /// One JSON document (JSON lines for streams), for scripts.
    Json,
}

/// Where the server is and how to print: flattened into every client command.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// The server's URL.
    #[arg(long, env = "TASKYARD_URL", value_name = "URL", default_value = "http://127.0.0.1:8000", global = true)]
    pub server: String,
    /// `text` for people, `json` for scripts.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,
}

impl Remote {
    /// A client of the server, with `TASKYARD_API_KEY` (read from the environment only, so the key never shows in
    /// the process list).
    pub fn client(&self) -> Result<Client, Failure> {
        let client = match std::env::var("TASKYARD_API_KEY") {
            Ok(key) if !key.is_empty() => Client::with_api_key(&self.server, &key),
            _ => Client::new(&self.server),
        };
        client.map_err(|e| Failure::new(code::REFUSED, e.to_string()))
    }

    pub fn json(&self) -> bool {
        self.output == Output::Json
    }
}

/// A client command that did not succeed: its exit code and the one line that says what to do.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    /// Empty: nothing more to say (what happened is printed already).
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }

    /// An exit with `code` and nothing more to print.
    pub fn quiet(code: u8) -> Failure {
        Failure { code, message: String::new() }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        match &err {
            Error::Unreachable { .. } => {
                Failure::new(code::UNREACHABLE, format!("{err}; is the server running? (taskyard serve)"))
            }
            Error::Api(problem) if problem.code == "unauthorized" => Failure::new(
                code::REFUSED,
                format!("{}; set TASKYARD_API_KEY to one of the server's API keys", problem.detail),
            ),
            Error::Api(problem) if problem.status >= 500 => {
                Failure::new(code::SERVER, format!("{} ({})", problem.detail, problem.code))
            }
            Error::Api(problem) => Failure::new(code::REFUSED, format!("{} ({})", problem.detail, problem.code)),
            Error::InvalidUrl { .. } => Failure::new(code::REFUSED, format!("{err} (see --server or TASKYARD_URL)")),
            Error::Unexpected { .. } => Failure::new(code::SERVER, err.to_string()),
        }
    }
}

/// Runs a client command on a small runtime of its own and turns its failure into one line on stderr.
pub fn main<F: Future<Output = Result<ExitCode, Failure>>>(command: F) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("taskyard: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(code) => code,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("taskyard: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}
