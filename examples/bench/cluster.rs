//! Steps 9 and 10, the cluster: several nodes of the same binary on PostgreSQL, end to end and latency.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::Args;
use crate::api::Api;
use crate::cluster_rescue::{CLUSTER_RESCUE_JOBS, ClusterRescue, cluster_rescue};
use crate::latency::{Latency, latency};
use crate::postgres::Postgres;
use crate::rescue::RESCUE_COMMAND;
use crate::server::Server;
use crate::throughput::{EndToEnd, end_to_end};

pub(crate) struct ClusterResults {
    /// PostgreSQL's version.
    pub(crate) postgres: String,
    /// End-to-end runs with 1, 2, ... nodes.
    pub(crate) e2e: Vec<EndToEnd>,
    /// Latency on the largest cluster, streams opened on another node than the `$execute`.
    pub(crate) lat: Latency,
    pub(crate) rescue: ClusterRescue,
}

/// The cluster part: end-to-end runs with 1 up to `--cluster-nodes` nodes (the latency measurement follows the
/// last one, on the same nodes), then the rescue of a killed node's jobs. Each on a fresh database.
pub(crate) async fn cluster(
    args: &Args,
    bin: &Path,
    http: &reqwest::Client,
    postgres: &Postgres,
    phase_timeout: Duration,
) -> Result<ClusterResults> {
    let max_nodes = args.cluster_nodes;
    eprintln!(
        "[8/10] cluster end to end on PostgreSQL {}: {} executes of `true` from {} clients, 1 to {max_nodes} nodes",
        postgres.version, args.jobs, args.clients
    );
    let mut e2e = Vec::with_capacity(max_nodes);
    let mut lat = None;
    for nodes in 1..=max_nodes {
        let last = nodes == max_nodes;
        let what = format!("cluster end-to-end run with {nodes} node(s)");
        // The latency measurement runs on the same nodes after the last end-to-end run: give it its own time.
        let timeout = if last { phase_timeout * 2 } else { phase_timeout };
        let (run, latency) = postgres
            .with_fresh_database(&what, timeout, async |database_url| {
                let dir = tempfile::tempdir().context("creating a temporary directory")?;
                let servers = start_nodes(bin, dir.path(), &database_url, nodes, args.max_concurrency, &[]).await?;
                let apis: Vec<Api> = servers.iter().map(|server| server.api(http)).collect();
                for api in &apis {
                    api.health().await?;
                }
                let run = end_to_end(&apis, args.jobs, args.clients).await?;
                eprintln!("      {nodes} node(s): {:.0} jobs/s", args.jobs as f64 / run.elapsed.as_secs_f64());
                let latency = if last {
                    eprintln!(
                        "[9/10] cluster latency: {} sequential executes on {nodes} nodes, each followed over SSE on \
                         another node",
                        args.latency_n
                    );
                    let node_ids = node_ids(&apis[0], &servers).await?;
                    Some(latency(&apis, &node_ids, args.latency_n, "true").await?)
                } else {
                    None
                };
                stop_nodes(servers).await;
                Ok((run, latency))
            })
            .await?;
        e2e.push(run);
        lat = lat.or(latency);
    }
    let lat = lat.context("no latency measurement")?;

    eprintln!(
        "[10/10] cluster rescue: {CLUSTER_RESCUE_JOBS} `{RESCUE_COMMAND}` jobs on {max_nodes} nodes with \
         --lease-seconds {}, the busiest node killed with SIGKILL",
        args.cluster_lease_seconds
    );
    let rescue = postgres
        .with_fresh_database("cluster rescue", phase_timeout, async |database_url| {
            cluster_rescue(bin, http, &database_url, max_nodes, args.max_concurrency, args.cluster_lease_seconds).await
        })
        .await?;
    rescue.warn_leftovers();
    Ok(ClusterResults { postgres: postgres.version.clone(), e2e, lat, rescue })
}

/// Starts `n` nodes on `database_url`, one after the other (each waits for the previous one's `listening on`).
pub(crate) async fn start_nodes(
    bin: &Path,
    dir: &Path,
    database_url: &str,
    n: usize,
    max_concurrency: usize,
    extra: &[&str],
) -> Result<Vec<Server>> {
    let mut servers = Vec::with_capacity(n);
    for i in 0..n {
        let server = Server::start_on(bin, dir, database_url, max_concurrency, extra)
            .await
            .with_context(|| format!("starting node {} of {n}", i + 1))?;
        servers.push(server);
    }
    Ok(servers)
}

/// Stops the nodes all at once (SIGTERM each, SIGKILL any still there after 5 s).
pub(crate) async fn stop_nodes(servers: Vec<Server>) {
    futures_util::future::join_all(servers.into_iter().map(Server::stop)).await;
}

/// The boot ids of `servers`, in their order, from `GET /api/v1/nodes` (matched by pid). A node registers itself
/// shortly after it starts listening, so this asks again for up to 5 s until every node is there.
pub(crate) async fn node_ids(api: &Api, servers: &[Server]) -> Result<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let nodes = api.nodes().await?;
        let ids: Result<Vec<String>> = servers
            .iter()
            .map(|server| {
                nodes
                    .iter()
                    .find(|node| node["pid"].as_u64() == Some(u64::from(server.pid)) && node["status"] == "up")
                    .and_then(|node| node["id"].as_str().map(str::to_owned))
                    .with_context(|| format!("no `up` node with pid {} in GET /api/v1/nodes: {nodes:?}", server.pid))
            })
            .collect();
        if ids.is_ok() || Instant::now() > deadline {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
