//! A job's artifact files. Each attempt gets a fresh, empty, private directory (`TASKYARD_ARTIFACTS_DIR`, made
//! here before the process starts, bound writable into a sandbox); when the process has ended, what it left there
//! is walked without following anything (`walk`), each kept file is copied into the artifact object store
//! (`object_store`: a local directory by default, any store its URL names for several nodes) with its SHA-256,
//! every file found is recorded in the store (kept, or dropped with the reason), and the directory is removed.
//! Leftover directories of a server that died are removed at start. Retention deletes the objects with their jobs.
mod walk;

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::domain::{DropReason, Job, JobArtifact, JobId, JobStatus};
use crate::store::Store;
pub use walk::{Found, Limits};

/// The environment variable that names the attempt's artifacts directory.
pub const DIR_VAR: &str = "TASKYARD_ARTIFACTS_DIR";

/// Bytes read and sent to the store at once.
const CHUNK: usize = 256 * 1024;

/// Where artifacts go and how many a job may keep.
#[derive(Debug, Clone)]
pub struct ArtifactConfig {
    /// The object store's URL (`file:///dir`, `memory:///`, or a cloud store's URL this build supports).
    pub store_url: String,
    /// The object store's options (credentials, region, endpoint, ...), as `object_store` names them.
    pub store_options: BTreeMap<String, String>,
    /// Where attempts' directories are made; each server needs its own.
    pub work_dir: PathBuf,
    pub max_files: u64,
    pub max_bytes: u64,
}

/// The artifact object store and the attempts' directories.
pub struct Artifacts {
    objects: Arc<dyn ObjectStore>,
    prefix: Key,
    work: PathBuf,
    limits: Limits,
}

/// A kept artifact's bytes, as the object store gives them.
pub type Bytes = futures_util::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>;

