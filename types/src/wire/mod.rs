//! The API's bodies as they travel: what clients send and what they get back, with their OpenAPI schemas. Nothing
//! here needs the server: only serde, utoipa, chrono, serde_json and domain value types, so the client crate reads
//! and writes these same types. Checking a body against the server's rules is `api`'s; the job record is here rather than in
//! `api` because every state event carries it, and those are written by `engine` and `store` too.
pub mod bulk;
pub mod jobs;
pub mod list;
pub mod nodes;
pub mod schema;
pub mod stats;
pub mod tasks;

pub use bulk::{BulkAction, BulkRequest, BulkResponse, BulkResult, MAX_BULK_IDS};
pub use jobs::{JobView, OutputItem, OutputPage, StreamFilter, state_event};
pub use list::{Listing, Paginated};
pub use nodes::NodeView;
pub use stats::{FinishedMinute, FinishedStats};
pub use tasks::{CreateTask, ExecuteRequest, ExecuteResponse, OrphanedTask, OrphansResponse, TaskView, UpdateTask};
