//! The real `taskyard` binary twice over: a server (`taskyard serve` on a SQLite file in a temp dir) and the
//! client commands run against it, each a real process whose exit code, stdout and stderr the tests read.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

/// How long a server may take to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`
    pub address: String,
    pub dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// A server on a new SQLite file, on a port of its choosing.
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let (child, address) = serve(&db_url(&dir), "127.0.0.1:0");
        Server { child, address, dir }
    }

    /// Stops the server with SIGTERM and no drain period (running jobs are handed back to their retry policy),
    /// waits for it to exit, and starts it again on the same port and database file.
    pub fn restart(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM the server");
        self.child.wait().expect("the server exits");
        let (child, address) = serve(&db_url(&self.dir), &self.address);
        assert_eq!(address, self.address, "the server came back on its port");
        self.child = child;
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `taskyard ARGS` against this server.
    pub fn taskyard(&self, args: &[&str]) -> Command {
        client(&self.url(), args)
    }

    /// Runs `taskyard ARGS`; expects exit 0 and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "taskyard {}: {}", args.join(" "), show(&out));
        String::from_utf8(out.stdout).expect("UTF-8 stdout")
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.taskyard(args).output().expect("run taskyard")
    }

    /// Creates a task named `name` running `command` (more flags in `more`).
    pub fn task(&self, name: &str, command: &str, more: &[&str]) {
        self.ok(&[&["task", "add", command, "--name", name], more].concat());
    }
}

fn db_url(dir: &TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("taskyard.db").display())
}

/// `taskyard ARGS` with `TASKYARD_URL=url`, no other `TASKYARD_*` variable, and no colours.
pub fn client(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_taskyard"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TASKYARD_") {
            command.env_remove(key);
        }
    }
    command.args(args).env("TASKYARD_URL", url).env("NO_COLOR", "1").stdin(Stdio::null());
    command
}

pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Starts `taskyard serve` and waits for its `listening on` line: the child and its address.
fn serve(database_url: &str, bind: &str) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_taskyard"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TASKYARD_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args(["serve", "--bind", bind, "--database-url", database_url, "--min-free-bytes", "0"])
        .args(["--allow", "sh,echo,true,false,sleep", "--drain-seconds", "0", "--kill-grace-seconds", "1"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start taskyard serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    // Reads the log to its end, so the server never blocks on a full pipe; sends the address once it listens.
    std::thread::spawn(move || {
        let mut log = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on http://") {
                let rest = &line[at + "listening on http://".len()..];
                let address: String = rest.chars().take_while(|c| c.is_ascii_digit() || ".:".contains(*c)).collect();
                let _ = tx.send(Ok(address));
            }
            log.push(line);
        }
        let _ = tx.send(Err(log.join("\n")));
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(address)) => (child, address),
        Ok(Err(log)) => panic!("taskyard serve exited before it listened:\n{log}"),
        Err(_) => panic!("taskyard serve did not listen within {START_TIMEOUT:?}"),
    }
}

/// A running client process whose stdout lines arrive on a channel as they are printed.
pub struct Running {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    pub fn spawn(mut command: Command) -> Running {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start taskyard");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
        Running { child, lines, stderr: Some(stderr) }
    }

    /// The next stdout line; panics if none comes within a minute.
    pub fn line(&self) -> String {
        self.lines.recv_timeout(Duration::from_secs(60)).expect("a line from the client")
    }

    /// Waits for the exit: its code, the stdout lines not read yet, and stderr.
    pub fn finish(&mut self) -> (Option<i32>, Vec<String>, String) {
        let status = self.child.wait().expect("wait for taskyard");
        let rest: Vec<String> = self.lines.iter().collect();
        let stderr = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        (status.code(), rest, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
