//! taskyard: a self-hosted task runner. Tasks are stored commands (argv from an allow-list, never a shell) run as
//! jobs on request; each job's state changes and output lines form an ordered, persisted event log that clients
//! follow live over Server-Sent Events and resume without gaps.
//!
//! # Layout
//! - [`config`]: settings (defaults < TOML file < `TASKYARD_*` env < flags), validated once.
//! - [`startup`]: builds the [`startup::Application`] from settings; used by `main` and the tests alike.
//! - [`error`]: the one HTTP error type and its table of codes (RFC 9457 problem+json).
//! - [`domain`]: plain types with invariants and no I/O: ids (from the `taskyard-ids` crate, which the entities
//!   share), job states, command lines, the allow-list, params and their schema, environment rules, sandboxes.
//! - [`store`]: the only module that speaks SQL (SQLite or PostgreSQL through sea-orm).
//! - [`engine`]: claiming, running and following jobs; the live event hub; what the host has (the file behind each
//!   allowed program, the jobs' base environment, bubblewrap).
//! - [`wire`]: the API's bodies as they travel (task, job and node records, request bodies), with their OpenAPI
//!   schemas; serde, utoipa and domain value types only. The job record is also the data of every state event.
//! - [`api`]: HTTP handlers, one file per resource; `api/mod.rs` holds the route table, `api/input.rs` checks
//!   bodies against the server's rules.
//! - [`openapi`]: the OpenAPI document and the docs UI.
//! - [`cli`]: the `taskyard` command line.
//!
//! Arrows point down: `api`/`cli` → `engine`/`store` → `wire` → `domain`.
pub mod api;
pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod error;
pub mod openapi;
pub mod startup;
pub mod store;
pub mod wire;
