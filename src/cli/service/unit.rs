//! The systemd unit's text: what it holds and how each value is written into it. Values are quoted and escaped as
//! systemd.syntax(7) says, so that no path (spaces, `%`, `$`, quotes) can add a directive; a control character,
//! which no unit line can hold safely, is refused.
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::config::Settings;

/// The unit's file name.
pub const UNIT_NAME: &str = "taskyard.service";

/// Seconds the unit allows beyond the drain and the kill grace: handing stopped jobs back, ending the event
/// streams and the HTTP server's own shutdown (up to 5 s) all happen after the last job is gone.
pub const STOP_MARGIN_SECONDS: u64 = 15;

/// Which service manager runs taskyard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The system's manager: a unit in /etc/systemd/system, started at boot.
    System,
    /// The user's own manager (`systemctl --user`): a unit in ~/.config/systemd/user.
    User,
}

/// Everything the unit says, checked: every path is absolute, UTF-8 and free of control characters.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    scope: Scope,
    exe: String,
    config: Option<String>,
    stop_timeout_seconds: u64,
    write_paths: Vec<String>,
}

impl Unit {
    /// The unit that runs `exe serve`, with `--config config` when given. `settings` are what that file says (the
    /// defaults without one): they set the stop timeout and the database's directory.
    pub fn new(scope: Scope, exe: &Path, config: Option<&Path>, settings: &Settings) -> anyhow::Result<Unit> {
        let write_paths = match crate::store::sqlite_file(&settings.database_url) {
            Some(file) if file.is_absolute() => vec![database_dir(&file)?],
            // A relative file lies in the working directory, the state directory, which is writable anyway.
            _ => Vec::new(),
        };
        Ok(Unit {
            scope,
            exe: checked(exe, "the taskyard binary")?,
            config: config.map(|c| checked(c, "the config file")).transpose()?,
            stop_timeout_seconds: stop_timeout(settings)?,
            write_paths: write_paths.iter().map(|p| checked(p, "the database directory")).collect::<Result<_, _>>()?,
        })
    }

    /// The unit file's text.
    pub fn render(&self) -> String {
        let system = self.scope == Scope::System;
        let mut exec = format!("{} serve", quote(&self.exe, Field::Command));
        if let Some(config) = &self.config {
            exec.push_str(&format!(" --config {}", quote(config, Field::Command)));
        }
        let mut out = String::new();
        let mut line = |text: &str| {
            out.push_str(text);
            out.push('\n');
        };
        line("# taskyard, written by `taskyard service install`. Change settings in the config file and install");
        line("# again; add to this unit with `systemctl edit taskyard` (`systemctl --user edit` for a user unit).");
        line("[Unit]");
        line("Description=taskyard task runner");
        if system {
            line("Wants=network-online.target");
            line("After=network-online.target");
        }
        line("");
        line("[Service]");
        line("Type=exec");
        line(&format!("ExecStart={exec}"));
        line("Restart=on-failure");
        line("RestartSec=2s");
        line(
            "# A stop sends SIGTERM to taskyard alone: running jobs get drain_seconds to finish, the rest are stopped",
        );
        line("# (kill_grace_seconds) and handed back. Whatever is left after TimeoutStopSec is killed.");
        line("KillMode=mixed");
        line("KillSignal=SIGTERM");
        line(&format!("TimeoutStopSec={}", self.stop_timeout_seconds));
        line("# %S is /var/lib for the system's manager, ~/.local/state for a user's. A relative database_url");
        line("# (the default taskyard.db) lies here.");
        line("StateDirectory=taskyard");
        line("WorkingDirectory=%S/taskyard");
        line("NoNewPrivileges=yes");
        if system {
            line(
                "# Jobs run under these rules too: they write only to the state directory, their private /tmp and any",
            );
            line("# ReadWritePaths= below; add paths with `systemctl edit taskyard` and a ReadWritePaths= line there.");
            line("ProtectSystem=strict");
            line("ProtectHome=read-only");
            line("PrivateTmp=yes");
            if !self.write_paths.is_empty() {
                let paths: Vec<String> = self.write_paths.iter().map(|p| quote(p, Field::Path)).collect();
                line(&format!("ReadWritePaths={}", paths.join(" ")));
            }
        }
        line("");
        line("[Install]");
        line(if system { "WantedBy=multi-user.target" } else { "WantedBy=default.target" });
        out
    }
}

