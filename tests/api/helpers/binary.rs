//! The real `taskyard` binary as a child process, for what only a real process shows: `kill -9`, SIGTERM and SIGINT,
//! exit codes, and the lock on the SQLite file. Started on port 0 with its own flags and environment.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{TestApp, TestDb};

/// How long the binary may take to log `listening on http://...`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The database URL of the SQLite file in `dir` (the same file [`TestDb::sqlite`] names).
pub fn sqlite_url(dir: &Path) -> String {
    TestDb::sqlite(dir).url().to_string()
}

/// A running `taskyard serve`. Killed when dropped; when the test is failing, its log is printed first, so that a
/// failure shows what the server said.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`
    pub address: String,
    /// Its process id, also after it exited.
    pub pid: u32,
    log: Arc<Mutex<Vec<String>>>,
    /// Where its job artifacts go when the test does not say (never the current directory); removed with it.
    _scratch: Option<TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(400).collect::<Vec<_>>().into_iter().rev().collect();
            eprintln!(
                "---- last lines of the log of taskyard {} (pid {}) ----\n{}",
                self.address,
                self.pid,
                tail.join("\n")
            );
        }
        let _ = self.child.start_kill();
    }
}

/// A `taskyard serve` that ended (or hung) before it listened.
#[derive(Debug)]
pub struct DidNotStart {
    /// `None` when it neither listened nor exited in time.
    pub status: Option<ExitStatus>,
    /// Its stderr.
    pub log: String,
}

/// Drops ANSI escape sequences, in case the log is coloured after all.
fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `127.0.0.1:PORT` from a line containing `listening on http://127.0.0.1:PORT`.
pub fn listening_address(line: &str) -> Option<String> {
    let line = strip_ansi(line);
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    let address: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
    address.contains(':').then_some(address)
}

/// Starts `taskyard serve --bind 127.0.0.1:0 --database-url URL ARGS...` with no `TASKYARD_*` variable but `env`,
/// and waits until it listens. Panics with its stderr when it does not.
pub async fn serve(database_url: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
    match try_serve(database_url, args, env).await {
        Ok(server) => server,
        Err(failed) => panic!("taskyard serve did not start (exit {:?}); its stderr:\n{}", failed.status, failed.log),
    }
}

/// Like [`serve`], but a server that exits before it listens is an answer, not a failure.
pub async fn try_serve(database_url: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Server, DidNotStart> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_taskyard"));
    command.arg("serve");
    start_server(command, database_url, args, env).await
}

/// Starts the example server `examples/NAME.rs` (built beside the binary by `cargo test`, which builds the
/// examples) as [`serve`] starts `taskyard serve`.
pub async fn serve_example(name: &str, database_url: &str, args: &[&str]) -> Server {
    let program = Path::new(env!("CARGO_BIN_EXE_taskyard")).with_file_name("examples").join(name);
    assert!(program.exists(), "{} is missing: build the examples first (cargo build --examples)", program.display());
    match start_server(Command::new(program), database_url, args, &[]).await {
        Ok(server) => server,
        Err(failed) => panic!("example {name} did not start (exit {:?}); its stderr:\n{}", failed.status, failed.log),
    }
}

async fn start_server(
    mut command: Command,
    database_url: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<Server, DidNotStart> {
    command.args(["--bind", "127.0.0.1:0", "--database-url", database_url]);
    // As in `spawn_app`: free disk space is pinned off unless the test sets it.
    if !args.iter().any(|a| a.starts_with("--min-free-bytes"))
        && !env.iter().any(|(k, _)| *k == "TASKYARD_MIN_FREE_BYTES")
    {
        command.args(["--min-free-bytes", "0"]);
    }
    // Artifacts go to a scratch directory of the server's own unless the test says where.
    let says = |name: &str| args.iter().any(|a| a.starts_with(&format!("--{name}")));
    let scratch = (!says("artifacts-url") && !says("artifacts-work-dir")).then(|| {
        let scratch = tempfile::tempdir().expect("a scratch dir for artifacts");
        command.arg("--artifacts-url").arg(format!("file://{}", scratch.path().join("artifacts").display()));
        command.arg("--artifacts-work-dir").arg(scratch.path().join("artifacts-work"));
        scratch
    });
    command
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("TASKYARD_") {
            command.env_remove(key);
        }
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("start the taskyard binary");
    let pid = child.id().expect("a running child has a pid");
    let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let log = Arc::new(Mutex::new(Vec::new()));

    let listening = tokio::time::timeout(START_TIMEOUT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            let address = listening_address(&line);
            log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            if address.is_some() {
                return address;
            }
        }
        None
    })
    .await;
    match listening {
        Ok(Some(address)) => {
            // Keep draining stderr, so that the server never blocks on a full pipe, and keep it for messages.
            let sink = log.clone();
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
            Ok(Server { child, address, pid, log, _scratch: scratch })
        }
        _ => {
            let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.ok().and_then(Result::ok);
            let log = log.lock().expect("log lock").join("\n");
            Err(DidNotStart { status, log })
        }
    }
}

impl Server {
    /// A client for this server; `dir` holds its SQLite database.
    pub fn app(&self, dir: &Arc<TempDir>) -> TestApp {
        TestApp::external(&self.address, dir.clone(), Arc::new(TestDb::sqlite(dir.path())))
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid as i32), signal).unwrap_or_else(|e| panic!("send {signal} to the server: {e}"));
    }

    /// `kill -9`, and reap it.
    pub async fn kill9(&mut self) {
        self.child.kill().await.expect("SIGKILL the server");
    }

    /// Waits for the server to exit on its own; panics with its log after `deadline`.
    pub async fn exit_within(&mut self, deadline: Duration) -> ExitStatus {
        match tokio::time::timeout(deadline, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => panic!("waiting for the server failed: {e}"),
            Err(_) => panic!("the server did not exit within {deadline:?}; its log:\n{}", self.log()),
        }
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).join("\n")
    }
}

#[test]
fn the_listening_line_is_parsed() {
    assert_eq!(
        listening_address("2026-01-01T00:00:00Z  INFO taskyard: listening on http://127.0.0.1:41234 (docs at /docs/)"),
        Some("127.0.0.1:41234".to_string())
    );
    assert_eq!(
        listening_address("\u{1b}[32mINFO\u{1b}[0m listening on http://127.0.0.1:5"),
        Some("127.0.0.1:5".into())
    );
    assert_eq!(listening_address("starting up"), None);
}

/// The environment that runs a process under libfaketime (Debian package `faketime`) with `FAKETIME=spec`: an
/// offset (`+60s`) sets its wall clock that far off, `@2026-01-01 00:30:00` starts it at that time; either way the
/// clock runs on and the monotonic clock stays true, as on a machine whose clock is merely wrong.
pub fn faketime(spec: &str) -> Vec<(&'static str, String)> {
    let lib = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib"]
        .iter()
        .map(|dir| format!("{dir}/faketime/libfaketime.so.1"))
        .find(|path| Path::new(path).exists())
        .unwrap_or_else(|| panic!("libfaketime not found: install it with `apt-get install -y faketime`"));
    vec![
        ("LD_PRELOAD", lib),
        ("FAKETIME", spec.to_string()),
        ("FAKETIME_NO_CACHE", "1".to_string()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_string()),
    ]
}

/// `vars` as the `env` of [`serve`] takes them.
pub fn env_of<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}
