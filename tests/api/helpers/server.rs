//! The real `taskyard` binary as a child process (restart and cluster tests): started with `--bind 127.0.0.1:0`,
//! its address read from the `listening on http://ADDR` line it logs, SIGKILLed when dropped. The last lines of its
//! log are kept and printed when a test fails, so that a failure shows what the server said.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Log lines kept per server.
const LOG_LINES: usize = 400;

/// A `taskyard serve` process.
pub struct ServerProcess {
    child: Child,
    /// `127.0.0.1:PORT`
    pub address: String,
    pub pid: u32,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl ServerProcess {
    /// Starts `taskyard serve --bind 127.0.0.1:0 --database-url URL ARGS...` with no `TASKYARD_*` variables in its
    /// environment (the test's own settings must not leak into it) and waits until it listens.
    pub async fn start(database_url: &str, args: &[&str]) -> ServerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_taskyard"));
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--database-url", database_url])
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
        let mut child = command.spawn().expect("start the taskyard binary");
        let pid = child.id().expect("a running child has a pid");
        let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let keep = |log: &Mutex<VecDeque<String>>, line: String| {
            let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
            if log.len() == LOG_LINES {
                log.pop_front();
            }
            log.push_back(line);
        };

        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                let address = listening_address(&line);
                keep(&log, line);
                if address.is_some() {
                    return address;
                }
            }
            None
        })
        .await;
        let Ok(Some(address)) = address else {
            let log = log.lock().unwrap_or_else(|p| p.into_inner());
            panic!(
                "taskyard never logged `listening on http://...`; its stderr:\n{}",
                Vec::from(log.clone()).join("\n")
            );
        };
        // Keep draining stderr, so that the server never blocks on a full pipe.
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                keep(&kept, line);
            }
        });
        ServerProcess { child, address, pid, log }
    }

    /// SIGKILL, and wait until it is gone.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("SIGKILL the server");
    }

    /// The last lines the server logged.
    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        Vec::from(log.clone()).join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- last lines of the log of taskyard {} (pid {}) ----\n{}",
                self.address,
                self.pid,
                self.log_tail()
            );
        }
        let _ = self.child.start_kill();
    }
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
