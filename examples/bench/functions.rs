//! Step 7a: end-to-end throughput of function jobs (the registered function `add`, which does nothing else) through
//! the HTTP API of the `functions` example server, measured as the `true` jobs are.
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use crate::server::Server;
use crate::throughput::{EndToEnd, end_to_end_of};

pub(crate) async fn function_jobs(
    bin: &Path,
    http: &reqwest::Client,
    max_concurrency: usize,
    jobs: usize,
    clients: usize,
) -> Result<EndToEnd> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let server = Server::start(bin, dir.path(), max_concurrency, &[]).await?;
    let api = server.api(http);
    api.health().await?;
    let task = json!({ "name": "bench-add", "function": "add", "params": { "a": 1, "b": 2 } });
    let e2e = end_to_end_of(std::slice::from_ref(&api), &task, jobs, clients).await?;
    server.stop().await;
    Ok(e2e)
}
