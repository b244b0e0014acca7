//! The `systemctl` program, found on PATH and run for the unit's scope. A machine without it gets an error that
//! says what to do instead.
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

use super::one_line;
use super::unit::Scope;

/// `systemctl`, or `systemctl --user`.
pub struct Systemctl {
    program: PathBuf,
    scope: Scope,
}

impl Systemctl {
    /// Looks `systemctl` up on PATH.
    pub fn find(scope: Scope) -> anyhow::Result<Systemctl> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let program = std::env::split_paths(&path)
            .map(|dir| dir.join("systemctl"))
            .find(|candidate| is_executable(candidate))
            .context(
                "systemctl is not on PATH (is this machine run by systemd?); use `taskyard service install --print` \
                 and install the unit by hand",
            )?;
        Ok(Systemctl { program, scope })
    }

    /// Runs `systemctl [--user] ARGS`; a failure is an error carrying what systemctl said.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let output = self.command(args).output().with_context(|| self.describe(args))?;
        if !output.status.success() {
            let said = one_line(&String::from_utf8_lossy(&output.stderr));
            bail!("`{}` failed ({}): {said}", self.describe(args), output.status);
        }
        Ok(())
    }

    /// What `systemctl [--user] QUERY taskyard.service` prints, such as `enabled` or `inactive`. These queries
    /// answer with a non-zero status for a unit that is disabled or inactive, so only a silent failure is an error.
    pub fn query(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self.command(args).output().with_context(|| self.describe(args))?;
        let said = one_line(&String::from_utf8_lossy(&output.stdout));
        if said.is_empty() {
            let err = one_line(&String::from_utf8_lossy(&output.stderr));
            bail!("`{}` failed ({}): {err}", self.describe(args), output.status);
        }
        Ok(said)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        if self.scope == Scope::User {
            command.arg("--user");
        }
        command.args(args);
        command
    }

    fn describe(&self, args: &[&str]) -> String {
        let user = if self.scope == Scope::User { " --user" } else { "" };
        format!("{}{user} {}", self.program.display(), args.join(" "))
    }
}

fn is_executable(path: &std::path::Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
