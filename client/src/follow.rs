//! Following a job: its events, each once, in order, across dropped connections and server restarts.
//!
//! A broken or ended stream is reopened with `Last-Event-ID: <the last id seen>`, so the server sends exactly the
//! events after it; an event at or below that id (none should come) is skipped all the same. The stream ends after
//! the job's final record, or when a resume answers 204 (the job had finished and its final record was seen).
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use taskyard_types::domain::EventKind;
use taskyard_types::domain::progress::Progress;
use taskyard_types::wire::JobView;

use crate::{Client, Error, is_no_content};

/// One event of a job, with its sequence number (its SSE id).
#[derive(Debug, Clone)]
pub struct JobEvent {
    pub seq: i64,
    pub event: Event,
}

/// What a job's stream says.
#[derive(Debug, Clone)]
pub enum Event {
    /// The job's record, at every change of state; the last one has a final status.
    State(Box<JobView>),
    /// One line of standard output.
    Stdout(String),
    /// One line of standard error.
    Stderr(String),
    /// How far the job is.
    Progress(Progress),
    /// What the output bound dropped (`{"stream", "dropped_lines", "dropped_bytes", ...}`), before the kept tail.
    Truncated(serde_json::Value),
    /// Why an attempt failed and when the next runs (`{"attempt", "outcome", "next_attempt", "run_at", ...}`).
    Retry(serde_json::Value),
}

impl Event {
    fn parse(name: &str, data: &str) -> Result<Event, String> {
        let kind = match name {
            "" | "message" => EventKind::State,
            other => EventKind::from_str(other).map_err(|e| e.to_string())?,
        };
        let json = |data: &str| serde_json::from_str::<serde_json::Value>(data).map_err(|e| e.to_string());
        Ok(match kind {
            EventKind::State => Event::State(Box::new(serde_json::from_str(data).map_err(|e| e.to_string())?)),
            EventKind::Stdout => Event::Stdout(data.to_string()),
            EventKind::Stderr => Event::Stderr(data.to_string()),
            EventKind::Progress => Event::Progress(serde_json::from_str(data).map_err(|e| e.to_string())?),
            EventKind::Truncated => Event::Truncated(json(data)?),
            EventKind::Retry => Event::Retry(json(data)?),
        })
    }

    /// The job's record, when this is a state event whose status is final.
    pub fn final_job(&self) -> Option<&JobView> {
        match self {
            Event::State(job) if job.status.is_terminal() => Some(job),
            _ => None,
        }
    }
}

type Sse = Pin<Box<dyn Stream<Item = Result<eventsource_stream::Event, EventStreamError<reqwest::Error>>> + Send>>;
type Events = Pin<Box<dyn Stream<Item = Result<JobEvent, Error>> + Send>>;

/// The events of a job as a [`Stream`]. Reconnects by itself; gives up (with [`Error::Unreachable`]) once the
/// server has been away longer than the client's reconnect window. An error ends the stream.
pub struct Follow {
    client: Client,
    id: String,
    events: Events,
}

impl Follow {
    pub(crate) fn new(client: Client, id: String, after: i64, window: Duration) -> Follow {
        let state = State {
            client: client.clone(),
            id: id.clone(),
            last: after,
            sse: None,
            done: false,
            connected: false,
            retry: Duration::from_secs(2),
            down_since: None,
            window,
        };
        let events = futures_util::stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        });
        Follow { client, id, events: Box::pin(events) }
    }

    /// Reads the stream to its end: the job's final record.
    pub async fn wait(mut self) -> Result<JobView, Error> {
        let mut last = None;
        while let Some(item) = self.next().await {
            if let Event::State(job) = item?.event {
                last = Some(*job);
            }
        }
        match last {
            Some(job) if job.status.is_terminal() => Ok(job),
            // A resume answered 204: the job had finished; its record says how.
            _ => self.client.job(&self.id).await,
        }
    }
}

impl Stream for Follow {
    type Item = Result<JobEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.as_mut().poll_next(cx)
    }
}

struct State {
    client: Client,
    id: String,
    /// The id of the last event seen.
    last: i64,
    sse: Option<Sse>,
    done: bool,
    /// A stream was open once: from then on, a server that went away is waited for.
    connected: bool,
    /// The reconnection delay, as the server's `retry:` field says.
    retry: Duration,
    down_since: Option<Instant>,
    window: Duration,
}

impl State {
    async fn next(&mut self) -> Option<Result<JobEvent, Error>> {
        loop {
            if self.done {
                return None;
            }
            let Some(sse) = self.sse.as_mut() else {
                match connect(&self.client, &self.id, self.last).await {
                    Ok(Some(sse)) => {
                        self.sse = Some(sse);
                        self.connected = true;
                        self.down_since = None;
                    }
                    Ok(None) => self.done = true,
                    Err(err) if self.connected && passes(&err) => {
                        let since = *self.down_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= self.window {
                            self.done = true;
                            return Some(Err(err));
                        }
                        tokio::time::sleep(self.retry).await;
                    }
                    Err(err) => {
                        self.done = true;
                        return Some(Err(err));
                    }
                }
                continue;
            };
            match sse.next().await {
                Some(Ok(sse_event)) => {
                    if let Some(retry) = sse_event.retry {
                        self.retry = retry;
                    }
                    if sse_event.id.is_empty() && sse_event.data.is_empty() {
                        continue;
                    }
                    let Ok(seq) = sse_event.id.trim().parse::<i64>() else {
                        self.done = true;
                        return Some(Err(self.unexpected(format!("an event without a numeric id: {sse_event:?}"))));
                    };
                    if seq <= self.last {
                        continue;
                    }
                    let event = match Event::parse(&sse_event.event, &sse_event.data) {
                        Ok(event) => event,
                        Err(why) => {
                            self.done = true;
                            return Some(Err(self.unexpected(format!("event {seq}: {why}"))));
                        }
                    };
                    self.last = seq;
                    self.done = event.final_job().is_some();
                    return Some(Ok(JobEvent { seq, event }));
                }
                // The connection broke, or the server ended the stream before the final record (it is shutting
                // down): resume after the last event seen.
                Some(Err(_)) | None => self.sse = None,
            }
        }
    }

    fn unexpected(&self, body: String) -> Error {
        let (_, url) = self.client.stream_request(&self.id, self.last);
        Error::Unexpected { url, status: 200, body }
    }
}

/// Opens the stream after `last`: `None` when the server answers 204 (nothing more will come).
async fn connect(client: &Client, id: &str, last: i64) -> Result<Option<Sse>, Error> {
    let (builder, url) = client.stream_request(id, last);
    let response = builder.send().await.map_err(|e| Error::transport(client.base_url(), &e))?;
    if is_no_content(response.status()) {
        return Ok(None);
    }
    if !response.status().is_success() {
        return Err(Error::from_response(&url, response).await);
    }
    Ok(Some(Box::pin(response.bytes_stream().eventsource())))
}

/// An error that passes by itself: no answer, or a server error (starting, draining, storage away).
fn passes(err: &Error) -> bool {
    match err {
        Error::Unreachable { .. } => true,
        Error::Api(problem) => problem.status >= 500,
        Error::Unexpected { status, .. } => *status >= 500,
        Error::InvalidUrl { .. } => false,
    }
}
