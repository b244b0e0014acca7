//! Server-Sent Events framing of followed job events.
use std::convert::Infallible;

use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::domain::{EventKind, JobEvent};
use crate::engine::follow::Followed;
use crate::metrics::SseClient;

/// One SSE frame. State events are unnamed (`message`, as servicekit clients expect); the rest are named by kind.
/// A CR or LF inside the data would end an SSE line, so the data is split into several `data:` lines there.
pub fn frame(event: &JobEvent) -> Bytes {
    let mut out = String::with_capacity(event.data().len() + 40);
    out.push_str("id: ");
    out.push_str(&event.seq.to_string());
    out.push('\n');
    if event.kind() != EventKind::State {
        out.push_str("event: ");
        out.push_str(event.kind().as_str());
        out.push('\n');
    }
    for line in event.data().split(['\n', '\r']) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// How long a client waits before it reconnects after the stream broke, in ms: sent first on every stream. Long
/// enough that a crowd of followers of a running job does not hammer a restarting server, short enough that a
/// reconnect (with `Last-Event-ID`, missing nothing) feels live. The field alone dispatches no event.
pub const RETRY_MS: u64 = 2000;
const RETRY: &[u8] = b"retry: 2000\n\n";

/// The stream of frames; `client` counts it as connected for as long as the stream lives (until the client
/// leaves or the stream ends).
pub fn body(events: mpsc::Receiver<Followed>, client: SseClient) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let frames = ReceiverStream::new(events).map(move |item| {
        let _held_by_the_stream = &client;
        match item {
            Followed::Event(event) => frame(&event),
            Followed::Idle => Bytes::from_static(KEEP_ALIVE),
        }
    });
    futures_util::stream::iter([Bytes::from_static(RETRY)]).chain(frames).map(Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventBody, JobId, JobStatus, StateRecord};

    #[test]
    fn frames_named_and_unnamed_events() {
        let job_id = JobId::generate();
        let line = JobEvent { job_id, seq: 7, body: EventBody::Stdout("a\rb".into()), at: 0 };
        assert_eq!(frame(&line), "id: 7\nevent: stdout\ndata: a\ndata: b\n\n");
        let record = StateRecord { status: JobStatus::Pending, record: "{}".into() };
        let state = JobEvent { job_id, seq: 1, body: EventBody::State(record), at: 0 };
        assert_eq!(frame(&state), "id: 1\ndata: {}\n\n");
    }

    #[test]
    fn the_retry_field_says_retry_ms() {
        assert_eq!(RETRY, format!("retry: {RETRY_MS}\n\n").as_bytes());
    }
}
