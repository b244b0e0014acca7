//! Submit a job from a Rust program and wait for its result.
//!
//! ```text
//! taskyard serve &
//! curl -s -X POST localhost:8000/api/v1/tasks -H 'Content-Type: application/json' \
//!   -d '{"name": "greet", "command": "echo hello {who}", "params": {"who": "world"}}'
//! cargo run -p taskyard-client --example submit -- greet who=you
//! ```
use std::process::ExitCode;

use futures_util::StreamExt;
use taskyard_client::wire::ExecuteRequest;
use taskyard_client::{Client, Event};

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(task) = args.next() else {
        eprintln!("usage: submit TASK [KEY=VALUE]...");
        return ExitCode::from(2);
    };
    let params = args.filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.into()))).collect();
    match run(&task, params).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("submit: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(task: &str, params: serde_json::Map<String, serde_json::Value>) -> Result<bool, taskyard_client::Error> {
    let url = std::env::var("TASKYARD_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let client = match std::env::var("TASKYARD_API_KEY") {
        Ok(key) => Client::with_api_key(&url, &key)?,
        Err(_) => Client::new(&url)?,
    };
    let submitted = client.execute(task, &ExecuteRequest { params, ..Default::default() }).await?;

    // Print the job's lines as they come; the stream resumes by itself if the connection drops.
    let mut events = client.follow(&submitted.job_id);
    while let Some(event) = events.next().await {
        match event?.event {
            Event::Stdout(line) => println!("{line}"),
            Event::Stderr(line) => eprintln!("{line}"),
            _ => {}
        }
    }
    // Or, without the lines: `client.wait(&submitted.job_id).await?`.
    let job = client.job(&submitted.job_id).await?;
    println!("job {} {} ({:?})", job.id, job.status, job.outcome);
    Ok(job.outcome == Some(taskyard_client::domain::Outcome::Success))
}
