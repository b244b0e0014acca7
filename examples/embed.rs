//! taskyard inside your own actix-web application: the app keeps its routes, mounts taskyard's API under `/jobs`,
//! and enqueues a registered function from one of its own handlers without HTTP.
//! `cargo run --example embed`, with the same flags and `TASKYARD_*` variables as `taskyard serve`; then:
//!
//! ```sh
//! curl -s -X POST localhost:8080/reports/weekly     # the app's handler enqueues send_report: {"job_id": ...}
//! curl -s localhost:8080/jobs/api/v1/jobs/JOB_ID    # taskyard's API, mounted under /jobs
//! ```
use std::process::ExitCode;

use actix_web::{App, HttpResponse, HttpServer, web};
use clap::Parser;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use taskyard::cli::ServeArgs;
use taskyard::embed::{Client, Taskyard};
use taskyard::functions::{Function, JobContext, Registry, State};

/// The application's own shared state, which functions ask for by type.
pub struct Mailer {
    pub from: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct ReportParams {
    /// Which report.
    pub period: String,
}

async fn send_report(p: ReportParams, mailer: State<Mailer>, ctx: JobContext) -> Result<Value, String> {
    ctx.log(format!("sending the {} report from {}", p.period, mailer.from));
    Ok(json!({ "sent": p.period, "from": mailer.from }))
}

pub fn registry() -> Registry {
    Registry::builder()
        .state(Mailer { from: "reports@example.com".into() })
        .function(Function::new("send_report", send_report).doc("Sends a report by mail.").tags(["reports"]))
        .build()
        .expect("valid functions")
}

/// The application's own handler: enqueues through the in-process client.
async fn report(client: web::Data<Client>, period: web::Path<String>) -> HttpResponse {
    match client.execute("send_report", json!({ "period": period.into_inner() })).await {
        Ok(job_id) => HttpResponse::Accepted().json(json!({ "job_id": job_id.to_string() })),
        Err(err) => HttpResponse::BadRequest().json(json!({ "error": err.to_string() })),
    }
}

/// The application: its routes, and taskyard under `/jobs`.
pub fn app(taskyard: &Taskyard) -> impl Fn(&mut web::ServiceConfig) + Clone + use<> {
    let mount = taskyard.configure();
    let client = web::Data::new(taskyard.client());
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(client.clone())
            .route("/hello", web::get().to(|| async { "hello from the application\n" }))
            .route("/reports/{period}", web::post().to(report))
            .service(web::scope("/jobs").configure(mount.clone()));
    }
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    if std::env::args().nth(1).as_deref() == Some("supervise") {
        return taskyard::engine::supervisor::run();
    }
    let settings = match Args::parse().serve.settings() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("embed: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("an async runtime");
    let served = runtime.block_on(async {
        let bind = settings.bind.clone();
        let taskyard = Taskyard::start(settings, registry()).await?;
        let configure = app(&taskyard);
        let server = HttpServer::new(move || App::new().configure(configure.clone())).bind(&bind)?.run();
        tracing::info!("listening on http://{bind}");
        taskyard.run(server).await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("embed: {err:#}");
            ExitCode::FAILURE
        }
    }
}
