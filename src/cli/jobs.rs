//! `taskyard jobs`, `job`, `logs`, `cancel`, `retry`: reading and steering jobs.
use std::process::ExitCode;

use clap::Args;
use taskyard_client::domain::{JobStatus, TaskId};
use taskyard_client::wire::StreamFilter;
use taskyard_client::{Client, JobsQuery};

use super::follow::{Printer, follow};
use super::format;
use super::remote::{Failure, Remote};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  taskyard jobs
  taskyard jobs --status failed --task nightly
  taskyard jobs --tag nightly --since 2026-12-01T00:00:00Z
  taskyard jobs --output json | jq -r '.[].id'")]
pub struct JobsArgs {
    /// Only jobs in this state.
    #[arg(long, value_parser = parse_status)]
    status: Option<JobStatus>,
    /// Only jobs of this task (id or name).
    #[arg(long, value_name = "TASK")]
    task: Option<String>,
    /// Only jobs of tasks that have this tag; repeat for tasks that have all of them.
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Only jobs submitted at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only jobs submitted before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
    limit: u64,
    #[command(flatten)]
    remote: Remote,
}

fn parse_status(s: &str) -> Result<JobStatus, String> {
    s.parse::<JobStatus>().map_err(|e| e.to_string())
}

/// A job id, for the commands that take one.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// The job's id.
    id: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  taskyard logs 01JF3Q6Z8V3K4W2M1N0P9R8S7T
  taskyard logs 01JF3Q6Z8V3K4W2M1N0P9R8S7T -f --stderr")]
pub struct LogsArgs {
    /// The job's id.
    id: String,
    /// Follow: print lines as they come until the job ends, reconnecting (and missing nothing) if the server
    /// restarts.
    #[arg(short, long)]
    follow: bool,
    /// Only standard error.
    #[arg(long, conflicts_with = "stdout")]
    stderr: bool,
    /// Only standard output.
    #[arg(long)]
    stdout: bool,
    #[command(flatten)]
    remote: Remote,
}

pub async fn list(args: JobsArgs) -> Result<ExitCode, Failure> {
    let client = args.remote.client()?;
    let task_id = match args.task {
        None => None,
        Some(task) => Some(task_id(&client, &task).await?),
    };
    let query = JobsQuery {
        status: args.status,
        task_id,
        tags: args.tags,
        since: args.since,
        until: args.until,
        size: Some(args.limit),
    };
    let jobs = client.jobs(&query).await?;
    if args.remote.json() {
        format::json(&jobs)
    } else {
        format::jobs(&jobs)
    }
    Ok(ExitCode::SUCCESS)
}

/// A task id, from an id or a name.
async fn task_id(client: &Client, task: &str) -> Result<TaskId, Failure> {
    match task.parse::<TaskId>() {
        Ok(id) => Ok(id),
        Err(_) => {
            let found = client.task(task).await?;
            found.id.parse().map_err(|_| Failure::new(super::remote::code::SERVER, "the server sent a bad task id"))
        }
    }
}

pub async fn show(args: JobArgs) -> Result<ExitCode, Failure> {
    let job = args.remote.client()?.job(&args.id).await?;
    if args.remote.json() {
        format::json(&job)
    } else {
        format::job(&job)
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn cancel(args: JobArgs) -> Result<ExitCode, Failure> {
    let job = args.remote.client()?.cancel(&args.id).await?;
    if args.remote.json() {
        format::json(&job);
    } else {
        println!("cancel of job {} under way ({})", job.id, format::status(job.status));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn retry(args: JobArgs) -> Result<ExitCode, Failure> {
    let job = args.remote.client()?.retry(&args.id).await?;
    if args.remote.json() {
        format::json(&job)
    } else {
        println!("{}", job.id)
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn logs(args: LogsArgs) -> Result<ExitCode, Failure> {
    let client = args.remote.client()?;
    let lines = match (args.stdout, args.stderr) {
        (true, false) => StreamFilter::Stdout,
        (false, true) => StreamFilter::Stderr,
        _ => StreamFilter::Both,
    };
    if args.follow {
        follow(&client, &args.id, &mut Printer::new(args.remote.json(), lines, false)).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut after = 0;
    loop {
        let page = client.output(&args.id, lines, after, None).await?;
        for item in &page.items {
            if args.remote.json() {
                format::json_line(item);
            } else if item.stream == "stderr" {
                eprintln!("{}", item.line);
            } else {
                println!("{}", item.line);
            }
        }
        if !page.has_more {
            return Ok(ExitCode::SUCCESS);
        }
        after = page.next_after_seq;
    }
}
