//! Several real `taskyard serve` processes on one PostgreSQL database, driven over HTTP: they share the work (each
//! job runs exactly once, on any node), rescue a killed node's jobs, stream any job from any node with reconnects
//! across nodes, and cancel a job running on another node.
//!
//! PostgreSQL: `TASKYARD_TEST_DATABASE_URL` (a server URL), else `postgres://postgres@127.0.0.1:5432`; each test
//! creates a database of its own and drops it at the end. When PostgreSQL is not reachable (or with
//! `TASKYARD_SKIP_PG=1`) each test says SKIPPED with a hint and returns, so that a fresh machine's `cargo test`
//! passes; with `TASKYARD_REQUIRE_PG=1`, as CI runs them, that is a failure instead. They run one at a time (see
//! `harness`).

// The API suite's harness (HTTP client, SSE reader, databases, the real binary); this binary uses part of it.
#[allow(dead_code, unused_imports)]
#[path = "../api/helpers/mod.rs"]
mod helpers;

mod harness;

mod artifacts;
mod artifacts_s3;
mod cancel;
mod clock;
mod functions;
mod idempotency;
mod lost_cancel;
mod node_death;
mod reconnect;
mod schedules;
mod sharing;
mod supervisor;
