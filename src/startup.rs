//! Builds the application from settings: database, migrations, engine, HTTP server. `main` and the tests use the
//! same path, so the tests run what users run.
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::{self, AppState};
use crate::config::Settings;
use crate::engine::Engine;
use crate::error::{ApiError, ErrorCode, problem_for_bare_errors};
use crate::functions::Registry;
use crate::store::Store;

pub struct Application {
    address: SocketAddr,
    server: Server,
    engine: Engine,
    drain: Duration,
}

impl Application {
    /// Validates the settings, opens and migrates the database, starts the engine (rescuing what a previous
    /// process left running) and binds the listener. The server runs once `run_until_stopped` is awaited.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Self::build_with(settings, Registry::default()).await
    }

    /// As [`Application::build`], with registered functions this node runs.
    pub async fn build_with(settings: Settings, functions: Registry) -> anyhow::Result<Application> {
        settings.validate()?;
        let listener = TcpListener::bind(&settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
        let address = listener.local_addr()?;
        let advertise = settings.advertise_url.clone().unwrap_or_else(|| format!("http://{address}"));
        let state = start_engine(&settings, functions, &advertise, &address.to_string()).await?;
        let engine = state.engine.clone();
        let max_body = settings.max_body_bytes;
        let server = HttpServer::new(move || {
            let (json, payload) = api::extractor_config(max_body);
            App::new()
                .wrap(ErrorHandlers::new().default_handler(problem_for_bare_errors))
                .wrap(from_fn(api::metrics::record))
                .wrap(TracingLogger::<api::trace::RequestSpan>::new())
                .app_data(state.clone())
                .app_data(json)
                .app_data(payload)
                .configure(api::routes)
                .configure(crate::dashboard::configure)
                .configure(crate::dashboard::redirect_root)
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", crate::openapi::document()))
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(ApiError::new(
                        ErrorCode::NotFound,
                        "no such route; the API lives under /api/v1 (see /docs/)",
                    ))
                }))
        })
        .shutdown_timeout(5)
        // Signals are ours: the engine drains before the HTTP server stops (see `run_until_stopped`).
        .disable_signals()
        // SSE frames and small JSON answers must not wait for Nagle's algorithm (≈40 ms on reused connections).
        .tcp_nodelay(true)
        .listen(listener)?
        .run();
        Ok(Application { address, server, engine, drain: settings.drain() })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully: the engine stops claiming and drains (running
    /// jobs get the drain period, then are stopped and handed back), every SSE stream ends, the HTTP server
    /// finishes its requests, and this returns. A second signal during the drain kills every job's processes
    /// and exits the process at once with status 130.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application { server, engine, drain, .. } = self;
        let handle = server.handle();
        let mut server = tokio::spawn(server);
        let mut signals = Signals::new()?;
        tokio::select! {
            done = &mut server => return Ok(done??),
            name = signals.next() => tracing::info!(
                signal = name,
                drain_seconds = drain.as_secs(),
                "shutting down: no new jobs are started; running jobs may finish (send the signal again to stop at once)"
            ),
        }
        tokio::select! {
            interrupted = engine.drain(drain) => {
                tracing::info!(interrupted, "drained; stopping the HTTP server");
            }
            name = signals.next() => {
                tracing::warn!(signal = name, "second signal: killing every job's processes and exiting now");
                engine.kill_all();
                std::process::exit(130);
            }
        }
        handle.stop(true).await;
        server.await??;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Opens and migrates the database and starts the engine (rescuing what a previous process left running); the
/// state every handler reaches.
pub(crate) async fn start_engine(
    settings: &Settings,
    functions: Registry,
    advertise: &str,
    listening: &str,
) -> anyhow::Result<web::Data<AppState>> {
    let keys = settings.keyring()?;
    let store = Store::connect(&settings.database_url, settings.db_options()).await?;
    let notify = settings.notify_config(listening)?;
    store.notify_rules().set(settings.notify.rules.clone(), !settings.notify.channels.is_empty());
    crate::engine::notify::start(store.clone(), notify);
    let engine = Engine::start(store, settings.engine_config(), functions, advertise).await?;
    Ok(web::Data::new(AppState {
        engine,
        keys,
        sse_keepalive: Duration::from_secs(settings.sse_keepalive_seconds),
        metrics_public: settings.metrics_public,
    }))
}

/// SIGTERM and SIGINT, whichever comes.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
