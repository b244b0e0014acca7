//! The `taskyard` binary: a thin layer over the library.
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use taskyard::cli::{Cli, Command};
use taskyard::startup::Application;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            print!("{}", taskyard::openapi::json());
            ExitCode::SUCCESS
        }
        Command::Service(args) => taskyard::cli::service::main(args),
        Command::Serve(args) => {
            init_logging();
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(err) => {
                    tracing::error!("cannot start the async runtime: {err}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(*args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!("{err:#}");
                    ExitCode::FAILURE
                }
            }
        }
        // No runtime and no threads: the supervisor starts job processes from a single thread.
        Command::Supervise => supervise(),
    }
}

#[cfg(target_os = "linux")]
fn supervise() -> ExitCode {
    taskyard::engine::supervisor::run()
}

#[cfg(not(target_os = "linux"))]
fn supervise() -> ExitCode {
    eprintln!("taskyard supervise: there is no job supervisor on this platform");
    ExitCode::FAILURE
}

async fn serve(args: taskyard::cli::ServeArgs) -> anyhow::Result<()> {
    let settings = args.settings()?;
    raise_open_files_limit();
    let allow = settings.allow.join(", ");
    let app = Application::build(settings.clone()).await?;
    tracing::info!(
        database = %redact(&settings.database_url),
        max_concurrency = settings.max_concurrency,
        api_keys = settings.api_keys.len(),
        "allowed programs: {allow}"
    );
    tracing::info!("listening on http://{}", app.address());
    app.run_until_stopped().await
}

/// Every SSE follower holds a socket: a soft limit of 1,024 open files (a common default) would refuse the
/// thousand-and-first. Raise it to the hard limit, as far as this process may.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
        && let Err(err) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
    {
        tracing::warn!(soft, hard, error = %err, "cannot raise the open files limit");
    }
}

/// Hides a password in a database URL before it is logged.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &creds[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_span_events(FmtSpan::CLOSE)
        .init();
}
