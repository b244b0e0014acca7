//! Benchmark: what this machine allows, and what taskyard achieves on it.
//!
//! ```text
//! cargo build --release && cargo run --release --example bench
//! cargo run --release --example bench -- --help
//! ```
//!
//! One run, one machine:
//! 1. the raw spawn rate of `/bin/true` from a tight tokio loop (the physical ceiling for trivial jobs);
//! 2. the real server binary (`target/release/taskyard`) started on a temporary SQLite database;
//! 3. end-to-end jobs/s of a `true` task through the HTTP API, and its ratio to (1);
//! 4. latency from `$execute` to the first SSE event and to the terminal job record (`true`), and for `echo hi`
//!    the same and the server's own `submitted_at` → `finished_at`;
//! 5. create-task latency and req/s under concurrent clients;
//! 6. the server's RSS when idle at start and its peak (VmHWM) at the end;
//! 7. on a fresh server: one job that prints 1 GiB to stdout (wall time, MB/s, the server's memory meanwhile, and
//!    the job's output totals);
//! 8. on another fresh server: a running job with a retry policy on `lost`, the server killed with SIGKILL and
//!    started again on the same database: time until it listens, and until the job shows its second attempt.
//!
//! 8a. with the `functions` example server (built beside this one, `--functions-bin`): end-to-end jobs/s of the
//!     registered function `add` (no other work) through the HTTP API, as in (3);
//! 8b. on another fresh server: `--followers` (10,000) `$stream`s of one running job opened at once: connect →
//!     first event, the server's memory per follower, the time until all have the job's last line, and whether
//!     each got every event once (`--followers-only` runs just this).
//!
//! Then the cluster part (skip it with `--no-cluster`): several nodes of the same binary on one PostgreSQL server
//! (`--postgres-url`), each measurement on a fresh database that is dropped afterwards:
//! 9. end-to-end jobs/s as in (3) with 1, 2 and 3 nodes, the `$execute`s spread round-robin over the nodes;
//! 10. latency as in (4) on the 3-node cluster, each `$stream` opened on another node than its `$execute`;
//! 11. on a fresh 3-node cluster with a short lease: six running jobs with a retry policy on `lost`, the node that
//!     runs the most of them killed with SIGKILL: time until a surviving node shows each of them at attempt 2.
//!
//! Results are printed as a Markdown table on stdout; progress goes to stderr.
//! The example does not link the `taskyard` library: it measures the binary a user runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, ensure};
use clap::Parser;

mod api;
mod big_output;
mod cluster;
mod cluster_rescue;
mod followers;
mod functions;
mod latency;
mod postgres;
mod report;
mod rescue;
mod scale;
mod server;
mod spawn;
mod throughput;

use crate::api::Api;
use crate::big_output::big_output;
use crate::latency::latency;
use crate::postgres::Postgres;
use crate::report::{Results, invocation, machine, report};
use crate::rescue::{RESCUE_COMMAND, rescue};
use crate::server::{Server, default_server_bin, proc_status_kib, warn_if_stale};
use crate::spawn::raw_spawn_rate;
use crate::throughput::{create_tasks, end_to_end};

