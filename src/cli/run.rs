//! `taskyard run`: queue a job, and optionally follow it or wait for it, exiting with its outcome.
use std::collections::VecDeque;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;
use taskyard_client::Client;
use taskyard_client::domain::Outcome;
use taskyard_client::wire::{ExecuteRequest, JobView, StreamFilter};

use super::follow::{Printer, follow};
use super::format;
use super::remote::{EXIT_CODES, Failure, Remote, code};

/// Output lines shown after a failure with `--wait`.
const TAIL_LINES: usize = 20;

#[derive(Debug, Args)]
#[command(after_help = format!("Examples:
  taskyard run greet -p who=you            # prints the job id
  taskyard run greet --follow              # prints its lines as they come
  taskyard run nightly --wait              # in a crontab: silent on success; on failure a summary and the
                                           # last {TAIL_LINES} output lines, so cron mails them

{EXIT_CODES}"))]
pub struct RunArgs {
    /// The task's id or unique name.
    task: String,
    /// A parameter value, KEY=VALUE; repeat for more. A number or true/false is sent as such; quote it as JSON
    /// ('KEY="5"') to send a string.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE", value_parser = super::tasks::param)]
    params: Vec<(String, Value)>,
    /// Print the job's lines as they come (stderr lines to stderr), then exit with its outcome.
    #[arg(short, long)]
    follow: bool,
    /// Wait for the job to end and exit with its outcome; print nothing when it completes (unless --verbose), a
    /// summary and its last lines when it does not.
    #[arg(short, long)]
    wait: bool,
    /// With --wait: print the summary when the job completes too.
    #[arg(short, long)]
    verbose: bool,
    /// Run after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    delay: Option<f64>,
    /// An Idempotency-Key: a repeat within 24 h answers with the job queued the first time.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

pub async fn main(args: RunArgs) -> Result<ExitCode, Failure> {
    let client = args.remote.client()?;
    let json = args.remote.json();
    let request =
        ExecuteRequest { params: args.params.into_iter().collect(), delay_seconds: args.delay, ..Default::default() };
    let submitted = match &args.idempotency_key {
        Some(key) => client.execute_once(&args.task, &request, key).await?,
        None => client.execute(&args.task, &request).await?,
    };
    let id = submitted.job_id.clone();
    if args.follow {
        let job = follow(&client, &id, &mut Printer::new(json, StreamFilter::Both, true)).await?;
        if !json && job.outcome != Some(Outcome::Success) {
            eprintln!("taskyard: {}", summary(&args.task, &job));
        }
        return Ok(ExitCode::from(exit_code(&job)));
    }
    if args.wait {
        let job = client.wait(&id).await?;
        if json {
            format::json(&job);
        } else if job.outcome != Some(Outcome::Success) {
            eprintln!("taskyard: {}", summary(&args.task, &job));
            for line in tail(&client, &id).await? {
                eprintln!("  {line}");
            }
        } else if args.verbose {
            println!("taskyard: {}", summary(&args.task, &job));
        }
        return Ok(ExitCode::from(exit_code(&job)));
    }
    if json {
        format::json(&submitted)
    } else {
        println!("{id}")
    }
    Ok(ExitCode::SUCCESS)
}

/// The exit code that tells how `job` ended (see [`EXIT_CODES`]).
pub fn exit_code(job: &JobView) -> u8 {
    match job.outcome {
        Some(Outcome::Success) => 0,
        Some(Outcome::ExitCode) => job.exit_code.and_then(|c| u8::try_from(c).ok()).filter(|c| *c != 0).unwrap_or(1),
        Some(Outcome::Timeout) => code::TIMEOUT,
        Some(Outcome::Signal) => code::SIGNAL,
        Some(Outcome::Lost | Outcome::Interrupted) => code::LOST,
        Some(Outcome::Canceled) => code::CANCELED,
        Some(Outcome::SpawnError) => code::SPAWN_ERROR,
        // A registered function that returned an error or panicked: a failure, as a non-zero exit is.
        Some(Outcome::Error | Outcome::Panic) => 1,
        None => code::SERVER,
    }
}

/// One line: `job ID of task T failed: exit 3 after 1.2s (attempt 1 of 1): error`.
fn summary(task: &str, job: &JobView) -> String {
    let mut line = format!("job {} of task {task} {}: {}", job.id, job.status, format::outcome(job));
    if let Some(ms) = job.duration_ms {
        line.push_str(&format!(" after {}", format::duration(ms)));
    }
    line.push_str(&format!(" (attempt {} of {})", job.attempt, job.max_attempts));
    if let Some(error) = &job.error {
        line.push_str(&format!(": {error}"));
    }
    line
}

/// The last output lines of a job, stderr ones marked.
async fn tail(client: &Client, id: &str) -> Result<Vec<String>, Failure> {
    let mut lines = VecDeque::with_capacity(TAIL_LINES + 1);
    let mut after = 0;
    loop {
        let page = client.output(id, StreamFilter::Both, after, None).await?;
        for item in page.items {
            let mark = if item.stream == "stderr" { "! " } else { "" };
            lines.push_back(format!("{mark}{}", item.line));
            if lines.len() > TAIL_LINES {
                lines.pop_front();
            }
        }
        if !page.has_more {
            break;
        }
        after = page.next_after_seq;
    }
    if !lines.is_empty() {
        lines.push_front(format!("last {} lines of output (stderr lines marked '!'):", lines.len()));
    }
    Ok(lines.into())
}
