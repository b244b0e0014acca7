//! Real storage faults for the storage tests: a small tmpfs that a test fills and frees, a file made immutable
//! (`chattr +i`: the kernel refuses writes even through descriptors already open, as on a file system remounted
//! read-only), and a ledger of what the server acknowledged, checked against what it stored.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use taskyard::config::Settings;
use tempfile::TempDir;

use super::{Reply, TestApp, TestDb, header, poll_until, start};

/// Whether this process may mount file systems and set the immutable flag; when not, the test says so loudly and
/// returns (CI runs as root).
pub fn root_only(what: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        eprintln!("SKIPPED (needs root): {what}");
    }
    !root
}

/// A tmpfs of a few MiB mounted on a temporary directory, unmounted (lazily, so that open files do not stop it)
/// when dropped.
pub struct Tmpfs {
    pub dir: Arc<TempDir>,
}

impl Tmpfs {
    pub fn mount(size_mib: u64) -> Tmpfs {
        let dir = Arc::new(tempfile::tempdir().expect("a temp dir"));
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount a {size_mib} MiB tmpfs on {}", dir.path().display());
        Tmpfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Free bytes on it now.
    pub fn free(&self) -> u64 {
        let s = nix::sys::statvfs::statvfs(self.path()).expect("statvfs");
        s.blocks_available() * s.fragment_size()
    }

    /// Writes a filler file until at most `leave` bytes are free (0: until the file system is full).
    pub fn fill(&self, name: &str, leave: u64) -> PathBuf {
        let path = self.path().join(name);
        let mut file = std::fs::File::create(&path).expect("create the filler");
        let chunk = vec![0x5a_u8; 64 * 1024];
        loop {
            let free = self.free();
            if free <= leave {
                break;
            }
            let n = (free - leave).min(chunk.len() as u64) as usize;
            if file.write_all(&chunk[..n]).and_then(|_| file.flush()).is_err() {
                break;
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Sets or clears the immutable flag of `paths` (`chattr +i` / `-i`).
pub fn immutable(paths: &[PathBuf], on: bool) {
    for path in paths {
        let status = Command::new("chattr").arg(if on { "+i" } else { "-i" }).arg(path).status().expect("run chattr");
        assert!(status.success(), "chattr on {}", path.display());
    }
}

/// Whether the file system of `dir` refuses writes to an immutable file through a descriptor opened before (ext4
/// and xfs do; tmpfs does not). When it does not, the test says so loudly and returns.
pub fn immutable_unsupported(dir: &Path) -> bool {
    let probe = dir.join("immutable-probe");
    let mut file = std::fs::File::create(&probe).expect("create a probe file");
    let set = Command::new("chattr").arg("+i").arg(&probe).status().is_ok_and(|s| s.success());
    let refused = set && file.write_all(b"x").and_then(|_| file.flush()).is_err();
    let _ = Command::new("chattr").arg("-i").arg(&probe).status();
    let _ = std::fs::remove_file(&probe);
    if !refused {
        eprintln!("SKIPPED: {} does not refuse writes to an immutable file that is already open", dir.display());
    }
    !refused
}

/// Clears the immutable flag when dropped, so that a failing test never leaves an undeletable file behind.
pub struct Immutable(pub Vec<PathBuf>);

impl Drop for Immutable {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = Command::new("chattr").arg("-i").arg(path).status();
        }
    }
}

/// A server on the SQLite file in `dir` (a tmpfs, say), with `min_free_bytes` 0 unless `configure` sets it.
pub async fn spawn_app_in(dir: Arc<TempDir>, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = Arc::new(TestDb::sqlite(dir.path()));
    start(dir, db, configure).await
}

/// What the server answered to writes during a fault: the ids it acknowledged, and the refusals.
#[derive(Default)]
pub struct Ledger {
    pub tasks: BTreeSet<String>,
    pub jobs: BTreeSet<String>,
    /// (status, code) of each refusal.
    pub refused: Vec<(u16, String)>,
}

impl Ledger {
    /// Notes an answer: a 2xx adds its id, a refusal must be a storage error in problem+json with `Retry-After`.
    pub fn note(&mut self, reply: &Reply, what: &str) {
        if reply.status.is_success() {
            let body = reply.json();
            match body.get("job_id").and_then(Value::as_str) {
                Some(job) => self.jobs.insert(job.to_string()),
                None => self.tasks.insert(body["id"].as_str().expect("a task id").to_string()),
            };
            return;
        }
        let status = reply.status.as_u16();
        let code = match status {
            507 => "storage_full",
            503 => "storage_unavailable",
            _ => panic!("{what}: a storage fault must answer 503 or 507, not {status}: {}", reply.text),
        };
        reply.expect_problem(status, code, what);
        let retry = header(&reply.headers, "retry-after");
        assert!(retry.parse::<u32>().is_ok_and(|s| s > 0), "{what}: {status} without Retry-After: {:?}", reply.headers);
        self.refused.push((status, code.to_string()));
    }

    pub fn refused_with(&self, code: &str) -> usize {
        self.refused.iter().filter(|(_, c)| c == code).count()
    }

    /// Every acknowledged task and job exists, and every job ends (within `deadline`) in a terminal state.
    pub async fn all_stored(&self, app: &TestApp, deadline: Duration) {
        for task in &self.tasks {
            app.get_task(task).await.expect(200, &format!("task {task} was answered 201, so it is stored"));
        }
        for job in &self.jobs {
            let ended = poll_until(&format!("job {job} to end"), deadline, async || {
                let reply = app.get_job(job).await;
                if reply.status.as_u16() != 200 {
                    return Err(format!("job {job} was answered 202 but GET answers {}: {}", reply.status, reply.text));
                }
                let record = reply.json();
                let status = record["status"].as_str().unwrap_or_default().to_string();
                if ["completed", "failed", "canceled"].contains(&status.as_str()) { Ok(record) } else { Err(status) }
            })
            .await;
            assert!(ended["finished_at"].is_string(), "job {job} ended with a finish time: {ended}");
        }
    }
}

/// Job ids named by the marker files in `dir` (each job of a marker task touches one named by its id).
pub fn markers(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).filter_map(|e| e.file_name().into_string().ok()).collect())
        .unwrap_or_default()
}

/// The body of a task whose job touches a file named by its id in `dir` (so a test can tell which jobs ran).
pub fn marker_task(dir: &Path) -> Value {
    serde_json::json!({
        "command": "sh -c 'touch \"$0/$TASKYARD_JOB_ID\"' {dir}",
        "params": { "dir": dir.display().to_string() },
    })
}

/// Polls `/health` until it says `status` (and `reason`, if given).
pub async fn health_becomes(app: &TestApp, status: &str, reason: Option<&str>, deadline: Duration) -> Value {
    poll_until(&format!("/health to say {status} {reason:?}"), deadline, async || {
        let body = app.health().await.json();
        let reason_ok = reason.is_none_or(|r| body["reason"] == r);
        if body["status"] == status && reason_ok { Ok(body) } else { Err(body.to_string()) }
    })
    .await
}
