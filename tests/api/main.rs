//! Black-box tests of taskyard: the real application on a real port with its own temporary database, driven over
//! HTTP only. One module per area of the API contract; `helpers` is the harness. The database is a SQLite file, or,
//! with `TASKYARD_TEST_DATABASE_URL=postgres://USER@HOST:PORT`, a fresh PostgreSQL database per application: the same
//! tests prove both backends. The few that only make sense on SQLite say so with `sqlite_only`.

mod audit;
mod auth;
mod bulk;
mod by_name;
mod delayed;
mod delete;
mod drain;
mod embed;
mod errors;
mod escapes;
mod functions;
mod functions_rescue;
mod guide;
mod health;
mod helpers;
mod idempotency;
mod job_artifacts;
mod job_record;
mod jobs;
mod lease_loss;
mod leases;
mod list_filters;
mod logs;
mod metrics;
mod nodes;
mod notify;
mod openapi;
mod orphans;
mod output;
mod packed;
mod paging;
mod params;
mod process_tree;
mod progress;
mod queries;
mod rerun;
mod restart;
mod retention;
mod retries;
mod sandbox;
mod schedule_downtime;
mod schedules;
mod scopes;
mod settings;
mod stats;
mod storage;
mod storage_pg;
mod stream;
mod supervisor;
mod tasks;
mod truncation;
