//! The API's bodies as they travel: what clients send and what they get back, with their OpenAPI schemas. Nothing
//! here needs the server: only serde, utoipa, chrono, serde_json and domain value types, so the client crate reads
//! and writes these same types. Checking a body against the server's rules is `api`'s; the job record is here rather than in
//! `api` because every state event carries it, and those are written by `engine` and `store` too.
pub mod audit;
pub mod bulk;
pub mod functions;
pub mod health;
pub mod job_artifacts;
pub mod jobs;
pub mod list;
pub mod nodes;
pub mod notifications;
pub mod object;
pub mod problem;
pub mod schema;
pub mod stats;
pub mod tasks;

pub use audit::AuditEntryView;
pub use bulk::{BulkAction, BulkFilter, BulkRequest, BulkResponse, BulkResult, MAX_BULK_IDS};
pub use functions::{ArtifactError, ArtifactView, ExecuteFunction, FunctionView};
pub use health::{DatabaseState, Health, HealthReason, HealthStatus};
pub use job_artifacts::JobArtifactView;
pub use jobs::{JobView, OutputItem, OutputPage, StreamFilter, state_event};
pub use list::{Listing, Paginated};
pub use nodes::NodeView;
pub use notifications::{AttemptView, NotificationView};
pub use object::Object;
pub use problem::Problem;
pub use stats::{FinishedMinute, FinishedStats};
pub use tasks::{
    CreateTask, ExecuteRequest, ExecuteResponse, OrphanedTask, OrphansResponse, SchedulePreview, TaskView, UpdateTask,
};
