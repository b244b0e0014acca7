//! Small assertions on JSON values: keys, ids, times.

use serde_json::Value;

pub const TASK_KEYS: &[&str] = &[
    "id",
    "name",
    "command",
    "enabled",
    "params",
    "params_schema",
    "option_params",
    "env",
    "cwd",
    "timeout_seconds",
    "tags",
    "schedule",
    "next_run_at",
    "created_at",
    "updated_at",
];

pub const JOB_KEYS: &[&str] = &[
    "id",
    "task_id",
    "status",
    "outcome",
    "attempt",
    "argv",
    "trigger",
    "scheduled_for",
    "submitted_at",
    "started_at",
    "finished_at",
    "duration_ms",
    "exit_code",
    "signal",
    "error",
    "stdout_bytes",
    "stderr_bytes",
    "stdout_lines",
    "stderr_lines",
    "dropped_lines",
    "dropped_bytes",
];

pub fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_else(|| panic!("{key} is not a string in {value}"))
}

pub fn ids_of(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .map(|item| str_of(item, "id").to_string())
        .collect()
}

pub fn assert_keys(value: &Value, keys: &[&str], what: &str) {
    let missing: Vec<&&str> = keys.iter().filter(|k| value.get(**k).is_none()).collect();
    assert!(missing.is_empty(), "{what} lacks {missing:?}: {value}");
}

pub fn assert_ulid(value: &Value, what: &str) {
    let text = value.as_str().unwrap_or_else(|| panic!("{what} is not a string: {value}"));
    assert!(ulid::Ulid::from_string(text).is_ok(), "{what} is not a ULID: {text:?}");
}

/// Asserts an RFC 3339 time in UTC and returns it.
pub fn utc_time(value: &Value, what: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let text = value.as_str().unwrap_or_else(|| panic!("{what} is not a string: {value}"));
    let time =
        chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{what} is not RFC 3339 ({e}): {text:?}"));
    assert_eq!(time.offset().local_minus_utc(), 0, "{what} is not UTC: {text:?}");
    time
}

pub fn fresh_ulid() -> String {
    ulid::Ulid::generate().to_string()
}
