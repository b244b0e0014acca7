//! What unit tests across the crate build their values from (compiled for tests only).
use super::{Task, TaskId, now_ms};

/// An enabled task that runs `command`, with nothing else set, made now.
pub fn task(command: &str) -> Task {
    let now = now_ms();
    Task {
        id: TaskId::generate(),
        name: None,
        command: command.to_string(),
        enabled: true,
        params: Default::default(),
        params_schema: None,
        option_params: Default::default(),
        env: Default::default(),
        cwd: None,
        timeout_seconds: None,
        tags: Vec::new(),
        retry: None,
        sandbox: None,
        created_at: now,
        updated_at: now,
    }
}
