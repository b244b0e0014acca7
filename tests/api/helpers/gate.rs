//! A gate file: a job waits for it, so a test can observe the job while it is certainly running, then let it go.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::TestApp;

/// A file that does not exist until the test opens the gate; dropping the gate opens it, so that a failing test
/// never leaves a job waiting.
pub struct Gate(PathBuf);

impl Gate {
    pub fn new(dir: &Path) -> Gate {
        Gate(dir.join("gate"))
    }

    pub fn open(&self) {
        std::fs::write(&self.0, b"open").expect("open the gate");
    }

    /// A command that runs `before`, waits for the gate, then runs `after` (both shell snippets).
    pub fn command(before: &str, after: &str) -> String {
        format!("sh -c '{before}; while [ ! -e \"$0\" ]; do sleep 0.02; done; {after}' {{gate}}")
    }

    /// The body of a task running [`Gate::command`] with this gate (`sh` must be allowed).
    pub fn task_body(&self, before: &str, after: &str) -> Value {
        json!({
            "command": Gate::command(before, after),
            "params": { "gate": self.0.display().to_string() },
            "timeout_seconds": 15,
        })
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, b"open");
    }
}

impl TestApp {
    /// A task that runs `before`, waits for `gate`, then runs `after`.
    pub async fn gated_task(&self, gate: &Gate, before: &str, after: &str) -> Value {
        self.create_task_ok(gate.task_body(before, after)).await
    }
}