#[derive(Parser, Debug)]
#[command(
    about = "Measure taskyard against this machine's process-spawn ceiling and print a Markdown table",
    after_help = "Build the server first: cargo build --release"
)]
struct Args {
    /// Server binary to start [default: `taskyard` in the same target directory as this example,
    /// normally target/release/taskyard]
    #[arg(long, value_name = "PATH")]
    server_bin: Option<PathBuf>,
    /// `--max-concurrency` given to the server (jobs running at once); 0: none, the server's default
    #[arg(long, default_value_t = 16, value_name = "N")]
    max_concurrency: usize,
    /// Processes spawned in the raw spawn measurement
    #[arg(long, default_value_t = 2000, value_name = "N")]
    spawn_n: usize,
    /// Spawns in flight in the raw spawn measurement
    #[arg(long, default_value_t = 16, value_name = "N")]
    spawn_in_flight: usize,
    /// Jobs executed in the end-to-end measurement
    #[arg(long, default_value_t = 2000, value_name = "N")]
    jobs: usize,
    /// Concurrent HTTP clients in the end-to-end and create-task measurements
    #[arg(long, default_value_t = 32, value_name = "N")]
    clients: usize,
    /// Sequential executes in the latency measurement
    #[arg(long, default_value_t = 200, value_name = "N")]
    latency_n: usize,
    /// Tasks created in the create-task measurement
    #[arg(long, default_value_t = 5000, value_name = "N")]
    creates: usize,
    /// Bytes the big-output job prints to stdout (the job must report exactly this many)
    #[arg(long, default_value_t = 1 << 30, value_name = "BYTES")]
    big_output_bytes: u64,
    /// Give up on a measurement after this many seconds
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    phase_timeout: u64,
    /// Skip the cluster part (several nodes on PostgreSQL)
    #[arg(long)]
    no_cluster: bool,
    /// PostgreSQL server of the cluster part, without a database name; the user must be allowed to create
    /// databases. Each cluster measurement creates its own database there (`taskyard_bench_...`) and drops it after.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432", value_name = "URL")]
    postgres_url: String,
    /// Nodes in the largest cluster: end-to-end runs with 1 up to N nodes; latency and rescue use N (at least 2)
    #[arg(long, default_value_t = 3, value_name = "N")]
    cluster_nodes: usize,
    /// `--lease-seconds` given to the nodes of the cluster rescue measurement
    #[arg(long, default_value_t = 2, value_name = "SECONDS")]
    cluster_lease_seconds: u64,
    /// Concurrent followers of one running job in the followers measurement (0 skips it)
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    followers: usize,
    /// Run only the followers measurement
    #[arg(long)]
    followers_only: bool,
    /// Run only the scale measurement (minutes): a backlog of `--backlog` jobs drained by a server with default
    /// settings, and reads with `--history` finished jobs stored (SQLite)
    #[arg(long)]
    scale_only: bool,
    /// Pending jobs in the scale measurement's backlog
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    backlog: usize,
    /// Finished jobs stored in the scale measurement's history
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    history: usize,
    /// The server with registered functions [default: `examples/functions` beside this example; the row is left
    /// out when it is not there]
    #[arg(long, value_name = "PATH")]
    functions_bin: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(err) = run(args).await {
        eprintln!("bench failed: {err:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<()> {
    check_counts(&args)?;
    let server_bin = args.server_bin.clone().unwrap_or_else(default_server_bin);
    if !server_bin.is_file() {
        eprintln!(
            "server binary {} not found.\nBuild it first with `cargo build --release`, or pass --server-bin PATH.",
            server_bin.display()
        );
        std::process::exit(2);
    }
    warn_if_stale(&server_bin);
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow!("a rustls crypto provider was already installed"))?;
    let phase_timeout = Duration::from_secs(args.phase_timeout);
    followers::raise_open_files_limit();
    if args.followers_only {
        return followers_only(&args, &server_bin, phase_timeout).await;
    }
    if args.scale_only {
        // Its own clock: draining a large backlog takes longer than one phase.
        let http = reqwest::Client::builder().timeout(phase_timeout).build().context("building the HTTP client")?;
        return scale_only(&args, &server_bin, &http).await;
    }
    let machine = machine();
    // Before anything else, so that an unreachable PostgreSQL fails the run at once rather than after the SQLite part.
    let postgres = if args.no_cluster { None } else { Some(Postgres::connect(&args.postgres_url).await?) };
    let steps = if args.no_cluster { 7 } else { 10 };
    let http = client(&args, phase_timeout)?;
    let mut results = single_node(&args, &server_bin, &http, steps, phase_timeout, machine).await?;
    if let Some(postgres) = &postgres {
        results.cluster = Some(cluster::cluster(&args, &server_bin, &http, postgres, phase_timeout).await?);
    }
    print!("{}", report(&args, &server_bin, &results));
    Ok(())
}

fn check_counts(args: &Args) -> Result<()> {
    ensure!(
        args.spawn_n > 0
            && args.spawn_in_flight > 0
            && args.jobs > 0
            && args.clients > 0
            && args.latency_n > 0
            && args.creates > 0
            && args.big_output_bytes > 0
            && args.cluster_lease_seconds > 0,
        "every count must be at least 1"
    );
    ensure!(args.no_cluster || args.cluster_nodes >= 2, "--cluster-nodes must be at least 2 (or pass --no-cluster)");
    Ok(())
}

/// `--scale-only`: the scale measurement alone, with its own short report.
async fn scale_only(args: &Args, server_bin: &Path, http: &reqwest::Client) -> Result<()> {
    ensure!(args.backlog > 0 && args.history >= 10, "--backlog must be at least 1 and --history at least 10");
    eprintln!("scale: a backlog of {} jobs, then {} finished jobs stored", args.backlog, args.history);
    let scaled = scale::scale(server_bin, http, args.backlog, args.history).await?;
    let mut out = format!("\nCommand: `{}`\nMachine: {}.\n\n", invocation(), machine());
    out.push_str("| measurement | how | result |\n| --- | --- | --- |\n");
    scale::report(&mut out, &scaled);
    print!("{out}");
    Ok(())
}

/// `--followers-only`: the followers measurement alone, with its own short report.
async fn followers_only(args: &Args, server_bin: &Path, phase_timeout: Duration) -> Result<()> {
    ensure!(args.followers > 0, "--followers-only needs --followers N with N at least 1");
    eprintln!("followers: {} `$stream`s of one running job at once, on a fresh server", args.followers);
    let crowd = followers::followers(server_bin, args.followers, phase_timeout).await?;
    let mut out = format!("\nCommand: `{}`\nMachine: {}.\n\n", invocation(), machine());
    out.push_str("| measurement | how | result |\n| --- | --- | --- |\n");
    followers::report(&mut out, &crowd);
    print!("{out}");
    Ok(())
}

/// The HTTP client of every measurement: a connection pool as large as the clients, and the phase timeout.
fn client(args: &Args, phase_timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients * 2)
        .timeout(phase_timeout)
        .build()
        .context("building the HTTP client")
}

