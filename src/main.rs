//! The `taskyard` binary: a thin layer over the library.
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use taskyard::cli::{Cli, Command};
use taskyard::config::{LogFormat, Settings};
use taskyard::engine::JOB_SPAN_TARGET;
use taskyard::startup::Application;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Client(command) => command.run(),
        Command::Openapi => {
            print!("{}", taskyard::openapi::json());
            ExitCode::SUCCESS
        }
        Command::Service(args) => taskyard::cli::service::main(args),
        Command::Key(command) => match command.run() {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("taskyard: {err:#}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(args) => {
            // The settings say how to log, so they are read before logging starts; their errors go to stderr.
            let settings = match args.settings() {
                Ok(settings) => settings,
                Err(err) => {
                    eprintln!("taskyard: {err:#}");
                    return ExitCode::FAILURE;
                }
            };
            if let Err(err) = init_logging(settings.log_format) {
                eprintln!("taskyard: cannot set up logging: {err}");
                return ExitCode::FAILURE;
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(err) => {
                    tracing::error!("cannot start the async runtime: {err}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(settings)) {
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

async fn serve(settings: Settings) -> anyhow::Result<()> {
    raise_open_files_limit();
    let allow = settings.allow.join(", ");
    let app = Application::build(settings.clone()).await?;
    tracing::info!(
        database = %redact(&settings.database_url),
        max_concurrency = settings.max_concurrency,
        api_keys = settings.api_keys.len() + settings.keys.len(),
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

/// Text: readable lines, as always. JSON: one object per line; each request's span (request id, route, status)
/// closes with a line that carries its latency, and each job attempt's span (job, task, attempt) closes likewise,
/// its fields on every line logged while it runs. Text leaves the job spans out: its lines name their job already.
fn init_logging(format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let fmt = tracing_subscriber::fmt().with_writer(std::io::stderr).with_span_events(FmtSpan::CLOSE);
    match format {
        LogFormat::Text => {
            let no_job_spans = format!("{JOB_SPAN_TARGET}=off").parse()?;
            fmt.with_env_filter(filter.add_directive(no_job_spans)).with_ansi(std::io::stderr().is_terminal()).init();
        }
        LogFormat::Json => fmt.json().with_current_span(true).with_span_list(false).with_env_filter(filter).init(),
    }
    Ok(())
}
