//! What this host has: which file each allow-list entry is (resolved once, at start, against the server's own
//! `PATH`), whether a file is executable or a directory exists, and the environment every job starts from.
use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::domain::AllowList;
use crate::domain::allow::{Risk, risk};

/// `PATH` when the server has none: where Debian, Fedora and Alpine keep their programs.
const FALLBACK_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The server's variables every job gets (cron and systemd give about the same): where programs are, whose
/// process it is, its language and time zone. `LC_*` passes too.
const BASE_ENV: &[&str] = &["PATH", "HOME", "LANG", "LANGUAGE", "TZ", "USER", "LOGNAME"];

pub fn is_executable(path: &Path) -> bool {
    path.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Why `path` cannot be a job's working directory, if it cannot.
pub fn check_dir(path: &str) -> Result<(), String> {
    match Path::new(path).metadata() {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("working directory '{path}' is not a directory")),
        Err(e) => Err(format!("working directory '{path}' cannot be used: {e}")),
    }
}

/// The file a bare program name stands for: the first executable of that name in an absolute directory of
/// `path_var` (relative directories such as `.` or an empty entry are passed over: they would make the server's
/// current directory choose the file).
fn find_on_path(name: &str, path_var: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path_var).filter(|dir| dir.is_absolute()).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

/// The file a bare program name stands for on the server's own `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    find_on_path(name, &std::env::var_os("PATH").unwrap_or_else(|| FALLBACK_PATH.into()))
}

/// The sandbox's program, bubblewrap, if the server has it.
pub fn find_bwrap() -> Option<PathBuf> {
    let found = find_program("bwrap");
    match &found {
        Some(file) => tracing::info!(file = %file.display(), "sandboxed tasks run in bubblewrap"),
        None => tracing::info!("bubblewrap (bwrap) is not on the server's PATH: tasks cannot ask for a sandbox"),
    }
    found
}

/// Resolves every entry: an absolute entry is that file; a bare name is looked up on the server's `PATH`. Each
/// resolution is logged, with a warning for an entry not found and for one that lets tasks run any code or touch
/// any file.
pub fn resolve_allow_list(entries: &[String]) -> AllowList {
    let resolved = entries.iter().map(|entry| {
        let file = if entry.starts_with('/') { Some(PathBuf::from(entry)) } else { find_program(entry) };
        report(entry, file.as_deref());
        (entry.clone(), file)
    });
    AllowList::from_resolved(resolved.collect::<Vec<_>>())
}

fn report(entry: &str, file: Option<&Path>) {
    let Some(file) = file else {
        tracing::warn!(entry, "allow-list entry not found on the server's PATH: tasks naming it cannot run");
        return;
    };
    if !is_executable(file) {
        tracing::warn!(entry, file = %file.display(), "allow-list entry is not an executable file (yet)");
    }
    let target = std::fs::canonicalize(file).ok();
    tracing::info!(entry, file = %file.display(), "allowed program");
    match risk(entry, target.as_deref()) {
        Some(Risk::RunsPrograms) => tracing::warn!(
            entry,
            file = %target.as_deref().unwrap_or(file).display(),
            "allow-list entry is a shell or program runner: any task that uses it can run arbitrary code"
        ),
        Some(Risk::TouchesFiles) => tracing::warn!(
            entry,
            file = %target.as_deref().unwrap_or(file).display(),
            "allow-list entry reads or writes files named in its arguments: tasks (and, through parameters that \
             may be options, executes) can reach any file the server can"
        ),
        None => {}
    }
}

/// The environment every job starts from: the base variables of the server's own environment (with `PATH`
/// defaulted when the server has none), and those it names in `passthrough`; nothing else of the server's (its
/// secrets stay its own).
pub fn job_base_env(passthrough: &BTreeSet<String>) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(key, _)| {
            key != "PATH"
                && key
                    .to_str()
                    .is_some_and(|k| BASE_ENV.contains(&k) || k.starts_with("LC_") || passthrough.contains(k))
        })
        .collect();
    env.push(("PATH".into(), job_path(std::env::var_os("PATH"))));
    env
}

/// The jobs' `PATH`: the server's, without relative or empty directories (with them, a job's working directory
/// would choose the programs its scripts run by name).
fn job_path(server: Option<OsString>) -> OsString {
    let Some(server) = server else { return FALLBACK_PATH.into() };
    let dirs: Vec<PathBuf> = std::env::split_paths(&server).filter(|d| d.is_absolute()).collect();
    if dirs.len() < std::env::split_paths(&server).count() {
        tracing::warn!(
            path = %server.to_string_lossy(),
            "the server's PATH has relative or empty directories; jobs get it without them"
        );
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| FALLBACK_PATH.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_resolve_to_absolute_files_only_through_absolute_directories() {
        let dir = std::env::temp_dir().join(format!("taskyard-host-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("echo");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([Path::new("."), Path::new(""), Path::new("/usr/bin"), Path::new("/bin")]);
        let found = find_on_path("echo", &path.unwrap()).unwrap();
        assert!(found.is_absolute() && found != fake, "{found:?}");
        let with_dir = std::env::join_paths([dir.as_path(), Path::new("/bin")]).unwrap();
        assert_eq!(find_on_path("echo", &with_dir), Some(fake));
        assert_eq!(find_on_path("definitely-not-a-program-xyz", &with_dir), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn jobs_get_only_absolute_path_directories() {
        assert_eq!(job_path(Some(".:/usr/bin::bin:/bin".into())), "/usr/bin:/bin");
        assert_eq!(job_path(None), FALLBACK_PATH);
    }

    #[test]
    fn directories_are_checked() {
        assert!(check_dir("/").is_ok());
        assert!(check_dir("/definitely/not/here").unwrap_err().contains("cannot be used"));
        let file = std::env::temp_dir().join(format!("taskyard-host-file-{}", std::process::id()));
        std::fs::write(&file, "").unwrap();
        assert!(check_dir(file.to_str().unwrap()).unwrap_err().contains("not a directory"));
        std::fs::remove_file(&file).unwrap();
    }
}
