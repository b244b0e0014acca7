//! The report: one Markdown table of every measurement, with the command and the machine that produced it.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::Args;
use crate::big_output::{BigOutput, RSS_SAMPLE_EVERY};
use crate::cluster::ClusterResults;
use crate::cluster_rescue::{CLUSTER_CANCEL_WAIT, CLUSTER_RESCUE_JOBS, CLUSTER_RESCUE_POLL_EVERY};
use crate::followers;
use crate::latency::Latency;
use crate::rescue::{RESCUE_COMMAND, RESCUE_POLL_EVERY, Rescue};
use crate::throughput::{Creates, EndToEnd, POLL_EVERY};

pub(crate) struct Results {
    pub(crate) machine: String,
    pub(crate) spawn_rate: f64,
    pub(crate) e2e: EndToEnd,
    pub(crate) lat: Latency,
    pub(crate) lat_echo: Latency,
    pub(crate) create: Creates,
    pub(crate) idle_rss_kib: u64,
    pub(crate) peak_rss_kib: u64,
    pub(crate) big: BigOutput,
    pub(crate) rescue: Rescue,
    /// End to end through the server with registered functions, when it was there.
    pub(crate) functions: Option<EndToEnd>,
    pub(crate) crowd: Option<followers::Followers>,
    pub(crate) cluster: Option<ClusterResults>,
}

pub(crate) fn report(args: &Args, server_bin: &Path, r: &Results) -> String {
    let jobs_per_s = args.jobs as f64 / r.e2e.elapsed.as_secs_f64();
    let mut out = String::new();
    report_header(&mut out, args, server_bin, r);
    report_server(&mut out, args, r);
    report_big_output(&mut out, args, &r.big);
    report_rescue(&mut out, &r.rescue);
    if let Some(functions) = &r.functions {
        let _ = writeln!(
            out,
            "| end-to-end function jobs | `examples/functions` server; {} `$execute` of a task calling `add` from {} clients; as above | {} jobs/s |",
            thousands(args.jobs as f64),
            args.clients,
            thousands(args.jobs as f64 / functions.elapsed.as_secs_f64())
        );
    }
    if let Some(crowd) = &r.crowd {
        followers::report(&mut out, crowd);
    }
    if let Some(cluster) = &r.cluster {
        report_cluster(&mut out, args, r.spawn_rate, jobs_per_s, cluster);
    }
    out
}

