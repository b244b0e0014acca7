//! `taskyard orphans` and `taskyard nodes`: what fell through, and who runs.
use std::process::ExitCode;

use clap::Args;
use taskyard_client::domain::task::OrphanReason;

use super::format;
use super::remote::{Failure, Remote, code};

#[derive(Debug, Args)]
#[command(after_help = "Exits 1 when any task is orphaned, 0 when none is, so cron can call it directly (cron mails
what it prints):
  0 7 * * *  taskyard orphans

Examples:
  taskyard orphans --reason lost
  taskyard orphans --output json | jq -r '.orphaned_tasks[].id'")]
pub struct OrphansArgs {
    /// Only tasks orphaned for this reason.
    #[arg(long, value_parser = parse_reason)]
    reason: Option<OrphanReason>,
    #[command(flatten)]
    remote: Remote,
}

fn parse_reason(s: &str) -> Result<OrphanReason, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("{s:?} is not a reason; expected never_run, not_runnable or lost"))
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  taskyard nodes\n  taskyard nodes --output json")]
pub struct NodesArgs {
    #[command(flatten)]
    remote: Remote,
}

pub async fn orphans(args: OrphansArgs) -> Result<ExitCode, Failure> {
    let orphans = args.remote.client()?.orphans(args.reason).await?;
    if args.remote.json() {
        format::json(&serde_json::json!({ "orphaned_tasks": orphans, "count": orphans.len() }));
    } else if !orphans.is_empty() {
        format::orphans(&orphans);
    }
    Ok(if orphans.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(code::ORPHANS) })
}

pub async fn nodes(args: NodesArgs) -> Result<ExitCode, Failure> {
    let nodes = args.remote.client()?.nodes().await?;
    if args.remote.json() {
        format::json(&nodes)
    } else {
        format::nodes(&nodes)
    }
    Ok(ExitCode::SUCCESS)
}
