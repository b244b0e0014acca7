//! Step 7: one job printing a lot, on a fresh server whose memory is sampled meanwhile.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::json;

use crate::api::is_terminal;
use crate::server::{Server, proc_status_kib};

/// The server's default allow-list (`taskyard serve --help`) plus what the big-output task runs (`sh`, `yes`,
/// `head`): `--allow` replaces the default list rather than adding to it.
const BIG_OUTPUT_ALLOW: &[&str] = &["echo", "true", "false", "sleep", "printf", "date", "env", "sh", "yes", "head"];
/// The line `yes` repeats in the big-output job: 70 characters, 71 bytes with its newline.
const BIG_OUTPUT_LINE: &str = "0123456789012345678901234567890123456789012345678901234567890123456789";
/// How often the server's VmRSS (and the job record) is read while the big-output job runs.
pub(crate) const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(50);

pub(crate) struct BigOutput {
    /// The job record's `duration_ms` (started_at to finished_at).
    pub(crate) duration: Duration,
    /// VmRSS of the fresh server with the task created, right before `$execute`.
    pub(crate) rss_before_kib: u64,
    /// The largest VmRSS sampled every [`RSS_SAMPLE_EVERY`] while the job ran.
    pub(crate) rss_max_sampled_kib: u64,
    /// VmHWM after the job ended: the server's peak over its whole (short) life. The kernel updates it lazily
    /// (when memory is unmapped), so it can read a little below the largest sampled VmRSS.
    pub(crate) hwm_after_kib: u64,
    pub(crate) stdout_bytes: u64,
    pub(crate) stdout_lines: u64,
    pub(crate) dropped_bytes: u64,
    pub(crate) dropped_lines: u64,
}

/// On a fresh server (so that VmHWM means "memory while printing this much"), runs one job that prints `bytes`
/// bytes to stdout and waits for its final record, sampling the server's VmRSS meanwhile.
pub(crate) async fn big_output(
    bin: &Path,
    http: &reqwest::Client,
    max_concurrency: usize,
    bytes: u64,
    phase_timeout: Duration,
) -> Result<BigOutput> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let extra: Vec<&str> = BIG_OUTPUT_ALLOW.iter().flat_map(|program| ["--allow", program]).collect();
    let server = Server::start(bin, dir.path(), max_concurrency, &extra).await?;
    let api = server.api(http);
    api.health().await?;
    let command = format!("sh -c 'yes {BIG_OUTPUT_LINE} | head -c {bytes}'");
    let task_id = api.create_task(&json!({"name": "bench-big-output", "command": command})).await?;
    let rss_before_kib = proc_status_kib(server.pid, "VmRSS")?;
    let job_id = api.execute(&task_id).await?;
    let mut rss_max_sampled_kib = rss_before_kib;
    // The job's own time is measured by the server; this deadline only stops a run that hangs.
    let deadline = Instant::now() + phase_timeout;
    let job = loop {
        rss_max_sampled_kib = rss_max_sampled_kib.max(proc_status_kib(server.pid, "VmRSS")?);
        let job = api.job(&job_id).await?;
        if is_terminal(job["status"].as_str().unwrap_or_default()) {
            break job;
        }
        ensure!(Instant::now() < deadline, "the big-output job did not finish within {phase_timeout:?}: {job}");
        tokio::time::sleep(RSS_SAMPLE_EVERY).await;
    };
    let hwm_after_kib = proc_status_kib(server.pid, "VmHWM")?;
    server.stop().await;

    ensure!(job["status"] == "completed", "the big-output job did not complete: {job}");
    let field = |key: &str| job[key].as_u64().with_context(|| format!("no `{key}` in the job record {job}"));
    let stdout_bytes = field("stdout_bytes")?;
    ensure!(
        stdout_bytes == bytes,
        "the big-output job printed {bytes} bytes but its record says {stdout_bytes}: {job}"
    );
    Ok(BigOutput {
        duration: Duration::from_millis(field("duration_ms")?),
        rss_before_kib,
        rss_max_sampled_kib,
        hwm_after_kib,
        stdout_bytes,
        stdout_lines: field("stdout_lines")?,
        dropped_bytes: field("dropped_bytes")?,
        dropped_lines: field("dropped_lines")?,
    })
}
