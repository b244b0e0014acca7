//! `taskyard task add|ls|show|edit|rm|enable|disable`.
use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Map, Value};
use taskyard_client::domain::RetryPolicy;
use taskyard_client::wire::{CreateTask, UpdateTask};

use super::format;
use super::remote::{Failure, Remote, code};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  taskyard task add 'echo hello {who}' --name greet -p who=world
  taskyard task ls
  taskyard task show greet
  taskyard task edit greet --timeout 60 -p who=you
  taskyard task disable greet
  taskyard task rm greet")]
pub struct TaskArgs {
    #[command(subcommand)]
    pub command: TaskCommand,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Create a task.
    #[command(after_help = "Examples:
  taskyard task add 'echo hello {who}' --name greet -p who=world
  taskyard task add 'sleep {seconds}' --name nap -p seconds=5 --timeout 60 --tag demo")]
    Add {
        /// The command line (split like a shell would, never run by one); argv[0] must be on the server's
        /// allow-list. `{name}` placeholders are filled from parameters.
        command: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// List the tasks.
    #[command(visible_alias = "list", after_help = "Example:\n  taskyard task ls --output json")]
    Ls,
    /// Show a task.
    #[command(after_help = "Example:\n  taskyard task show greet")]
    Show {
        /// The task's id or unique name.
        task: String,
    },
    /// Change some of a task's fields; the others keep their values.
    #[command(after_help = "Examples:
  taskyard task edit greet --command 'echo hi {who}'
  taskyard task edit greet --no-timeout")]
    Edit {
        /// The task's id or unique name.
        task: String,
        /// A new command line.
        #[arg(long)]
        command: Option<String>,
        #[command(flatten)]
        fields: Fields,
        /// Clear the timeout.
        #[arg(long, conflicts_with = "timeout")]
        no_timeout: bool,
    },
    /// Delete a task (its jobs stay).
    #[command(visible_alias = "delete", after_help = "Example:\n  taskyard task rm greet")]
    Rm {
        /// The task's id or unique name.
        task: String,
    },
    /// Let a task run again.
    #[command(after_help = "Example:\n  taskyard task enable greet")]
    Enable {
        /// The task's id or unique name.
        task: String,
    },
    /// Refuse new jobs of a task (running ones go on).
    #[command(after_help = "Example:\n  taskyard task disable greet")]
    Disable {
        /// The task's id or unique name.
        task: String,
    },
}

/// The fields `add` and `edit` share.
#[derive(Debug, Args)]
pub struct Fields {
    /// A unique name (letters, digits, '.', '_', '-').
    #[arg(long)]
    name: Option<String>,
    /// A default parameter value, KEY=VALUE; repeat for more. A number or true/false is sent as such; quote it as
    /// JSON ('KEY="5"') to send a string.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE", value_parser = param)]
    params: Vec<(String, Value)>,
    /// An environment variable of the job, NAME=VALUE; repeat for more.
    #[arg(short = 'e', long = "env", value_name = "NAME=VALUE", value_parser = pair)]
    env: Vec<(String, String)>,
    /// The absolute working directory.
    #[arg(long)]
    cwd: Option<String>,
    /// Kill the job after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<i64>,
    /// A tag; repeat for more (replaces the task's tags).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// How failed attempts run again, as JSON: '{"max_attempts": 3, "initial_delay_seconds": 5}'.
    #[arg(long, value_name = "JSON", value_parser = retry_policy)]
    retry: Option<RetryPolicy>,
    /// Disabled: no new jobs until `taskyard task enable`.
    #[arg(long)]
    disabled: bool,
}

impl Fields {
    fn update(self) -> UpdateTask {
        UpdateTask {
            name: self.name.map(Some),
            params: (!self.params.is_empty()).then(|| self.params.into_iter().collect::<Map<_, _>>()),
            env: (!self.env.is_empty()).then(|| self.env.into_iter().collect::<BTreeMap<_, _>>()),
            cwd: self.cwd.map(Some),
            timeout_seconds: self.timeout.map(Some),
            tags: (!self.tags.is_empty()).then_some(self.tags),
            enabled: self.disabled.then_some(false),
            retry: self.retry.map(Some),
            ..UpdateTask::default()
        }
    }
}

/// `KEY=VALUE`: the value as JSON when it is a JSON scalar (`5`, `true`, `"5"`), else as a string.
pub fn param(s: &str) -> Result<(String, Value), String> {
    let (key, value) = pair(s)?;
    let value = match serde_json::from_str::<Value>(&value) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::String(_))) => v,
        _ => Value::String(value),
    };
    Ok((key, value))
}

fn retry_policy(s: &str) -> Result<RetryPolicy, String> {
    serde_json::from_str(s).map_err(|e| format!("not a retry policy: {e}"))
}

fn pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

pub async fn main(args: TaskArgs) -> Result<ExitCode, Failure> {
    let remote = args.remote;
    let client = remote.client()?;
    let shown = match args.command {
        TaskCommand::Add { command, fields } => {
            let create = CreateTask { command, fields: fields.update() };
            client.create_task(&create).await?
        }
        TaskCommand::Ls => {
            let tasks = client.tasks().await?;
            if remote.json() {
                format::json(&tasks)
            } else {
                format::tasks(&tasks)
            }
            return Ok(ExitCode::SUCCESS);
        }
        TaskCommand::Show { task } => client.task(&task).await?,
        TaskCommand::Edit { task, command, fields, no_timeout } => {
            let mut update = fields.update();
            update.command = command;
            if no_timeout {
                update.timeout_seconds = Some(None);
            }
            if serde_json::to_value(&update).is_ok_and(|v| v.as_object().is_some_and(Map::is_empty)) {
                return Err(Failure::new(code::USAGE, "nothing to change; see taskyard task edit --help"));
            }
            client.update_task(&task, &update).await?
        }
        TaskCommand::Rm { task } => {
            client.delete_task(&task).await?;
            if !remote.json() {
                println!("deleted task {task}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        TaskCommand::Enable { task } => enabled(&client, &task, true).await?,
        TaskCommand::Disable { task } => enabled(&client, &task, false).await?,
    };
    if remote.json() {
        format::json(&shown)
    } else {
        format::task(&shown)
    }
    Ok(ExitCode::SUCCESS)
}

async fn enabled(
    client: &taskyard_client::Client,
    task: &str,
    enabled: bool,
) -> Result<taskyard_client::wire::TaskView, Failure> {
    Ok(client.update_task(task, &UpdateTask { enabled: Some(enabled), ..UpdateTask::default() }).await?)
}
