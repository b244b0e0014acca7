//! What unit tests across the crate build their values from (compiled for tests only).
use super::{Task, TaskId, TaskSpec, now_ms};

/// An enabled task that runs `command`, with nothing else set, made now.
pub fn task(command: &str) -> Task {
    let now = now_ms();
    Task { id: TaskId::generate(), spec: TaskSpec::new(command.to_string()), created_at: now, updated_at: now }
}
