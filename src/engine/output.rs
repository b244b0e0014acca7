//! Reading a child's output: bounded lines from a pipe, and the per-job sink that numbers, publishes, bounds and
//! batches them into the store.
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use super::Inner;
use crate::domain::{EventKind, Job, JobEvent, JobStatus, OutputStream, now_ms};
use crate::store::StoreResult;

/// A longer line is cut into pieces of this size, so one newline-free stream cannot grow memory.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Stored events per transaction, at most.
pub const MAX_BATCH: usize = 512;

/// What the pipe readers send to the job's runner.
pub enum Piece {
    Line { stream: OutputStream, text: String, bytes: u64 },
    Closed(OutputStream),
}

/// Reads `pipe` to its end, sending one `Piece::Line` per line (without its `\n` or a `\r` before it).
pub async fn read_lines<R: AsyncRead + Unpin>(pipe: R, stream: OutputStream, tx: mpsc::Sender<Piece>) {
    let mut reader = BufReader::with_capacity(MAX_LINE_BYTES, pipe);
    let mut line: Vec<u8> = Vec::new();
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            break;
        }
        let window = &buf[..buf.len().min(MAX_LINE_BYTES - line.len())];
        // A line ends at a newline (which counts as a byte of output) or when it reaches MAX_LINE_BYTES.
        let (consumed, complete, newline) = match window.iter().position(|&b| b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&window[..i]);
                (i + 1, true, true)
            }
            None => {
                line.extend_from_slice(window);
                (window.len(), line.len() >= MAX_LINE_BYTES, false)
            }
        };
        reader.consume(consumed);
        if complete {
            let bytes = line.len() as u64 + u64::from(newline);
            if send_line(&tx, stream, &mut line, bytes).await.is_err() {
                return;
            }
        }
    }
    if !line.is_empty() {
        let bytes = line.len() as u64;
        let _ = send_line(&tx, stream, &mut line, bytes).await;
    }
    let _ = tx.send(Piece::Closed(stream)).await;
}

async fn send_line(
    tx: &mpsc::Sender<Piece>,
    stream: OutputStream,
    line: &mut Vec<u8>,
    bytes: u64,
) -> Result<(), mpsc::error::SendError<Piece>> {
    let body = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(body).into_owned();
    line.clear();
    tx.send(Piece::Line { stream, text, bytes }).await
}

/// Per-stream bookkeeping of the output bound.
#[derive(Default, Clone, Copy)]
struct Bound {
    stored_bytes: u64,
    full: bool,
    dropped_lines: i64,
    dropped_bytes: i64,
}

/// Numbers each line, publishes it at once, keeps it for the next batch write, and counts (without storing) what
/// goes past the output bound.
pub struct Sink {
    inner: Arc<Inner>,
    pub job: Job,
    batch: Vec<JobEvent>,
    flushed_seq: i64,
    bounds: [Bound; 2],
}

fn index(stream: OutputStream) -> usize {
    match stream {
        OutputStream::Stdout => 0,
        OutputStream::Stderr => 1,
    }
}

impl Sink {
    pub fn new(inner: Arc<Inner>, job: Job) -> Self {
        let flushed_seq = job.last_seq;
        Self { inner, job, batch: Vec::new(), flushed_seq, bounds: [Bound::default(); 2] }
    }

    pub fn has_pending(&self) -> bool {
        !self.batch.is_empty()
    }

    pub fn batch_full(&self) -> bool {
        self.batch.len() >= MAX_BATCH
    }

    pub fn line(&mut self, stream: OutputStream, text: String, bytes: u64) {
        let t = &mut self.job.totals;
        match stream {
            OutputStream::Stdout => {
                t.stdout_bytes += bytes as i64;
                t.stdout_lines += 1;
            }
            OutputStream::Stderr => {
                t.stderr_bytes += bytes as i64;
                t.stderr_lines += 1;
            }
        }
        let bound = &mut self.bounds[index(stream)];
        if bound.full || bound.stored_bytes + bytes > self.inner.config.output_max_bytes {
            bound.full = true;
            bound.dropped_lines += 1;
            bound.dropped_bytes += bytes as i64;
            t.dropped_lines += 1;
            t.dropped_bytes += bytes as i64;
            return;
        }
        bound.stored_bytes += bytes;
        let event = self.next_event(stream.kind(), text);
        self.inner.hub.publish(event.clone());
        self.batch.push(event);
    }

    /// At the end of a stream: if anything was dropped, a `truncated` event that says how much.
    pub fn stream_closed(&mut self, stream: OutputStream) {
        let bound = self.bounds[index(stream)];
        if bound.dropped_lines > 0 {
            let data = serde_json::json!({
                "stream": stream.as_str(),
                "dropped_lines": bound.dropped_lines,
                "dropped_bytes": bound.dropped_bytes,
                "stored_bytes": bound.stored_bytes,
                "limit_bytes": self.inner.config.output_max_bytes,
            });
            let event = self.next_event(EventKind::Truncated, data.to_string());
            self.inner.hub.publish(event.clone());
            self.batch.push(event);
        }
    }

    fn next_event(&mut self, kind: EventKind, data: String) -> JobEvent {
        self.job.last_seq += 1;
        JobEvent { job_id: self.job.id, seq: self.job.last_seq, kind, data, at: now_ms() }
    }

    /// Writes the batch and the running totals in one transaction. `Ok(false)`: the job is no longer ours.
    pub async fn flush(&mut self) -> StoreResult<bool> {
        if self.batch.is_empty() {
            return Ok(true);
        }
        let lease = Some(now_ms() + self.inner.config.lease_ms());
        let ok =
            self.inner.store.jobs().save(JobStatus::Running, self.flushed_seq, &self.job, lease, &self.batch).await?;
        if ok {
            self.flushed_seq = self.job.last_seq;
            self.batch.clear();
            self.inner.hub.flushed(self.job.id, self.flushed_seq);
        }
        Ok(ok)
    }

    /// Writes the final state with whatever output is left, then publishes the final record and closes the job's
    /// live channel. `Ok(false)`: the job is no longer ours and nothing was written.
    pub async fn finish(&mut self, finished: crate::domain::job::Finish) -> StoreResult<bool> {
        let now = now_ms();
        let done = self.job.ended(finished, now);
        let last = done.state_event(now);
        let mut events = std::mem::take(&mut self.batch);
        events.push(last.clone());
        let ok = self.inner.store.jobs().save(JobStatus::Running, self.flushed_seq, &done, None, &events).await;
        match ok {
            Ok(true) => {
                self.job = done;
                self.flushed_seq = self.job.last_seq;
                self.inner.hub.publish(last);
                self.inner.hub.close(self.job.id);
                Ok(true)
            }
            other => {
                events.pop();
                self.batch = events;
                other
            }
        }
    }
}
