//! Step 4: latency from `$execute` to the 202, to the first SSE event and to the terminal job record, and the
//! server's own view of each job: from its `submitted_at` to its `finished_at`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api::{Api, is_terminal};

pub(crate) struct Latency {
    pub(crate) accepted: Vec<Duration>,
    pub(crate) first_event: Vec<Duration>,
    pub(crate) finished: Vec<Duration>,
    /// `finished_at` − `submitted_at` of each job's terminal record: the time the server spent, without HTTP.
    pub(crate) server_side: Vec<Duration>,
    /// Jobs that ran on another node than the one their `$stream` was opened on (counted only when the nodes'
    /// boot ids are given).
    pub(crate) ran_elsewhere: usize,
}

/// `n` sequential executes of a task running `command` (split by the server, as any task's); each job's `$stream` is opened right after the 202. With several nodes
/// (`apis`), the i-th `$execute` goes to node i mod n and its `$stream` to node i+1 mod n; `node_ids` (boot ids,
/// in the order of `apis`, or empty) tell on which node's stream the job ran elsewhere.
pub(crate) async fn latency(apis: &[Api], node_ids: &[String], n: usize, command: &str) -> Result<Latency> {
    let name = format!("bench-latency-{}", command.replace(|c: char| !c.is_ascii_alphanumeric(), "-"));
    let task_id = apis[0].create_task(&json!({"name": name, "command": command})).await?;
    let mut lat = Latency {
        accepted: Vec::with_capacity(n),
        first_event: Vec::with_capacity(n),
        finished: Vec::with_capacity(n),
        server_side: Vec::with_capacity(n),
        ran_elsewhere: 0,
    };
    for i in 0..n {
        let (exec_api, stream_at) = (&apis[i % apis.len()], (i + 1) % apis.len());
        let stream_api = &apis[stream_at];
        let t0 = Instant::now();
        let job_id = exec_api.execute(&task_id).await?;
        lat.accepted.push(t0.elapsed());
        let resp = stream_api.http.get(stream_api.url(&format!("/api/v1/jobs/{job_id}/$stream"))).send().await?;
        ensure!(resp.status() == StatusCode::OK, "GET /api/v1/jobs/{{id}}/$stream: {}", resp.status());
        // The first bytes are the `retry:` field, sent at once; what a client waits for is the first event.
        let mut events = resp.bytes_stream().eventsource();
        let (mut last_job, mut first) = (None, true);
        while let Some(event) = events.next().await {
            let event = event.map_err(|err| anyhow!("job {job_id} stream: {err}"))?;
            if std::mem::take(&mut first) {
                lat.first_event.push(t0.elapsed());
            }
            if event.event != "message" {
                continue;
            }
            let job: Value =
                serde_json::from_str(&event.data).with_context(|| format!("job record is not JSON: {}", event.data))?;
            if is_terminal(job["status"].as_str().unwrap_or_default()) {
                lat.finished.push(t0.elapsed());
                last_job = Some(job);
                break;
            }
        }
        let job = last_job.with_context(|| format!("job {job_id}: stream ended before a terminal record"))?;
        ensure!(job["status"] == "completed", "job {job_id} did not complete: {job}");
        lat.server_side.push(between(&job["submitted_at"], &job["finished_at"]).with_context(|| format!("{job}"))?);
        if let Some(stream_node) = node_ids.get(stream_at)
            && job["node_id"].as_str() != Some(stream_node.as_str())
        {
            lat.ran_elsewhere += 1;
        }
    }
    Ok(lat)
}

/// The time from one RFC 3339 time of a job record to another.
fn between(from: &Value, to: &Value) -> Result<Duration> {
    let at = |v: &Value| {
        let text = v.as_str().context("a time is not a string")?;
        chrono::DateTime::parse_from_rfc3339(text).with_context(|| format!("'{text}' is not an RFC 3339 time"))
    };
    let ms = (at(to)? - at(from)?).num_milliseconds();
    ensure!(ms >= 0, "finished before it was submitted ({ms} ms)");
    Ok(Duration::from_millis(ms as u64))
}
