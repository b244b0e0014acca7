//! A taskyard server with registered Rust functions: `cargo run --release --example functions`, with the same
//! flags, `TASKYARD_*` variables and config file as `taskyard serve` (try `-- --help`).
//!
//! ```sh
//! curl -s localhost:8080/api/v1/functions?tags=math
//! curl -s -X POST localhost:8080/api/v1/functions/add/\$execute -H 'Content-Type: application/json' \
//!      -d '{"params": {"a": 2, "b": 3}}'
//! ```
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use taskyard::cli::ServeArgs;
use taskyard::functions::{Function, JobContext, NoParams, Registry};
use taskyard::startup::Application;

#[derive(Deserialize, JsonSchema)]
struct AddParams {
    a: i64,
    b: i64,
}

async fn add(p: AddParams) -> Result<Value, String> {
    let sum = p.a.checked_add(p.b).ok_or("the sum does not fit in 64 bits")?;
    Ok(json!({ "result": sum }))
}

#[derive(Deserialize, JsonSchema)]
struct GreetParams {
    #[serde(default = "world")]
    name: String,
    #[serde(default = "hello")]
    greeting: String,
}

fn world() -> String {
    "World".into()
}

fn hello() -> String {
    "Hello".into()
}

async fn greet(p: GreetParams, ctx: JobContext) -> Result<Value, String> {
    ctx.log(format!("greeting {}", p.name));
    Ok(json!({ "message": format!("{}, {}!", p.greeting, p.name) }))
}

async fn fail(_: NoParams) -> Result<Value, String> {
    Err("this function always fails".into())
}

#[derive(Deserialize, JsonSchema)]
struct NapParams {
    /// How long to sleep, in seconds.
    seconds: f64,
}

async fn nap(p: NapParams, ctx: JobContext) -> Result<Value, String> {
    let length = Duration::try_from_secs_f64(p.seconds).map_err(|e| format!("seconds: {e}"))?;
    ctx.log(format!("napping {} s", p.seconds));
    tokio::select! {
        _ = tokio::time::sleep(length) => Ok(json!({ "slept": p.seconds })),
        _ = ctx.cancellation().cancelled() => Err("woken up: canceled".into()),
    }
}

/// The functions of this example.
pub fn registry() -> Registry {
    Registry::builder()
        .function(Function::new("add", add).doc("Adds two integers.").tags(["math"]))
        .function(Function::new("greet", greet).doc("Greets someone.").tags(["demo"]))
        .function(Function::new("fail", fail).doc("Always returns an error."))
        .function(Function::new("nap", nap).doc("Sleeps, and wakes up when canceled.").tags(["demo"]))
        .build()
        .expect("the example's functions are valid")
}

#[derive(Parser)]
#[command(about = "taskyard with registered Rust functions")]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() -> ExitCode {
    // The job supervisor is this executable too.
    #[cfg(target_os = "linux")]
    if std::env::args().nth(1).as_deref() == Some("supervise") {
        return taskyard::engine::supervisor::run();
    }
    // `functions serve …` works as `taskyard serve …` does.
    let argv = std::env::args().enumerate().filter(|(i, a)| !(*i == 1 && a == "serve")).map(|(_, a)| a);
    let settings = match Args::parse_from(argv).serve.settings() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("functions: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("an async runtime");
    let served = runtime.block_on(async {
        let app = Application::build_with(settings, registry()).await?;
        tracing::info!("listening on http://{}", app.address());
        app.run_until_stopped().await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("functions: {err:#}");
            ExitCode::FAILURE
        }
    }
}
