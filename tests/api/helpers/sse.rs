//! Following a job's SSE stream with `eventsource-stream`, with a deadline on every wait.

use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use serde_json::Value;

/// How long to wait for the next SSE event (keep-alive comments do not count) before declaring the job stuck.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stream may stay open after its terminal job record.
pub const END_TIMEOUT: Duration = Duration::from_secs(5);

/// One SSE event as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub id: u64,
    /// `message` for job records, else `stdout`, `stderr` or `truncated`.
    pub event: String,
    pub data: String,
}

impl SseEvent {
    /// The job record carried by an unnamed event.
    pub fn job(&self) -> Option<Value> {
        (self.event == "message").then(|| {
            serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("job record is not JSON ({e}): {:?}", self.data))
        })
    }

    pub fn status(&self) -> Option<String> {
        self.job().and_then(|job| job["status"].as_str().map(str::to_string))
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self.status().as_deref(), Some("completed" | "failed" | "canceled"))
    }
}

type EventResult = Result<eventsource_stream::Event, String>;

/// An open SSE stream of one job.
pub struct JobStream {
    job_id: String,
    events: Pin<Box<dyn Stream<Item = EventResult> + Send>>,
}

impl JobStream {
    pub fn new(job_id: &str, response: reqwest::Response) -> JobStream {
        let events = response.bytes_stream().eventsource().map(|event| event.map_err(|e| e.to_string()));
        JobStream { job_id: job_id.to_string(), events: Box::pin(events) }
    }

    /// The next event, `None` when the server ended the stream. Panics after `EVENT_TIMEOUT` of silence.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        let next = tokio::time::timeout(EVENT_TIMEOUT, self.events.next())
            .await
            .unwrap_or_else(|_| panic!("no SSE event for job {} within {EVENT_TIMEOUT:?}", self.job_id));
        next.map(|event| {
            let event = event.unwrap_or_else(|e| panic!("SSE stream of job {} broke: {e}", self.job_id));
            let id = event.id.parse().unwrap_or_else(|_| panic!("SSE event without a numeric id: {event:?}"));
            SseEvent { id, event: event.event, data: event.data }
        })
    }

    /// Reads up to and including the first event matching `until`.
    pub async fn until(&mut self, what: &str, until: impl Fn(&SseEvent) -> bool) -> Vec<SseEvent> {
        let mut seen = Vec::new();
        loop {
            let Some(event) = self.next_event().await else {
                panic!("SSE stream of job {} ended before {what}; saw {seen:#?}", self.job_id);
            };
            let hit = until(&event);
            seen.push(event);
            if hit {
                return seen;
            }
        }
    }

    pub async fn until_done(&mut self) -> Vec<SseEvent> {
        self.until("the terminal job record", SseEvent::is_terminal).await
    }

    pub async fn until_status(&mut self, status: &str) -> Vec<SseEvent> {
        self.until(&format!("status {status}"), |e| e.status().as_deref() == Some(status)).await
    }

    /// Reads everything until the server ends the stream.
    pub async fn read_to_end(&mut self) -> Vec<SseEvent> {
        let mut seen = Vec::new();
        while let Some(event) = self.next_event().await {
            seen.push(event);
        }
        seen
    }

    /// Asserts that the server ends the stream now, without another event.
    pub async fn assert_ends(&mut self) {
        match tokio::time::timeout(END_TIMEOUT, self.events.next()).await {
            Ok(None) => {}
            Ok(Some(event)) => panic!("job {}: event after the terminal job record: {event:?}", self.job_id),
            Err(_) => panic!("job {}: stream still open {END_TIMEOUT:?} after the terminal job record", self.job_id),
        }
    }
}

/// The data of the events of one output stream, in order.
pub fn lines_of(events: &[SseEvent], stream: &str) -> Vec<String> {
    events.iter().filter(|e| e.event == stream).map(|e| e.data.clone()).collect()
}

/// The statuses of the job records, in order.
pub fn statuses(events: &[SseEvent]) -> Vec<String> {
    events.iter().filter_map(SseEvent::status).collect()
}

/// Asserts ids 1, 2, 3, ... with no gap or duplicate.
pub fn assert_consecutive_ids(events: &[SseEvent], from: u64) {
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    let expected: Vec<u64> = (from..from + ids.len() as u64).collect();
    assert_eq!(ids, expected, "event ids are not consecutive from {from}: {events:#?}");
}

/// What a client following the HTML spec's EventSource model did: the events it dispatched, the status of each
/// request it made, and the reconnection time the server asked for.
#[derive(Debug)]
pub struct EventSourceRun {
    pub events: Vec<SseEvent>,
    pub statuses: Vec<u16>,
    pub retry_ms: Option<u64>,
}

/// Follows a job as a spec-following EventSource does: read the stream to its end, dispatch its events, and
/// reconnect with `Last-Event-ID` (the last id seen) when the server closes it; stop on 204 (or any other status
/// but 200). The reconnection delay is not waited for: it changes nothing but the pace. Panics after
/// `max_requests` requests, since a client that never stops is what this guards against.
pub async fn follow_like_eventsource(app: &super::TestApp, job_id: &str, max_requests: usize) -> EventSourceRun {
    let mut run = EventSourceRun { events: Vec::new(), statuses: Vec::new(), retry_ms: None };
    let mut last_id: Option<String> = None;
    while run.statuses.len() < max_requests {
        let mut request = app
            .request(reqwest::Method::GET, &format!("/api/v1/jobs/{job_id}/$stream"))
            .header("Accept", "text/event-stream");
        if let Some(id) = &last_id {
            request = request.header("Last-Event-ID", id.as_str());
        }
        let response = request.send().await.expect("open the SSE stream");
        run.statuses.push(response.status().as_u16());
        if response.status() != reqwest::StatusCode::OK {
            return run;
        }
        let raw = tokio::time::timeout(EVENT_TIMEOUT, response.text())
            .await
            .unwrap_or_else(|_| panic!("the stream of job {job_id} did not end within {EVENT_TIMEOUT:?}"))
            .expect("read the stream");
        for line in raw.lines() {
            if let Some(ms) = line.strip_prefix("retry:").and_then(|v| v.trim().parse().ok()) {
                run.retry_ms = Some(ms);
            }
        }
        let chunk: Result<Vec<u8>, std::convert::Infallible> = Ok(raw.into_bytes());
        let events = futures_util::stream::iter([chunk]).eventsource().map(|event| event.map_err(|e| e.to_string()));
        let mut stream = JobStream { job_id: job_id.to_string(), events: Box::pin(events) };
        while let Some(event) = stream.next_event().await {
            last_id = Some(event.id.to_string());
            run.events.push(event);
        }
    }
    panic!("the client was never told to stop: {max_requests} requests, statuses {:?}", run.statuses);
}
