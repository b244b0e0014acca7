//! Builds the application from settings: database, migrations, engine, HTTP server. `main` and the tests use the
//! same path, so the tests run what users run.
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::ErrorHandlers;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::{self, AppState};
use crate::config::Settings;
use crate::engine::Engine;
use crate::error::{ApiError, ErrorCode, problem_for_bare_errors};
use crate::store::Store;

pub struct Application {
    address: SocketAddr,
    server: Server,
    engine: Engine,
}

impl Application {
    /// Validates the settings, opens and migrates the database, starts the engine (rescuing what a previous
    /// process left running) and binds the listener. The server runs once `run_until_stopped` is awaited.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        settings.validate()?;
        let store = Store::connect(&settings.database_url).await?;
        let engine = Engine::start(store, settings.engine_config()).await?;
        let listener = TcpListener::bind(&settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
        let address = listener.local_addr()?;
        let state = web::Data::new(AppState {
            engine: engine.clone(),
            api_keys: settings.api_keys.clone(),
            sse_keepalive: Duration::from_secs(settings.sse_keepalive_seconds),
        });
        let max_body = settings.max_body_bytes;
        let server = HttpServer::new(move || {
            let (json, query, payload) = api::extractor_config(max_body);
            App::new()
                .wrap(ErrorHandlers::new().default_handler(problem_for_bare_errors))
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .app_data(json)
                .app_data(query)
                .app_data(payload)
                .configure(api::routes)
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", crate::openapi::document()))
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(ApiError::new(
                        ErrorCode::NotFound,
                        "no such route; the API lives under /api/v1 (see /docs/)",
                    ))
                }))
        })
        .shutdown_timeout(5)
        // SSE frames and small JSON answers must not wait for Nagle's algorithm (≈40 ms on reused connections).
        .tcp_nodelay(true)
        .listen(listener)?
        .run();
        Ok(Application { address, server, engine })
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

    /// Serves until the server is stopped (SIGINT/SIGTERM).
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await?;
        Ok(())
    }
}
