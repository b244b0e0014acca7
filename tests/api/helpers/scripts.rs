//! Shell scripts the tests run as tasks.

use std::path::Path;

use serde_json::{Value, json};

/// A task (the body of `POST /api/v1/tasks`) that fails its first `failing` runs and succeeds after. Each run
/// counts itself in the file `counter` (the task's `counter` parameter), prints `line` (shell words, e.g.
/// `attempt $TASKYARD_ATTEMPT`; `$n` is the number of runs before this one), and, while it is among the first
/// `failing`, ends with `first` (a shell command: `false`, or `exec sleep 61.8` to be killed or lost). `retry`
/// is the task's retry policy.
pub fn fail_first_runs(counter: &Path, failing: u32, line: &str, first: &str, retry: Value) -> Value {
    json!({
        "command": format!(
            "sh -c 'n=$(cat \"$0\" 2>/dev/null || echo 0); echo $((n+1)) > \"$0\"; echo {line}; \
             [ \"$n\" -ge {failing} ] || {first}' {{counter}}"
        ),
        "params": { "counter": counter.display().to_string() },
        "retry": retry,
    })
}
