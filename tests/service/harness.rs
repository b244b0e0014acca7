//! The real `taskyard service` binary against a temporary unit directory, with a `systemctl` script first on PATH
//! that records its arguments (no systemd runs on the test machines) and answers as systemctl would.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// Records each call as one line of arguments; fails with `$FAKE_SYSTEMCTL_FAIL` on stderr when that is set.
const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_SYSTEMCTL_LOG"
if [ -n "$FAKE_SYSTEMCTL_FAIL" ]; then
  printf '%s\n' "$FAKE_SYSTEMCTL_FAIL" >&2
  exit 1
fi
case "$*" in
  *is-enabled*) echo enabled ;;
  *is-active*) echo active ;;
esac
"#;

pub struct Machine {
    pub dir: TempDir,
    /// Where the unit goes (passed as TASKYARD_UNIT_DIR unless a test says otherwise).
    pub unit_dir: PathBuf,
    bin: PathBuf,
    log: PathBuf,
}

impl Machine {
    pub fn new() -> Machine {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("bin dir");
        let systemctl = bin.join("systemctl");
        std::fs::write(&systemctl, FAKE_SYSTEMCTL).expect("write the fake systemctl");
        std::fs::set_permissions(&systemctl, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let unit_dir = dir.path().join("units");
        let log = dir.path().join("systemctl.log");
        Machine { dir, unit_dir, bin, log }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `taskyard ARGS` with the fake systemctl first on PATH and the unit directory in TASKYARD_UNIT_DIR.
    pub fn taskyard(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_taskyard"));
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.bin.clone()];
        dirs.extend(std::env::split_paths(&path));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("PATH", std::env::join_paths(dirs).expect("PATH"))
            .env("FAKE_SYSTEMCTL_LOG", &self.log)
            .env("TASKYARD_UNIT_DIR", &self.unit_dir)
            .env_remove("FAKE_SYSTEMCTL_FAIL")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("TASKYARD_CONFIG");
        command
    }

    /// Runs `taskyard ARGS` and expects success; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        succeeded(&self.taskyard(args).output().expect("run taskyard"), args)
    }

    /// The systemctl calls so far, one line of arguments each.
    pub fn systemctl_calls(&self) -> Vec<String> {
        match std::fs::read_to_string(&self.log) {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(err) => panic!("read the systemctl log: {err}"),
        }
    }

    pub fn unit_file(&self) -> PathBuf {
        self.unit_dir.join("taskyard.service")
    }
}

/// The stdout of a successful run; a failure panics with what the program said.
pub fn succeeded(output: &Output, args: &[&str]) -> String {
    assert!(
        output.status.success(),
        "taskyard {args:?}: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

/// The canonical path of the binary under test, as the unit names it.
pub fn binary() -> PathBuf {
    std::fs::canonicalize(env!("CARGO_BIN_EXE_taskyard")).expect("canonical binary path")
}

/// Writes a config file.
pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// `systemd-analyze verify` on the unit text, where the program is installed: it must pass without a warning.
/// Where it is not, this says SKIPPED loudly, unless `TASKYARD_REQUIRE_SYSTEMD_ANALYZE` is set.
pub fn verify(text: &str) {
    let Some(analyze) = find_on_path("systemd-analyze") else {
        assert!(
            std::env::var_os("TASKYARD_REQUIRE_SYSTEMD_ANALYZE").is_none(),
            "systemd-analyze is not installed and TASKYARD_REQUIRE_SYSTEMD_ANALYZE is set"
        );
        eprintln!("SKIPPED: systemd-analyze is not installed (Debian package `systemd`); the unit was not verified");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let unit = dir.path().join("taskyard.service");
    write(&unit, text);
    let output = Command::new(analyze).arg("verify").arg(&unit).output().expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}\nunit:\n{text}");
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}
