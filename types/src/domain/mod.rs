//! Plain types with invariants and no I/O. Everything here is parsed once at the edge and trusted after; this module
//! imports nothing else of ours.
pub mod access;
pub mod allow;
pub mod audit;
pub mod command;
pub mod env;
pub mod event;
pub mod ids;
pub mod job;
pub mod job_artifact;
pub mod node;
pub mod notify;
mod option_rule;
pub mod params;
pub mod progress;
pub mod retry;
pub mod sandbox;
pub mod schedule;
pub mod schema;
pub mod status;
pub mod task;
/// Builders of plain values for unit tests (here, and in the server's with the `testing` feature).
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod trace;

pub use access::{Principal, Scope, is_key_name};
pub use allow::AllowList;
pub use audit::{AuditEntry, AuditFilter};
pub use command::{CommandError, CommandLine};
pub use env::{EnvError, EnvPolicy};
pub use event::{EventBody, EventKind, JobEvent, OutputStream, StateRecord};
pub use ids::{ArtifactId, AuditId, IdError, JobId, NodeId, TaskId, ULID_PATTERN};
pub use job::{Job, JobStatus, Outcome, Trigger};
pub use job_artifact::{DropReason, JobArtifact};
pub use node::{Node, NodeStatus};
pub use notify::{Delivery, DeliveryStatus, NotifyOn, Rule};
pub use params::{ParamError, Params};
pub use progress::Progress;
pub use retry::RetryPolicy;
pub use sandbox::Sandbox;
pub use schedule::{Schedule, ScheduleSpec};
pub use schema::ParamsSchema;
pub use task::{Task, TaskName, TaskRef, TaskSpec};
pub use trace::Traceparent;

/// The current time as Unix milliseconds (UTC): how every time is stored.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Unix milliseconds to RFC 3339 UTC with millisecond precision, as the API shows times.
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
