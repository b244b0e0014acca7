//! The engine's named events (`retry`, `truncated`, `progress`), the attempts of the job records on a stream, and
//! a bounded poll for what is periodic by design.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{SseEvent, utc_time};

/// The event names in order: `message` for job records, else `stdout`, `stderr`, `truncated`, `progress`, `retry`.
pub fn kinds(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

/// The JSON data of the events named `name`, in order.
pub fn data_of(events: &[SseEvent], name: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.event == name)
        .map(|e| {
            serde_json::from_str(&e.data).unwrap_or_else(|err| panic!("{name} event data is not JSON ({err}): {e:?}"))
        })
        .collect()
}

/// (status, attempt) of every job record, in order.
pub fn attempts(events: &[SseEvent]) -> Vec<(String, u64)> {
    events
        .iter()
        .filter_map(SseEvent::job)
        .map(|job| {
            let status = job["status"].as_str().unwrap_or_else(|| panic!("no status in {job}")).to_string();
            let attempt = job["attempt"].as_u64().unwrap_or_else(|| panic!("no numeric attempt in {job}"));
            (status, attempt)
        })
        .collect()
}

/// `[(status, attempt), ...]` from literals, to compare with [`attempts`].
pub fn expected_attempts(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(status, attempt)| (status.to_string(), *attempt)).collect()
}

/// Milliseconds from the RFC 3339 time `from` to the RFC 3339 time `to`.
pub fn ms_between(from: &Value, to: &Value) -> i64 {
    (utc_time(to, "later time") - utc_time(from, "earlier time")).num_milliseconds()
}

/// Polls `check` every 50 ms until it gives `Ok`, for at most `deadline`; `Err` carries the last observation for the
/// failure message. Only for what happens periodically by design (retention, the reaper, heartbeats, a queue
/// draining); everything else is awaited over SSE. The API suite and the cluster suite both use this one.
pub async fn poll_until<T>(what: &str, deadline: Duration, mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if start.elapsed() > deadline => panic!("waited {deadline:?} for {what}, in vain; last: {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