/// drain_seconds + kill_grace_seconds + the margin, as long as systemd can hold it (microseconds in 64 bits, the
/// largest value meaning "infinity"): systemd ignores a longer one, for its default of 90 s.
fn stop_timeout(settings: &Settings) -> anyhow::Result<u64> {
    settings
        .drain_seconds
        .checked_add(settings.kill_grace_seconds)
        .and_then(|s| s.checked_add(STOP_MARGIN_SECONDS))
        .filter(|s| *s < u64::MAX / 1_000_000)
        .context("drain_seconds + kill_grace_seconds is longer than a systemd stop timeout can be")
}

/// The directory of an absolute database file, which must exist: systemd refuses to start a unit whose
/// ReadWritePaths= names a missing directory.
fn database_dir(file: &Path) -> anyhow::Result<PathBuf> {
    let dir = file.parent().context("the database file has no directory")?;
    if !dir.is_dir() {
        bail!("the database directory {} does not exist; create it first", dir.display());
    }
    Ok(dir.to_path_buf())
}

/// A path as the unit may hold it.
fn checked(path: &Path, what: &str) -> anyhow::Result<String> {
    let Some(text) = path.to_str() else {
        bail!("the path of {what} is not UTF-8, which a unit file cannot hold: {}", path.display());
    };
    if !path.is_absolute() {
        bail!("the path of {what} must be absolute: {text}");
    }
    if text.chars().any(char::is_control) {
        bail!("the path of {what} holds a control character, which a unit file cannot hold: {text:?}");
    }
    Ok(text.to_string())
}

/// Where a quoted value goes: command lines also expand `$VARIABLE`, path lists do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Command,
    Path,
}

/// One word in double quotes: `\` and `"` escaped with a backslash, `%` (a specifier) doubled, and in a command
/// line `$` (a variable) doubled. The text is free of control characters (see [`checked`]).
fn quote(text: &str, field: Field) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            '$' if field == Field::Command => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_what_systemd_would_read_as_syntax() {
        let cases = [
            ("/a b", Field::Command, r#""/a b""#),
            ("/a%n", Field::Command, r#""/a%%n""#),
            ("/a$HOME", Field::Command, r#""/a$$HOME""#),
            ("/a$HOME", Field::Path, r#""/a$HOME""#),
            (r#"/a"b\c"#, Field::Path, r#""/a\"b\\c""#),
        ];
        for (text, field, want) in cases {
            assert_eq!(quote(text, field), want, "{text:?} in a {field:?} field");
        }
    }

    #[test]
    fn the_stop_timeout_is_one_systemd_can_hold() {
        // systemd-analyze verify accepts TimeoutStopSec=18446744073708 and ignores 18446744073709.
        let largest = 18_446_744_073_708;
        let settings = |grace| Settings { drain_seconds: 0, kill_grace_seconds: grace, ..Settings::default() };
        assert_eq!(stop_timeout(&settings(largest - STOP_MARGIN_SECONDS)).ok(), Some(largest));
        assert!(stop_timeout(&settings(largest + 1 - STOP_MARGIN_SECONDS)).is_err());
        assert!(stop_timeout(&settings(u64::MAX)).is_err());
    }

    #[test]
    fn a_control_character_or_a_relative_path_is_refused() {
        for bad in ["/a\nExecStartPre=/bin/sh", "/a\tb", "/a\rb", "relative/taskyard"] {
            let err = checked(Path::new(bad), "the binary").expect_err(bad);
            assert!(err.to_string().contains("the binary"), "{bad:?}: {err}");
        }
    }
}
