//! Running a job in bubblewrap: the whole file system read-only, a fresh `/dev` and `/proc`, a private `/tmp`,
//! the job's working directory writable, no network (unless the task shares it), and new PID, IPC, UTS and user
//! namespaces. bubblewrap's own process is the namespace's init: when the job's main process ends, or the server
//! kills the job's process group, it ends and the kernel kills everything left in the namespace. A job without a
//! working directory works in its private `/tmp`.
use std::ffi::OsString;
use std::path::Path;

use crate::domain::Sandbox;

/// The arguments of `bwrap` that run `file` with `args` confined as `sandbox` says.
pub fn bwrap_args(sandbox: &Sandbox, file: &Path, args: &[String], cwd: Option<&str>) -> Vec<OsString> {
    let mut out: Vec<OsString> = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        .iter()
        .map(OsString::from)
        .collect();
    if let Some(dir) = cwd {
        out.extend(["--bind", dir, dir].map(OsString::from));
    }
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
        let args =
            bwrap_args(&Sandbox::default(), Path::new("/usr/bin/echo"), &["-n".into(), "hi".into()], Some("/srv/w"));
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
                "--bind",
                "/srv/w",
                "/srv/w",
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
        let shared = bwrap_args(&Sandbox { network: true }, Path::new("/bin/true"), &[], None);
        assert!(shared.iter().any(|a| a == "--share-net"));
        assert!(shared.windows(2).any(|w| w[0] == "--chdir" && w[1] == "/tmp"));
    }
}
