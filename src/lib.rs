//! taskyard: a self-hosted task runner. Tasks are stored commands (argv from an allow-list, never a shell) run as
//! jobs on request; each job's state changes and output lines form an ordered, persisted event log that clients
//! follow live over Server-Sent Events and resume without gaps.
//!
//! # Layout
//! - [`access`]: API keys: the configured keys (named, scoped, stored as SHA-256 digests), identifying the key a
//!   request presents in constant time, and making new ones.
//! - [`config`]: settings (defaults < TOML file < `TASKYARD_*` env < flags), validated once.
//! - [`startup`]: builds the [`startup::Application`] from settings; used by `main` and the tests alike.
//! - [`error`]: the one HTTP error type and its table of codes (RFC 9457 problem+json).
//! - [`domain`] and [`wire`] (re-exported from the `taskyard-types` crate, which the client shares): plain types
//!   with invariants and no I/O: ids (from the `taskyard-ids` crate, which the entities share), job states and
//!   their legal moves ([`domain::status`]), jobs, the event log, command lines and the option rule, the
//!   allow-list, params and their schema, environment rules, sandboxes; and the API's bodies as they travel (task,
//!   job and node records, request bodies) with their OpenAPI schemas. The job record is also the data of every
//!   state event.
//! - [`store`]: the only module that speaks SQL (SQLite or PostgreSQL through sea-orm); job writes go through one
//!   group-committing writer task that no panic stops; output lines are stored packed, a run of one stream's
//!   lines per row, and read back one event per line.
//! - [`engine`]: running work, one room per concern: the queue (dispatcher, due times), the runner (a job's
//!   process) with its lease and output (pipe, sink), the registry of running jobs, cancel, the reaper (lost jobs,
//!   retention), the orphan report, the scheduler (the jobs of schedules' fires, one per fire; overdue fires), the
//!   cluster (nodes, notices), the clock; the live event hub and following a job ([`engine::hub`],
//!   [`engine::follow`]); what the host has ([`engine::host`]: the file behind each allowed
//!   program, the jobs' base environment, bubblewrap); on Linux, the job supervisor ([`engine::supervisor`]): a
//!   helper process (`taskyard supervise`) that starts job processes and kills every job's tree when the server
//!   dies. What the engine adds to the [`metrics`] (jobs' ends, the backlog and running jobs at scrape time) is
//!   its `scrape` room. A job's artifact files ([`engine::job_artifacts`]): each attempt's directory, the walk that
//!   follows nothing, and the `object_store` that keeps them.
//! - [`api`]: HTTP handlers, one file per resource (`functions` also serves the result records, `artifacts`); `api/mod.rs` holds the route table, `api/input.rs` checks
//!   bodies against the server's rules, `api/query.rs` holds the strict query types and the bounded forms of
//!   every list; `api/auth.rs` checks the key and its scope for each route and writes the audit log
//!   (`api/audit.rs`); `api/trace.rs` reads W3C `traceparent`.
//!   every list.
//! - [`functions`]: registered Rust functions (the registry, typed params and their JSON Schema, state asked for by
//!   type, the job context); the engine's `call` room runs them as jobs beside processes.
//! - [`embed`]: taskyard inside an actix-web application: the API mounted where the application says, an
//!   in-process client that enqueues without HTTP, the engine drained with the application's server.
//! - [`dashboard`]: the web pages at `/dashboard/` (embedded static files, a client of the public API), mountable
//!   by an embedding app through [`dashboard::configure`].
//! - [`metrics`]: the Prometheus registry and its instruments; the store, the engine and the HTTP layer record into
//!   it, and `GET /metrics` ([`api::metrics`]) serves it.
//! - [`openapi`]: the OpenAPI document, the docs UI, and the guide's API reference written from the document.
//! - [`cli`]: the `taskyard` command line: `serve`, `openapi`, `key new`, and `service` ([`cli::service`]: the
//!   systemd unit, installed, removed and shown through `systemctl`), and the client commands (`task`, `run`, `jobs`,
//!   `logs`, ...), which reach a running server only through the `taskyard-client` crate, never `engine` or `store`.
//!
//! Arrows point down: `api`/`cli` → `engine`/`store` → `wire` → `domain`.
pub mod access;
pub mod api;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod embed;
pub mod engine;
pub mod error;
pub mod functions;
pub mod metrics;
pub mod openapi;
pub mod startup;
pub mod store;

pub use taskyard_types::{domain, wire};
