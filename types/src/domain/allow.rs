//! The allow-list: which programs tasks may run, each resolved by the server to one absolute file. A task names a
//! program by its entry (`echo`, or `/opt/tools/report`); the job executes the file the entry resolved to when the
//! server started, so nothing in a task or a request (its `PATH`, its `cwd`) chooses which file runs.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::command::{CommandError, CommandLine};

/// Entry → the absolute file it resolved to at start (`None`: not found then; tasks naming it cannot run).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(BTreeMap<String, Option<PathBuf>>);

impl AllowList {
    /// An allow-list from entries and what each resolved to.
    pub fn from_resolved<I: IntoIterator<Item = (String, Option<PathBuf>)>>(entries: I) -> Self {
        Self(entries.into_iter().filter(|(name, _)| !name.trim().is_empty()).collect())
    }

    /// Whether argv[0] of `command` is an entry (exact match).
    pub fn check(&self, command: &CommandLine) -> Result<(), CommandError> {
        self.program(command.program()).map(|_| ())
    }

    /// The file a job whose argv[0] is `name` executes.
    pub fn program(&self, name: &str) -> Result<Option<&Path>, CommandError> {
        match self.0.get(name) {
            Some(path) => Ok(path.as_deref()),
            None => Err(CommandError::NotAllowed(name.to_string())),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&Path>)> {
        self.0.iter().map(|(name, path)| (name.as_str(), path.as_deref()))
    }
}

/// What a program on the allow-list lets a task do beyond its own job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Risk {
    /// A shell, interpreter or program runner: a task that uses it can run any code.
    RunsPrograms,
    /// Reads or writes files named in its arguments (or sends them over the network).
    TouchesFiles,
}

/// Shells, interpreters, and programs whose arguments (or options) name another program to run.
#[rustfmt::skip]
const RUNS_PROGRAMS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "pdksh", "csh", "tcsh", "fish", "ash", "rbash", "busybox", "toybox",
    "env", "xargs", "find", "nice", "nohup", "timeout", "setsid", "stdbuf", "sudo", "doas", "su", "runuser", "pkexec",
    "chroot", "ionice", "taskset", "chrt", "flock", "unshare", "nsenter", "setpriv", "prlimit", "capsh", "sg",
    "newgrp", "strace", "ltrace", "gdb", "valgrind", "watch", "script", "time", "parallel", "make", "gmake", "cmake",
    "ninja", "ssh", "rsync", "git", "tar", "zip", "awk", "gawk", "mawk", "nawk", "sed", "perl", "python", "ruby",
    "irb", "node", "nodejs", "deno", "bun", "npm", "npx", "php", "lua", "luajit", "tclsh", "wish", "expect", "r",
    "rscript", "java", "jshell", "dotnet", "vim", "vi", "nvim", "view", "ex", "ed", "emacs", "less", "more", "man",
    "systemd-run", "bwrap", "firejail", "docker", "podman", "kubectl", "crontab", "at", "batch", "eval", "exec",
    "dbus-run-session", "run-parts", "start-stop-daemon", "su-exec", "gosu", "chpst", "softlimit", "entr",
    "inotifywait",
];

/// Programs that read, write or send files named in their arguments.
#[rustfmt::skip]
const TOUCHES_FILES: &[&str] = &[
    "cat", "tac", "head", "tail", "cp", "mv", "rm", "ln", "dd", "tee", "install", "chmod", "chown", "chgrp", "touch",
    "mkdir", "rmdir", "truncate", "shred", "split", "csplit", "sort", "uniq", "cut", "paste", "join", "comm", "diff",
    "cmp", "grep", "egrep", "fgrep", "rg", "od", "hexdump", "xxd", "base64", "base32", "md5sum", "sha1sum",
    "sha224sum", "sha256sum", "sha384sum", "sha512sum", "b2sum", "cksum", "sum", "wc", "nl", "fold", "fmt", "pr",
    "expand", "unexpand", "strings", "file", "stat", "ls", "du", "date", "curl", "wget", "nc", "ncat", "netcat",
    "socat", "openssl", "gpg", "sqlite3", "psql", "mysql", "jq", "yq", "iconv", "look", "shuf", "ptx", "tsort",
    "numfmt", "readlink", "realpath", "unzip", "gzip", "gunzip", "zcat", "bzip2", "xz", "zstd", "scp", "sftp", "ftp",
];

/// A program's file name without a version suffix: `python3.12` is `python`, `gcc-12` is `gcc`.
pub(crate) fn without_version(name: &str) -> &str {
    name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-')
}

/// How risky the program behind an entry is, judged by its name and by the name of the file it resolved to (so a
/// `/bin/sh` that is dash, or a link to busybox, is seen for what it is). Version suffixes are ignored
/// (`python3.12` is `python`).
pub fn risk(entry: &str, resolved: Option<&Path>) -> Option<Risk> {
    let names = [Some(Path::new(entry)), resolved].into_iter().flatten().filter_map(|p| p.file_name()?.to_str());
    let mut worst = None;
    for name in names {
        let name = name.to_ascii_lowercase();
        let bare = without_version(&name);
        for candidate in [name.as_str(), bare] {
            if RUNS_PROGRAMS.contains(&candidate) {
                return Some(Risk::RunsPrograms);
            }
            if TOUCHES_FILES.contains(&candidate) {
                worst = Some(Risk::TouchesFiles);
            }
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::from_resolved(entries.iter().map(|e| (e.to_string(), Some(PathBuf::from("/usr/bin").join(e)))))
    }

    #[test]
    fn entries_match_exactly() {
        let allow = list(&["echo", "/usr/bin/env"]);
        assert!(allow.check(&CommandLine::parse("echo hi").unwrap()).is_ok());
        assert!(allow.check(&CommandLine::parse("/usr/bin/env").unwrap()).is_ok());
        for bad in ["/bin/echo hi", "./echo", "rm -rf /", "env", "ECHO", "echo\u{200b}"] {
            assert!(allow.check(&CommandLine::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn runners_and_file_tools_are_recognised() {
        for runner in ["sh", "/bin/bash", "python3", "python3.12", "perl5.36", "env", "xargs", "BUSYBOX", "node"] {
            assert_eq!(risk(runner, None), Some(Risk::RunsPrograms), "{runner}");
        }
        assert_eq!(risk("sh", Some(Path::new("/usr/bin/dash"))), Some(Risk::RunsPrograms));
        assert_eq!(risk("safe-name", Some(Path::new("/usr/bin/busybox"))), Some(Risk::RunsPrograms));
        for reader in ["cat", "date", "/usr/bin/head", "sha256sum", "curl"] {
            assert_eq!(risk(reader, None), Some(Risk::TouchesFiles), "{reader}");
        }
        for harmless in ["echo", "true", "false", "sleep", "printf", "seq", "uname"] {
            assert_eq!(risk(harmless, Some(&Path::new("/usr/bin").join(harmless))), None, "{harmless}");
        }
    }
}
