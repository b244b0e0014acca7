//! How client commands print: aligned tables and coloured states for people, JSON for scripts. Colours only on a
//! terminal, and never with `NO_COLOR` set.
use std::io::IsTerminal;

use serde::Serialize;
use taskyard_client::domain::{JobStatus, Outcome};
use taskyard_client::wire::{FunctionView, JobView, NodeView, OrphanedTask, TaskView};

/// Colours on stdout: a terminal, and `NO_COLOR` unset or empty (<https://no-color.org>).
pub fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn paint(text: &str, ansi: &str) -> String {
    if colour() { format!("\x1b[{ansi}m{text}\x1b[0m") } else { text.to_string() }
}

/// A job status, coloured by how it is doing.
pub fn status(status: JobStatus) -> String {
    let ansi = match status {
        JobStatus::Pending => "33",
        JobStatus::Running => "36",
        JobStatus::Completed => "32",
        JobStatus::Failed => "31",
        JobStatus::Canceled => "35",
    };
    paint(status.as_str(), ansi)
}

/// One JSON document on stdout.
pub fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(err) => eprintln!("taskyard: cannot write JSON: {err}"),
    }
}

/// One JSON line on stdout (streams).
pub fn json_line<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(text) => println!("{text}"),
        Err(err) => eprintln!("taskyard: cannot write JSON: {err}"),
    }
}

/// Prints rows under a header, columns padded to their widest cell (colour codes not counted).
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let width = |cell: &str| strip_ansi(cell).chars().count();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let line = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(w - width(cell) + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.iter().map(|h| paint(h, "1")).collect());
    for row in rows {
        line(row.clone());
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".to_string())
}

/// A timestamp as `2026-12-04 18:00:01` (UTC, as the server writes it, without the fraction).
pub fn when(at: &str) -> String {
    at.get(..19).map_or(at.to_string(), |s| s.replace('T', " "))
}

/// Milliseconds as `850ms`, `12.3s` or `4m05s`.
pub fn duration(ms: i64) -> String {
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

/// How a job ended, in a few words: `exit 3`, `signal 9`, `timeout`, ...
pub fn outcome(job: &JobView) -> String {
    match job.outcome {
        None => "-".to_string(),
        Some(Outcome::ExitCode) => format!("exit {}", job.exit_code.unwrap_or_default()),
        Some(Outcome::Signal) => format!("signal {}", job.signal.unwrap_or_default()),
        Some(other) => {
            serde_json::to_value(other).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
        }
    }
}

pub fn tasks(tasks: &[TaskView]) {
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                or_dash(t.name.clone()),
                if t.enabled { "yes".into() } else { paint("no", "33") },
                t.command.clone(),
            ]
        })
        .collect();
    table(&["ID", "NAME", "ENABLED", "COMMAND"], &rows);
}

pub fn task(t: &TaskView) {
    let mut fields = vec![
        ("id", t.id.clone()),
        ("name", or_dash(t.name.clone())),
        ("command", t.command.clone()),
        ("enabled", t.enabled.to_string()),
    ];
    if t.params.as_object().is_some_and(|p| !p.is_empty()) {
        fields.push(("params", t.params.to_string()));
    }
    if let Some(schema) = &t.params_schema {
        fields.push(("params_schema", schema.to_string()));
    }
    if !t.env.is_empty() {
        fields.push(("env", t.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")));
    }
    fields.push(("cwd", or_dash(t.cwd.clone())));
    fields.push(("timeout", or_dash(t.timeout_seconds.map(|s| format!("{s}s")))));
    if !t.tags.is_empty() {
        fields.push(("tags", t.tags.join(", ")));
    }
    if let Some(retry) = &t.retry {
        fields.push(("retry", serde_json::to_string(retry).unwrap_or_default()));
    }
    if t.sandbox.is_some() {
        fields.push(("sandbox", "yes".into()));
    }
    fields.push(("created", when(&t.created_at)));
    fields.push(("updated", when(&t.updated_at)));
    record(&fields);
}

fn record(fields: &[(&str, String)]) {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in fields {
        println!("{}  {value}", paint(&format!("{key:width$}"), "1"));
    }
}

pub fn jobs(jobs: &[JobView]) {
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.clone(),
                j.task_id.clone(),
                status(j.status),
                outcome(j),
                when(&j.submitted_at),
                or_dash(j.duration_ms.map(duration)),
            ]
        })
        .collect();
    table(&["ID", "TASK", "STATUS", "OUTCOME", "SUBMITTED", "DURATION"], &rows);
}

