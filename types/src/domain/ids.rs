//! Task, job and node ids: ULID newtypes from the `taskyard-ids` crate, which the entity crate shares.
pub use taskyard_ids::{ArtifactId, AuditId, IdError, JobId, NodeId, TaskId, ULID_PATTERN};