/// Runs `measurement` within `phase_timeout`; `what` names it in the error when it does not finish.
async fn within<T>(phase_timeout: Duration, what: &str, measurement: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(phase_timeout, measurement)
        .await
        .map_err(|_| anyhow!("{what} did not finish within {phase_timeout:?}"))?
}

/// Steps 1 to 7b: the spawn ceiling, then one server on SQLite after another.
async fn single_node(
    args: &Args,
    server_bin: &Path,
    http: &reqwest::Client,
    steps: usize,
    phase_timeout: Duration,
    machine: String,
) -> Result<Results> {
    eprintln!("[1/{steps}] spawning /bin/true {} times, {} in flight", args.spawn_n, args.spawn_in_flight);
    let spawn_rate = raw_spawn_rate(args.spawn_n, args.spawn_in_flight).await?;
    let loaded = loaded_server(args, server_bin, http, steps, phase_timeout).await?;

    eprintln!("[6/{steps}] big output: one job printing {} bytes to stdout, on a fresh server", args.big_output_bytes);
    let big = big_output(server_bin, http, args.max_concurrency, args.big_output_bytes, phase_timeout).await?;

    eprintln!("[7/{steps}] rescue: `{RESCUE_COMMAND}` running, server killed with SIGKILL and started again");
    let rescue = within(phase_timeout, "rescue run", rescue(server_bin, http, args.max_concurrency)).await?;
    rescue.warn_leftovers();

    let functions_bin =
        args.functions_bin.clone().unwrap_or_else(|| server_bin.with_file_name("examples").join("functions"));
    let functions = match functions_bin.is_file() {
        true => {
            eprintln!(
                "[7a/{steps}] function jobs: {} executes of function `add` from {} clients",
                args.jobs, args.clients
            );
            let run = functions::function_jobs(&functions_bin, http, args.max_concurrency, args.jobs, args.clients);
            Some(within(phase_timeout, "function-jobs run", run).await?)
        }
        false => {
            eprintln!(
                "[7a/{steps}] skipped: {} not found (cargo build --release --example functions)",
                functions_bin.display()
            );
            None
        }
    };

    let crowd = match args.followers {
        0 => None,
        n => {
            eprintln!("[7b/{steps}] followers: {n} `$stream`s of one running job at once, on a fresh server");
            Some(followers::followers(server_bin, n, phase_timeout).await?)
        }
    };
    let LoadedServer { idle_rss_kib, e2e, lat, lat_echo, create, peak_rss_kib } = loaded;
    Ok(Results {
        machine,
        spawn_rate,
        e2e,
        lat,
        lat_echo,
        create,
        idle_rss_kib,
        peak_rss_kib,
        big,
        rescue,
        functions,
        crowd,
        cluster: None,
    })
}

/// What steps 2 to 5 measure on one server.
struct LoadedServer {
    idle_rss_kib: u64,
    e2e: throughput::EndToEnd,
    lat: latency::Latency,
    lat_echo: latency::Latency,
    create: throughput::Creates,
    peak_rss_kib: u64,
}

/// Steps 2 to 5 on one server: its memory when idle, end to end, latency, create task, then its peak memory.
async fn loaded_server(
    args: &Args,
    server_bin: &Path,
    http: &reqwest::Client,
    steps: usize,
    phase_timeout: Duration,
) -> Result<LoadedServer> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    eprintln!("[2/{steps}] starting {}", server_bin.display());
    let server = Server::start(server_bin, dir.path(), args.max_concurrency, &[]).await?;
    let api: Api = server.api(http);
    api.health().await?;
    let idle_rss_kib = proc_status_kib(server.pid, "VmRSS")?;

    eprintln!("[3/{steps}] end to end: {} executes of `true` from {} clients", args.jobs, args.clients);
    let e2e = end_to_end(std::slice::from_ref(&api), args.jobs, args.clients);
    let e2e = within(phase_timeout, "end-to-end run", e2e).await?;
    eprintln!("      {:.0} jobs/s", args.jobs as f64 / e2e.elapsed.as_secs_f64());

    eprintln!("[4/{steps}] latency: {} sequential executes followed over SSE", args.latency_n);
    let one = std::slice::from_ref(&api);
    let lat = within(phase_timeout, "latency run", latency(one, &[], args.latency_n, "true")).await?;
    let lat_echo = within(phase_timeout, "latency run", latency(one, &[], args.latency_n, "echo hi")).await?;

    eprintln!("[5/{steps}] create task: {} POST /api/v1/tasks from {} clients", args.creates, args.clients);
    let create = within(phase_timeout, "create-task run", create_tasks(&api, args.creates, args.clients)).await?;

    let peak_rss_kib = proc_status_kib(server.pid, "VmHWM")?;
    server.stop().await;
    Ok(LoadedServer { idle_rss_kib, e2e, lat, lat_echo, create, peak_rss_kib })
}
