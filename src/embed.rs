//! taskyard inside an existing actix-web application: [`Taskyard::start`] opens the database and starts the
//! engine from the same [`Settings`] as `taskyard serve`; [`Taskyard::configure`] mounts the whole API under a
//! path the application chooses (`web::scope("/jobs").configure(taskyard.configure())`); [`Taskyard::client`] is
//! the in-process handle the application's own handlers enqueue with, without HTTP; [`Taskyard::run`] serves the
//! application's server and drains the engine when it stops.
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::web;
use serde_json::Value;

use crate::api::{self, AppState};
use crate::config::Settings;
use crate::domain::{Job, JobId, Params};
use crate::engine::{Engine, EngineError, Submission, Submitted};
use crate::functions::Registry;

/// A started engine and the API to mount.
pub struct Taskyard {
    state: web::Data<AppState>,
    max_body: usize,
    drain: Duration,
}

impl Taskyard {
    /// Validates `settings` (its `bind` is not used: the application listens), opens and migrates the database,
    /// and starts the engine with `functions`. The node registry shows `advertise_url`, or `embedded`.
    pub async fn start(settings: Settings, functions: Registry) -> anyhow::Result<Taskyard> {
        settings.validate()?;
        let advertise = settings.advertise_url.clone().unwrap_or_else(|| "embedded".to_string());
        let state = crate::startup::start_engine(&settings, functions, &advertise, "localhost").await?;
        Ok(Taskyard { state, max_body: settings.max_body_bytes, drain: settings.drain() })
    }

    /// Mounts the API (`/api/v1/...`, `/health`, `/metrics`) where it is configured, with its state and its
    /// bounded, problem+json body handling.
    pub fn configure(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + use<> {
        let state = self.state.clone();
        let max_body = self.max_body;
        move |cfg: &mut web::ServiceConfig| {
            let (json, payload) = api::extractor_config(max_body);
            cfg.app_data(state.clone()).app_data(json).app_data(payload);
            api::routes(cfg);
        }
    }

    /// The in-process client.
    pub fn client(&self) -> Client {
        Client { engine: self.state.engine.clone() }
    }

    /// Serves `server` (the application's, built with [`actix_web::HttpServer`]) until it stops (actix-web
    /// stops it on SIGTERM/SIGINT), then drains the engine: running jobs get the drain period, then are stopped
    /// and handed back to their retry policy.
    pub async fn run(&self, server: Server) -> anyhow::Result<()> {
        server.await?;
        let interrupted = self.state.engine.drain(self.drain).await;
        tracing::info!(interrupted, "drained");
        Ok(())
    }
}

/// Enqueues and reads jobs from inside the application, without HTTP.
#[derive(Clone)]
pub struct Client {
    engine: Engine,
}

impl Client {
    /// Runs registered function `name` with `params` (a JSON object, over its defaults) as a job; its id. The
    /// same checks as `POST /api/v1/functions/{name}/$execute`.
    pub async fn execute(&self, name: &str, params: Value) -> Result<JobId, EngineError> {
        let map = match params {
            Value::Object(map) => map,
            Value::Null => Default::default(),
            other => return Err(EngineError::Params(format!("params must be a JSON object, got {other}"))),
        };
        let params = Params::parse(map).map_err(|e| EngineError::Params(e.to_string()))?;
        let task = self.engine.function_task(name).await?;
        match self.engine.submit(&task, Submission { params, ..Default::default() }).await? {
            Submitted::Queued(job) | Submitted::Existing(job) => Ok(job.id),
        }
    }

    /// The job's current record.
    pub async fn job(&self, id: JobId) -> Result<Job, EngineError> {
        Ok(self.engine.store().jobs().get(id).await?)
    }
}
