//! The server under test: a `taskyard serve` child process, its address, its log and its memory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::api::Api;

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) pid: u32,
    pub(crate) addr: String,
    /// Its stderr after the `listening on` line.
    pub(crate) log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `bin serve` on 127.0.0.1:0 (with `extra` flags; `max_concurrency` 0: the server's default) and learns its port from the
    /// `listening on http://ADDR` log line. The database is `dir`/bench.db.
    pub(crate) async fn start(bin: &Path, dir: &Path, max_concurrency: usize, extra: &[&str]) -> Result<Server> {
        let database_url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
        Server::start_on(bin, dir, &database_url, max_concurrency, extra).await
    }

    /// [`Server::start`] on any database, e.g. a PostgreSQL one shared with other nodes; `dir` is the working
    /// directory.
    pub(crate) async fn start_on(
        bin: &Path,
        dir: &Path,
        database_url: &str,
        max_concurrency: usize,
        extra: &[&str],
    ) -> Result<Server> {
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--database-url"]).arg(database_url);
        if max_concurrency > 0 {
            cmd.arg("--max-concurrency").arg(max_concurrency.to_string());
        }
        cmd.args(extra)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // The caller's TASKYARD_* settings (an API key, another allow-list) would change what is measured.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TASKYARD_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd.spawn().with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = listening_addr(&line) {
                    return Ok(Some(addr));
                }
                seen.push(line);
            }
            Ok::<_, std::io::Error>(None)
        })
        .await;
        let addr = match found {
            Ok(Ok(Some(addr))) => addr,
            other => {
                let why = match other {
                    Err(_) => "no `listening on http://` line within 30 s".to_string(),
                    Ok(Err(err)) => format!("reading its stderr failed: {err}"),
                    _ => "it exited before logging `listening on http://`".to_string(),
                };
                let _ = child.kill().await;
                bail!("the server did not start ({why}); its stderr:\n{}", seen.join("\n"));
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe, keeping the warnings.
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("WARN") || line.contains("ERROR") {
                    kept.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            }
        });
        Ok(Server { child, pid, addr, log })
    }

    /// SIGTERM, then SIGKILL if the server is still there after 5 s.
    pub(crate) async fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.pid as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await.is_err() {
            eprintln!("warning: the server ignored SIGTERM for 5 s; killing it");
            let _ = self.child.kill().await;
        }
    }

    /// SIGKILL, then reaps it. Returns when the signal was sent.
    pub(crate) async fn kill9(mut self) -> Result<Instant> {
        let pid = nix::unistd::Pid::from_raw(self.pid as i32);
        let at = Instant::now();
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).context("SIGKILL the server")?;
        self.child.wait().await.context("reaping the killed server")?;
        Ok(at)
    }

    /// Warning and error lines of its log so far that contain `text`.
    pub(crate) fn log_count(&self, text: &str) -> usize {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|l| l.contains(text)).count()
    }

    pub(crate) fn api(&self, http: &reqwest::Client) -> Api {
        Api { http: http.clone(), base: format!("http://{}", self.addr) }
    }
}

/// `... listening on http://127.0.0.1:41234 ...` -> `127.0.0.1:41234`
fn listening_addr(line: &str) -> Option<String> {
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    let addr: String =
        rest.chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']')).collect();
    (!addr.is_empty()).then_some(addr)
}

pub(crate) fn default_server_bin() -> PathBuf {
    // This example runs from <target>/release/examples/bench; the server is <target>/release/taskyard.
    let beside_examples = |exe: PathBuf| {
        let examples = exe.parent()?;
        let profile_dir = examples.parent()?;
        (examples.file_name()? == "examples").then(|| profile_dir.join("taskyard"))
    };
    std::env::current_exe().ok().and_then(beside_examples).unwrap_or_else(|| PathBuf::from("target/release/taskyard"))
}

/// Warns when a source file is newer than the binary: `cargo run --example` does not rebuild the server.
pub(crate) fn warn_if_stale(bin: &Path) {
    let Ok(built) = bin.metadata().and_then(|m| m.modified()) else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let newest = ["src", "entity/src", "migration/src"].iter().filter_map(|dir| newest_mtime(&root.join(dir))).max();
    if newest.is_some_and(|newest| newest > built) {
        eprintln!(
            "warning: {} is older than the sources; run `cargo build --release` to measure the current code",
            bin.display()
        );
    }
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            if meta.is_dir() { newest_mtime(&entry.path()) } else { meta.modified().ok() }
        })
        .max()
}

/// A `kB` field of /proc/<pid>/status (VmRSS, VmHWM).
pub(crate) fn proc_status_kib(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
        .with_context(|| format!("no {key} in /proc/{pid}/status"))
}