impl Artifacts {
    /// Opens the object store the settings name and makes the work directory.
    pub fn open(config: &ArtifactConfig) -> anyhow::Result<Artifacts> {
        let url = url::Url::parse(&config.store_url)
            .map_err(|e| anyhow::anyhow!("artifacts_url '{}' is not a URL: {e}", config.store_url))?;
        check_options(&url, &config.store_options)?;
        let (objects, prefix) = object_store::parse_url_opts(&url, &config.store_options)
            .map_err(|e| anyhow::anyhow!("artifacts_url '{}' cannot be used: {e}", config.store_url))?;
        if url.scheme() == "file" {
            let dir = url.to_file_path().map_err(|()| anyhow::anyhow!("artifacts_url '{url}' is no local path"))?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| anyhow::anyhow!("cannot make the artifacts directory {}: {e}", dir.display()))?;
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.work_dir)
            .map_err(|e| anyhow::anyhow!("cannot make artifacts_work_dir {}: {e}", config.work_dir.display()))?;
        let work = std::fs::canonicalize(&config.work_dir)?;
        let limits = Limits {
            max_files: config.max_files,
            max_bytes: config.max_bytes,
            max_entries: config.max_files.saturating_mul(2).saturating_add(100),
        };
        Ok(Artifacts { objects: Arc::from(objects), prefix, work, limits })
    }

    fn dir_of(&self, id: JobId, attempt: i32) -> PathBuf {
        self.work.join(format!("{id}-{attempt}"))
    }

    /// Makes the attempt's fresh, empty directory, readable by the server's user only.
    pub fn prepare(&self, job: &Job) -> std::io::Result<PathBuf> {
        let dir = self.dir_of(job.id, job.attempt);
        if dir.symlink_metadata().is_ok() {
            remove(&dir)?;
        }
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(dir)
    }

    /// Keeps what the attempt left in `dir` (bounded), returns every file found, and removes the directory.
    pub async fn collect(&self, job: &Job, dir: &Path, now: i64) -> Vec<JobArtifact> {
        // Most jobs leave nothing: an empty directory goes with one system call, without the walk's thread hop.
        if std::fs::remove_dir(dir).is_ok() {
            return Vec::new();
        }
        let (root, limits) = (dir.to_path_buf(), self.limits);
        let found = match tokio::task::spawn_blocking(move || walk::walk(&root, limits)).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => vec![unreadable(format!("cannot open the artifacts directory: {e}"))],
            Err(e) => vec![unreadable(format!("the walk of the artifacts directory failed: {e}"))],
        };
        let mut artifacts = Vec::with_capacity(found.len());
        for item in found {
            let artifact = match item {
                Found::Keep { name, file, size } => self.keep(job, name, file, size, now).await,
                Found::Drop { name, size, reason, detail } => JobArtifact {
                    job_id: job.id,
                    attempt: job.attempt,
                    content_type: content_type(&name),
                    name,
                    size: size as i64,
                    sha256: None,
                    dropped: Some(reason),
                    detail,
                    object_key: None,
                    created_at: now,
                },
            };
            artifacts.push(artifact);
        }
        self.discard(job, dir).await;
        artifacts
    }

    /// Removes the attempt's directory with whatever is in it.
    pub async fn discard(&self, job: &Job, dir: &Path) {
        let dir = dir.to_path_buf();
        let removed = tokio::task::spawn_blocking(move || remove(&dir)).await.map_err(std::io::Error::other);
        if let Err(e) = removed.and_then(|r| r) {
            tracing::warn!(job = %job.id, error = %e, "cannot remove the attempt's artifacts directory");
        }
    }

    /// Copies one file into the store, hashing it on the way; at most `size` bytes (what was reserved).
    async fn keep(&self, job: &Job, name: String, file: std::fs::File, size: u64, now: i64) -> JobArtifact {
        let key = self.key(job.id, job.attempt, &name);
        let mut artifact = JobArtifact {
            job_id: job.id,
            attempt: job.attempt,
            content_type: content_type(&name),
            name,
            size: size as i64,
            sha256: None,
            dropped: None,
            detail: None,
            object_key: None,
            created_at: now,
        };
        match self.upload(&key, file, size).await {
            Ok((copied, sha)) => {
                artifact.size = copied as i64;
                artifact.sha256 = Some(sha);
                artifact.object_key = Some(key.to_string());
            }
            Err(e) => {
                tracing::warn!(job = %job.id, artifact = %artifact.name, error = %e, "cannot store an artifact");
                artifact.dropped = Some(DropReason::StoreFailed);
                artifact.detail = Some(e);
            }
        }
        artifact
    }

    async fn upload(&self, key: &Key, file: std::fs::File, size: u64) -> Result<(u64, String), String> {
        let upload =
            self.objects.put_multipart(key).await.map_err(|e| format!("the artifact store refused it: {e}"))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, 5 * 1024 * 1024);
        let mut reader = tokio::fs::File::from_std(file).take(size);
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut copied = 0u64;
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    writer.abort().await.ok();
                    return Err(format!("cannot read it: {e}"));
                }
            };
            hash.update(&buf[..n]);
            if let Err(e) = writer.wait_for_capacity(4).await {
                return Err(format!("the artifact store refused it: {e}"));
            }
            writer.write(&buf[..n]);
            copied += n as u64;
        }
        writer.finish().await.map_err(|e| format!("the artifact store refused it: {e}"))?;
        Ok((copied, hex::encode(hash.finalize())))
    }

    fn key(&self, id: JobId, attempt: i32, name: &str) -> Key {
        let base = self.prefix.child("jobs").child(id.to_string()).child(attempt.to_string());
        name.split('/').fold(base, |key, part| key.child(part))
    }

    /// The bytes stored under `key`.
    pub async fn read(&self, key: &str) -> object_store::Result<Bytes> {
        let key = Key::parse(key).map_err(|e| object_store::Error::Generic { store: "artifacts", source: e.into() })?;
        Ok(self.objects.get(&key).await?.into_stream().boxed())
    }

    /// Deletes the objects under `keys`; one already gone is no error.
    pub async fn delete(&self, keys: &[String]) -> object_store::Result<()> {
        for key in keys {
            let Ok(key) = Key::parse(key) else { continue };
            match self.objects.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Removes the attempts' directories that no running job of this database owns: what a server that died
    /// mid-job left. Called at start, after this node rescued its own jobs.
    pub async fn clean_leftovers(&self, store: &Store) -> anyhow::Result<usize> {
        let entries: Vec<PathBuf> = std::fs::read_dir(&self.work)?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        let mut removed = 0;
        for path in entries {
            let owner = path.file_name().and_then(|n| n.to_str()).and_then(|n| {
                let (id, attempt) = n.split_once('-')?;
                Some((id.parse::<JobId>().ok()?, attempt.parse::<i32>().ok()?))
            });
            let running = match owner {
                Some((id, attempt)) => match store.jobs().get(id).await {
                    Ok(job) => job.status == JobStatus::Running && job.attempt == attempt,
                    Err(crate::store::StoreError::NotFound) => false,
                    Err(e) => return Err(e.into()),
                },
                None => false,
            };
            if !running {
                remove(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Removes a directory (never following a link in it) or whatever else is at `path`.
fn remove(path: &Path) -> std::io::Result<()> {
    match path.symlink_metadata() {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// `object_store` passes over options it does not know: a misspelt one would be ignored without a word. Each is
/// checked against the store's own names here, so that the server refuses to start instead.
fn check_options(url: &url::Url, options: &BTreeMap<String, String>) -> anyhow::Result<()> {
    match url.scheme() {
        "s3" | "s3a" => {
            for key in options.keys() {
                key.parse::<object_store::aws::AmazonS3ConfigKey>().map_err(|_| {
                    anyhow::anyhow!("artifacts_options: '{key}' is not an option of the S3 store (e.g. aws_endpoint)")
                })?;
            }
            Ok(())
        }
        scheme if !options.is_empty() => {
            Err(anyhow::anyhow!("artifacts_options are for cloud stores; a {scheme}:// store takes none"))
        }
        _ => Ok(()),
    }
}

fn unreadable(detail: String) -> Found {
    Found::Drop { name: ".".into(), size: 0, reason: DropReason::StoreFailed, detail: Some(detail) }
}

/// The content type a name's extension suggests; `application/octet-stream` when it suggests none.
pub fn content_type(name: &str) -> String {
    mime_guess::from_path(name).first_raw().unwrap_or("application/octet-stream").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, keys: &[&str]) -> Result<(), String> {
        let options = keys.iter().map(|k| (k.to_string(), "x".to_string())).collect();
        check_options(&url::Url::parse(url).unwrap(), &options).map_err(|e| e.to_string())
    }

    #[test]
    fn an_option_the_store_does_not_know_stops_the_start() {
        assert_eq!(check("s3://b/p", &["aws_endpoint", "aws_region", "allow_http", "aws_access_key_id"]), Ok(()));
        let err = check("s3://b/p", &["aws_endpont"]).unwrap_err();
        assert!(err.contains("'aws_endpont' is not an option of the S3 store"), "{err}");
        let err = check("file:///tmp/a", &["aws_region"]).unwrap_err();
        assert!(err.contains("a file:// store takes none"), "{err}");
        assert_eq!(check("file:///tmp/a", &[]), Ok(()));
    }
}