pub fn job(j: &JobView) {
    let mut fields = vec![
        ("id", j.id.clone()),
        ("task", j.task_id.clone()),
        ("status", status(j.status)),
        ("outcome", outcome(j)),
        ("attempt", format!("{} of {}", j.attempt, j.max_attempts)),
        ("argv", shell_words(&j.argv)),
        ("submitted", when(&j.submitted_at)),
        ("started", or_dash(j.started_at.as_deref().map(when))),
        ("finished", or_dash(j.finished_at.as_deref().map(when))),
        ("duration", or_dash(j.duration_ms.map(duration))),
    ];
    if let Some(p) = j.progress {
        fields.push(("progress", format!("{}%", p.percent)));
    }
    if let Some(error) = &j.error {
        fields.push(("error", error.clone()));
    }
    fields.push(("output", format!("{} stdout lines, {} stderr lines", j.stdout_lines, j.stderr_lines)));
    if j.dropped_lines > 0 {
        fields
            .push(("dropped", format!("{} lines ({} bytes) past the output bound", j.dropped_lines, j.dropped_bytes)));
    }
    fields.push(("node", or_dash(j.node_id.clone())));
    record(&fields);
}

fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn orphans(orphans: &[OrphanedTask]) {
    let rows: Vec<Vec<String>> = orphans
        .iter()
        .map(|o| {
            let reason = serde_json::to_value(o.reason).ok().and_then(|v| v.as_str().map(str::to_string));
            vec![
                o.task.id.clone(),
                or_dash(o.task.name.clone()),
                paint(&reason.unwrap_or_default(), "31"),
                o.task.command.clone(),
            ]
        })
        .collect();
    table(&["ID", "NAME", "REASON", "COMMAND"], &rows);
}

pub fn nodes(nodes: &[NodeView]) {
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            let status = serde_json::to_value(n.status).ok().and_then(|v| v.as_str().map(str::to_string));
            vec![
                n.id.clone(),
                status.unwrap_or_default(),
                n.address.clone(),
                n.hostname.clone(),
                format!("{}/{}", n.running_jobs, n.max_concurrency),
                when(&n.last_heartbeat_at),
            ]
        })
        .collect();
    table(&["ID", "STATUS", "ADDRESS", "HOST", "RUNNING", "HEARTBEAT"], &rows);
}

pub fn functions(functions: &[FunctionView]) {
    let rows: Vec<Vec<String>> = functions
        .iter()
        .map(|f| {
            let summary = f.description.lines().next().unwrap_or_default().to_string();
            vec![f.name.clone(), f.tags.join(","), f.nodes.len().to_string(), summary]
        })
        .collect();
    table(&["NAME", "TAGS", "NODES", "DESCRIPTION"], &rows);
}

pub fn function(f: &FunctionView) {
    println!("name:        {}", f.name);
    println!("tags:        {}", f.tags.join(", "));
    println!("nodes:       {}", f.nodes.join(", "));
    if !f.description.is_empty() {
        println!("description: {}", f.description);
    }
    let schema = serde_json::to_string_pretty(&f.parameters).unwrap_or_default();
    println!("parameters:\n{schema}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_345), "12.3s");
        assert_eq!(duration(245_000), "4m05s");
    }

    #[test]
    fn arguments_are_quoted_only_when_they_need_it() {
        assert_eq!(shell_words(&["echo".into(), "a b".into(), "it's".into()]), "echo 'a b' 'it'\\''s'");
    }

    #[test]
    fn colour_codes_do_not_count_as_width() {
        assert_eq!(strip_ansi("\x1b[31mfailed\x1b[0m"), "failed");
    }
}
