//! Running a job in bubblewrap: the whole file system read-only, a fresh `/dev` and `/proc`, a private `/tmp`,
//! the job's working directory writable, no network (unless the task shares it), and new PID, IPC, UTS and user
//! namespaces. bubblewrap's own process is the namespace's init: when the job's main process ends, or the server
//! kills the job's process group, it ends and the kernel kills everything left in the namespace. A job without a
//! working directory works in its private `/tmp`. The attempt's artifacts directory is bound writable at its own
//! path, so `TASKYARD_ARTIFACTS_DIR` means the same inside.
use std::ffi::OsString;
use std::path::Path;

use crate::domain::Sandbox;

/// Directories a sandboxed job's (writable) working directory may not be: the root, and the system's own
/// directories (binding one of them writable, or over the private `/tmp`, `/proc` or `/dev`, would undo the
/// sandbox).
const SYSTEM_DIRS: &[&str] = &[
    "/", "/tmp", "/proc", "/dev", "/run", "/sys", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/boot",
    "/var", "/var/run", "/var/lib", "/var/tmp", "/root", "/home", "/opt", "/srv", "/mnt", "/media",
];

/// Why `cwd` cannot be a sandboxed job's working directory, if it cannot (checked on its real path).
pub fn check_cwd(cwd: &str) -> Result<(), String> {
    let real = std::fs::canonicalize(cwd).map_err(|e| format!("working directory '{cwd}' cannot be used: {e}"))?;
    let text = real.to_string_lossy();
    if SYSTEM_DIRS.contains(&text.as_ref()) {
        return Err(format!(
            "a sandboxed task's cwd is writable inside the sandbox; '{cwd}' ({text}) is a system directory: give the \
             task a directory of its own"
        ));
    }
    Ok(())
}

/// The arguments of `bwrap` that run `file` with `args` confined as `sandbox` says.
pub fn bwrap_args(
    sandbox: &Sandbox,
    file: &Path,
    args: &[String],
    cwd: Option<&str>,
    artifacts: &Path,
) -> Vec<OsString> {
    let mut out: Vec<OsString> = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        .iter()
        .map(OsString::from)
        .collect();
    if !sandbox.network {
        // Unix sockets of the host's services (a database, a container engine, D-Bus) live under /run; a
        // read-only view of a socket still connects.
        out.extend(["--tmpfs", "/run"].map(OsString::from));
    }
    if let Some(dir) = cwd {
        out.extend(["--bind", dir, dir].map(OsString::from));
    }
    out.extend([OsString::from("--bind"), artifacts.into(), artifacts.into()]);
    out.push("--unshare-all".into());
    if sandbox.network {
        out.push("--share-net".into());
    }
    out.extend(["--die-with-parent", "--chdir", cwd.unwrap_or("/tmp"), "--"].map(OsString::from));
    out.push(file.into());
    out.extend(args.iter().map(OsString::from));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_working_directory_is_the_only_writable_place_but_tmp() {
        let args = bwrap_args(
            &Sandbox::default(),
            Path::new("/usr/bin/echo"),
            &["-n".into(), "hi".into()],
            Some("/srv/w"),
            Path::new("/w/a"),
        );
        let text: Vec<&str> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            text,
            [
                "--ro-bind",
                "/",
                "/",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "--tmpfs",
                "/tmp",
                "--tmpfs",
                "/run",
                "--bind",
                "/srv/w",
                "/srv/w",
                "--bind",
                "/w/a",
                "/w/a",
                "--unshare-all",
                "--die-with-parent",
                "--chdir",
                "/srv/w",
                "--",
                "/usr/bin/echo",
                "-n",
                "hi"
            ]
        );
        let shared = bwrap_args(&Sandbox { network: true }, Path::new("/bin/true"), &[], None, Path::new("/w/a"));
        assert!(shared.iter().any(|a| a == "--share-net"));
        assert!(shared.windows(2).any(|w| w[0] == "--chdir" && w[1] == "/tmp"));
        assert!(!shared.iter().any(|a| a == "/run"), "with the network shared, /run stays");
    }

    #[test]
    fn system_directories_are_no_sandbox_cwd() {
        for dir in ["/", "//", "/tmp/..", "/tmp", "/proc", "/etc", "/usr/"] {
            assert!(check_cwd(dir).is_err(), "{dir}");
        }
        let own = std::env::temp_dir().join(format!("taskyard-sandbox-cwd-{}", std::process::id()));
        std::fs::create_dir_all(&own).unwrap();
        assert!(check_cwd(own.to_str().unwrap()).is_ok());
        std::fs::remove_dir_all(&own).unwrap();
    }
}
