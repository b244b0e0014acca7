//! What unit tests build their values from (compiled for tests, and for the server's with the `testing` feature).
use super::{Node, Task, TaskId, TaskSpec, now_ms};

/// An enabled task that runs `command`, with nothing else set, made now.
pub fn task(command: &str) -> Task {
    let now = now_ms();
    Task {
        id: TaskId::generate(),
        spec: TaskSpec::new(command.to_string()),
        created_at: now,
        updated_at: now,
        next_run_at: None,
    }
}

/// A node that started at 0, heart-beat last at 1,000 ms, runs 2 of at most 5 jobs and has not stopped.
pub fn node() -> Node {
    Node {
        id: "n".into(),
        address: "http://127.0.0.1:1".into(),
        hostname: "h".into(),
        pid: 1,
        started_at: 0,
        heartbeat_at: 1_000,
        stopped_at: None,
        running: 2,
        max_concurrency: 5,
        clock_offset_ms: None,
        functions: Vec::new(),
    }
}