/// The command, the machine, the server and the cluster, then the table's head.
fn report_header(out: &mut String, args: &Args, server_bin: &Path, r: &Results) {
    let Results { machine, cluster, .. } = r;
    let _ = writeln!(out);
    let _ = writeln!(out, "Command: `{}`", invocation());
    let _ = writeln!(
        out,
        "Machine: {}; server `{}` on SQLite (temporary directory), {}.",
        machine,
        server_bin.display(),
        concurrency(args.max_concurrency)
    );
    match cluster {
        Some(cluster) => {
            let _ = writeln!(
                out,
                "Cluster rows: nodes of the same binary on PostgreSQL {} at `{}`, {} each, a fresh database per measurement.",
                cluster.postgres,
                args.postgres_url,
                concurrency(args.max_concurrency)
            );
        }
        None => {
            let _ = writeln!(out, "Cluster part skipped (`--no-cluster`).");
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "| measurement | how | result |");
    let _ = writeln!(out, "| --- | --- | --- |");
}

/// The rows of steps 1 to 5: the spawn ceiling and the loaded server.
fn report_server(out: &mut String, args: &Args, r: &Results) {
    let Results { spawn_rate, e2e, lat, create, idle_rss_kib, peak_rss_kib, .. } = r;
    let spawn_rate = *spawn_rate;
    let jobs_per_s = args.jobs as f64 / e2e.elapsed.as_secs_f64();
    let _ = writeln!(
        out,
        "| spawn `/bin/true` (the ceiling) | tokio::process inside `spawn_blocking`, {} in flight, N={} | {} proc/s |",
        args.spawn_in_flight,
        thousands(args.spawn_n as f64),
        thousands(spawn_rate)
    );
    let _ = writeln!(
        out,
        "| end-to-end `true` jobs | {} `$execute` from {} clients; first `$execute` to last job `completed` (completed count polled every {} ms) | {} jobs/s ({:.0}% of spawn) |",
        thousands(args.jobs as f64),
        args.clients,
        POLL_EVERY.as_millis(),
        thousands(jobs_per_s),
        100.0 * jobs_per_s / spawn_rate
    );
    let _ = writeln!(
        out,
        "| `$execute` accepted (202) | same run, until the last 202 | {} req/s |",
        thousands(args.jobs as f64 / e2e.submit_elapsed.as_secs_f64())
    );
    let how = format!("{} sequential executes of `true`", args.latency_n);
    latency_rows(out, "", &how, "", lat);
    let how = format!("{} sequential executes of `echo hi`", args.latency_n);
    latency_rows(out, "`echo hi`: ", &how, "", &r.lat_echo);
    let _ = writeln!(
        out,
        "| `echo hi`: server-side `submitted_at` → `finished_at` | same; the times in each job's terminal record (ms precision) | {} |",
        p50_p99(&r.lat_echo.server_side)
    );
    let _ = writeln!(
        out,
        "| create task | {} `POST /api/v1/tasks` from {} clients | {}, {} req/s |",
        thousands(args.creates as f64),
        args.clients,
        p50_p99(&create.latencies),
        thousands(args.creates as f64 / create.elapsed.as_secs_f64())
    );
    let _ = writeln!(
        out,
        "| server RSS | idle after start (VmRSS) / peak at the end (VmHWM) | {:.1} MiB / {:.1} MiB |",
        *idle_rss_kib as f64 / 1024.0,
        *peak_rss_kib as f64 / 1024.0
    );
}

/// The rows of step 6: one job printing a lot.
fn report_big_output(out: &mut String, args: &Args, big: &BigOutput) {
    let big_secs = big.duration.as_secs_f64();
    let _ = writeln!(
        out,
        "| big output | one job `sh -c 'yes <70 chars> \\| head -c {}'` on a fresh server; the job record's `duration_ms` | {} bytes in {:.2} s, {} MB/s |",
        args.big_output_bytes,
        thousands(args.big_output_bytes as f64),
        big_secs,
        thousands(big.stdout_bytes as f64 / 1e6 / big_secs)
    );
    let _ = writeln!(
        out,
        "| server RSS, big output | VmRSS before `$execute` / max VmRSS sampled every {} ms during the job / VmHWM after | {:.1} MiB / {:.1} MiB / {:.1} MiB |",
        RSS_SAMPLE_EVERY.as_millis(),
        big.rss_before_kib as f64 / 1024.0,
        big.rss_max_sampled_kib as f64 / 1024.0,
        big.hwm_after_kib as f64 / 1024.0
    );
    let _ = writeln!(
        out,
        "| big output, job record | `stdout_bytes` / `stdout_lines` / `dropped_bytes` (`dropped_lines`) | {} / {} / {} ({}) |",
        thousands(big.stdout_bytes as f64),
        thousands(big.stdout_lines as f64),
        thousands(big.dropped_bytes as f64),
        thousands(big.dropped_lines as f64)
    );
}

/// The rows of step 7: the rescue after SIGKILL.
fn report_rescue(out: &mut String, rescue: &Rescue) {
    let _ = writeln!(
        out,
        "| rescue: `kill -9` → listening | `{RESCUE_COMMAND}` running (retry on `lost`, 2 attempts, no delay); SIGKILL the server, start it on the same SQLite file; until its `listening on` line | {:.0} ms |",
        rescue.listening.as_secs_f64() * 1000.0
    );
    let _ = writeln!(
        out,
        "| rescue: `kill -9` → attempt 2 | same; until `GET /api/v1/jobs/{{id}}` shows attempt 2 (polled every {} ms) | {:.0} ms ({}) |",
        RESCUE_POLL_EVERY.as_millis(),
        rescue.next_attempt.as_secs_f64() * 1000.0,
        rescue.next_status
    );
    let _ = writeln!(
        out,
        "| rescue: leftover processes | attempt-1 processes alive once attempt 2 shows (of those before the kill) / job processes left after cancel and stop | {} (of {}) / {} |",
        rescue.survivors.len(),
        rescue.first_attempt_processes,
        rescue.left_at_end.len()
    );
}

pub(crate) fn report_cluster(
    out: &mut String,
    args: &Args,
    spawn_rate: f64,
    sqlite_jobs_per_s: f64,
    cluster: &ClusterResults,
) {
    let ClusterResults { e2e, lat, rescue, .. } = cluster;
    for (i, run) in e2e.iter().enumerate() {
        let nodes = i + 1;
        let jobs_per_s = args.jobs as f64 / run.elapsed.as_secs_f64();
        let how = if nodes == 1 {
            format!(
                "as the SQLite row: {} `$execute` from {} clients, to the one node; fresh database",
                thousands(args.jobs as f64),
                args.clients
            )
        } else {
            format!("same, the `$execute`s round-robin over the {nodes} nodes; completed count polled on the first")
        };
        let _ = writeln!(
            out,
            "| end-to-end `true` jobs, PostgreSQL, {nodes} node{} | {how} | {} jobs/s ({:.0}% of spawn, {:.2}× SQLite's {}); 202s at {} req/s |",
            if nodes == 1 { "" } else { "s" },
            thousands(jobs_per_s),
            100.0 * jobs_per_s / spawn_rate,
            jobs_per_s / sqlite_jobs_per_s,
            thousands(sqlite_jobs_per_s),
            thousands(args.jobs as f64 / run.submit_elapsed.as_secs_f64())
        );
    }
    let nodes = e2e.len();
    let how = format!(
        "{nodes} nodes, after the {nodes}-node run: {} sequential executes of `true`, the i-th sent to node i mod {nodes}",
        args.latency_n
    );
    let stream = format!(
        " on another node (i+1 mod {nodes}); the job ran on another node than the stream's in {} of {}",
        lat.ran_elsewhere, args.latency_n
    );
    latency_rows(out, "cluster ", &how, &stream, lat);
    let _ = writeln!(
        out,
        "| cluster rescue: `kill -9` → attempt 2 | fresh {} nodes, `--lease-seconds {}`; {CLUSTER_RESCUE_JOBS} `{RESCUE_COMMAND}` jobs running (retry on `lost`, 2 attempts, no delay); SIGKILL the node running the most ({} of them); until `GET /api/v1/jobs/{{id}}` on a surviving node shows attempt 2 for each (polled every {} ms) | max {:.0} ms, median {:.0} ms (lease {} s; {} of {} already running again) |",
        rescue.nodes,
        rescue.lease_seconds,
        rescue.killed_jobs,
        CLUSTER_RESCUE_POLL_EVERY.as_millis(),
        rescue.to_next_attempt.iter().max().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        median(&rescue.to_next_attempt).as_secs_f64() * 1000.0,
        rescue.lease_seconds,
        rescue.running_again,
        rescue.killed_jobs
    );
    let _ = writeln!(
        out,
        "| cluster rescue: the rest | surviving nodes' jobs still at attempt 1, running / killed node's attempt-1 processes alive once all showed attempt 2 / jobs not ended {} s after DELETE / job processes left after cancel and stop | {} of {} / {} / {} / {} |",
        CLUSTER_CANCEL_WAIT.as_secs(),
        rescue.others_untouched,
        rescue.other_jobs,
        rescue.survivors.len(),
        rescue.not_canceled.len(),
        rescue.left_at_end.len()
    );
}

/// The three latency rows: `$execute` → 202 (`how` it was measured), → first SSE event (`$stream` opened right
/// after the 202, then `stream`) and → terminal SSE record; `prefix` starts each row's name.
fn latency_rows(out: &mut String, prefix: &str, how: &str, stream: &str, lat: &Latency) {
    let _ = writeln!(out, "| {prefix}`$execute` → 202 | {how} | {} |", p50_p99(&lat.accepted));
    let _ = writeln!(
        out,
        "| {prefix}`$execute` → first SSE event | same; `$stream` opened right after the 202{stream} | {} |",
        p50_p99(&lat.first_event)
    );
    let _ = writeln!(out, "| {prefix}`$execute` → terminal SSE record | same | {} |", p50_p99(&lat.finished));
}

/// How many jobs each server ran at once, as its flag says.
fn concurrency(max_concurrency: usize) -> String {
    match max_concurrency {
        0 => "its default `max_concurrency`".to_string(),
        n => format!("`--max-concurrency {n}`"),
    }
}

/// The middle sample (the mean of the two middle ones for an even count); zero for none.
pub(crate) fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

/// Nearest-rank percentiles, in milliseconds.
pub(crate) fn p50_p99(samples: &[Duration]) -> String {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let at = |p: f64| {
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1].as_secs_f64() * 1000.0
    };
    format!("p50 {:.2} ms, p99 {:.2} ms", at(0.50), at(0.99))
}

/// 12345.6 -> "12,346"
pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The command that reproduces this run.
pub(crate) fn invocation() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cmd = "cargo run --release --example bench".to_string();
    if !args.is_empty() {
        cmd.push_str(" --");
        for arg in args {
            if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || "'\"$\\".contains(c)) {
                cmd.push_str(&format!(" '{}'", arg.replace('\'', r"'\''")));
            } else {
                cmd.push(' ');
                cmd.push_str(&arg);
            }
        }
    }
    cmd
}

pub(crate) fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim().to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let kernel =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|k| k.trim().to_string()).unwrap_or_default();
    // Other work on the machine skews every figure; the load average says how much there was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string());
    format!("{cpus} CPUs ({model}), Linux {kernel}, load average {load} at start")
}
