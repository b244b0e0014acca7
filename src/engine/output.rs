//! Reading a child's output: bounded lines from a pipe, and the per-job sink that bounds, batches, stores, numbers
//! and publishes them.
use std::collections::VecDeque;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};

use super::Inner;
use crate::domain::{EventKind, Job, JobEvent, JobStatus, OutputStream, Progress};
use crate::store::StoreResult;
use crate::wire::state_event;

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

/// The newest lines of a stream kept past its head, at most this many (besides the byte bound), so that a flood
/// of empty lines cannot grow memory by its per-line overhead.
const MAX_TAIL_LINES: usize = 10_000;
/// The tail of a stream holds at most this many bytes, whatever the bound.
const MAX_TAIL_BYTES: u64 = 1024 * 1024;

/// After a flush failed for lack of storage, the next one waits at least this long (doubling up to the maximum).
const STORAGE_RETRY_MIN: Duration = Duration::from_millis(250);
const STORAGE_RETRY_MAX: Duration = Duration::from_secs(5);

/// Why a stream's output stopped being stored, as its `truncated` event says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Cut {
    /// It reached `output_max_bytes`.
    #[default]
    Limit,
    /// The storage is full or failing, or free disk space is below `min_free_bytes`.
    Storage,
}

impl Cut {
    fn as_str(self) -> &'static str {
        match self {
            Cut::Limit => "limit",
            Cut::Storage => "storage",
        }
    }
}

/// An event waiting to be stored; it gets its sequence number when it is written.
struct Draft {
    kind: EventKind,
    data: String,
    at: i64,
}

/// One stream's share of the output bound: a head stored as it comes, then a tail of the newest lines kept in
/// memory, and counts of what fell out in between.
#[derive(Default)]
struct Bound {
    head_bytes: u64,
    past_head: bool,
    cut: Cut,
    tail: VecDeque<(String, u64, i64)>,
    tail_bytes: u64,
    dropped_lines: i64,
    dropped_bytes: i64,
}

/// Turns a job's output into numbered, stored, published events: bounds each stream (head and tail), turns
/// `::progress` lines into progress, and writes in batches. Events are published only once stored.
pub struct Sink {
    inner: Arc<Inner>,
    pub job: Job,
    batch: Vec<Draft>,
    /// Where in `batch` the unwritten progress event is: a newer one replaces it.
    progress_at: Option<usize>,
    /// The job's newest stored event.
    stored_seq: i64,
    bounds: [Bound; 2],
    head_limit: u64,
    tail_limit: u64,
    /// The newest flush failed for lack of storage: no new output is stored until a write works, and the next
    /// flush waits until `retry_at`.
    storage_failing: bool,
    retry_at: Instant,
    retry_pause: Duration,
}

fn index(stream: OutputStream) -> usize {
    match stream {
        OutputStream::Stdout => 0,
        OutputStream::Stderr => 1,
    }
}

impl Sink {
    pub fn new(inner: Arc<Inner>, job: Job) -> Self {
        let limit = inner.config.output_max_bytes;
        let tail_limit = (limit / 2).min(MAX_TAIL_BYTES);
        Self {
            stored_seq: job.last_seq,
            inner,
            job,
            batch: Vec::new(),
            progress_at: None,
            bounds: Default::default(),
            head_limit: limit - tail_limit,
            tail_limit,
            storage_failing: false,
            retry_at: Instant::now(),
            retry_pause: STORAGE_RETRY_MIN,
        }
    }

    /// Whether there is something to flush now (after a storage failure, not before its pause is over).
    pub fn has_pending(&self) -> bool {
        !self.batch.is_empty() && Instant::now() >= self.retry_at
    }

    /// Output is not stored while the storage fails or free disk space is below the minimum.
    fn storage_short(&self) -> bool {
        self.storage_failing || self.inner.store.low_disk()
    }

    pub fn batch_full(&self) -> bool {
        self.batch.len() >= MAX_BATCH
    }

    pub fn line(&mut self, stream: OutputStream, text: String, bytes: u64) {
        let now = self.inner.now();
        if stream == OutputStream::Stdout
            && let Some(progress) = Progress::parse_line(&text)
        {
            self.job.progress = Some(progress);
            if let Some(i) = self.progress_at.take() {
                self.batch.remove(i);
            }
            self.progress_at = Some(self.batch.len());
            self.batch.push(Draft { kind: EventKind::Progress, data: progress.to_json(), at: now });
            return;
        }
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
        let short = self.storage_failing || self.inner.store.low_disk();
        let bound = &mut self.bounds[index(stream)];
        if !bound.past_head && !short && bound.head_bytes + bytes <= self.head_limit {
            bound.head_bytes += bytes;
            t.stored_bytes += bytes as i64;
            self.batch.push(Draft { kind: stream.kind(), data: text, at: now });
            return;
        }
        if !bound.past_head {
            bound.past_head = true;
            bound.cut = if short { Cut::Storage } else { Cut::Limit };
            if short {
                tracing::warn!(job = %self.job.id, stream = stream.as_str(), "no room to store output: keeping only a tail in memory");
            }
        }
        bound.tail.push_back((text, bytes, now));
        bound.tail_bytes += bytes;
        while bound.tail_bytes > self.tail_limit || bound.tail.len() > MAX_TAIL_LINES {
            let Some((_, gone, _)) = bound.tail.pop_front() else { break };
            bound.tail_bytes -= gone;
            bound.dropped_lines += 1;
            bound.dropped_bytes += gone as i64;
            t.dropped_lines += 1;
            t.dropped_bytes += gone as i64;
        }
    }

    /// At the end of a stream that went past its head: a `truncated` event that says why and how much was
    /// dropped, then the tail (unless there is still no room for it: then the tail is dropped too).
    pub fn stream_closed(&mut self, stream: OutputStream) {
        let limit = self.inner.config.output_max_bytes;
        let short = self.storage_short();
        let bound = &mut self.bounds[index(stream)];
        if !bound.past_head {
            return;
        }
        if short {
            let t = &mut self.job.totals;
            for (_, bytes, _) in bound.tail.drain(..) {
                bound.dropped_lines += 1;
                bound.dropped_bytes += bytes as i64;
                t.dropped_lines += 1;
                t.dropped_bytes += bytes as i64;
            }
            bound.tail_bytes = 0;
            bound.cut = Cut::Storage;
        }
        let now = self.inner.now();
        let data = serde_json::json!({
            "stream": stream.as_str(),
            "reason": bound.cut.as_str(),
            "dropped_lines": bound.dropped_lines,
            "dropped_bytes": bound.dropped_bytes,
            "head_bytes": bound.head_bytes,
            "tail_lines": bound.tail.len(),
            "tail_bytes": bound.tail_bytes,
            "limit_bytes": limit,
        });
        self.batch.push(Draft { kind: EventKind::Truncated, data: data.to_string(), at: now });
        self.job.totals.stored_bytes += bound.tail_bytes as i64;
        for (text, _, at) in bound.tail.drain(..) {
            self.batch.push(Draft { kind: stream.kind(), data: text, at });
        }
        bound.tail_bytes = 0;
    }

    /// Numbers the batch after the job's newest event.
    fn number_batch(&mut self) -> Vec<JobEvent> {
        self.progress_at = None;
        let drafts = std::mem::take(&mut self.batch);
        drafts
            .into_iter()
            .map(|d| {
                self.job.last_seq += 1;
                JobEvent { job_id: self.job.id, seq: self.job.last_seq, kind: d.kind, data: d.data, at: d.at }
            })
            .collect()
    }

    /// Puts events that could not be written back in front of the batch, unnumbered again.
    fn unnumber(&mut self, events: Vec<JobEvent>) {
        self.job.last_seq = self.stored_seq;
        let mut drafts: Vec<Draft> =
            events.into_iter().map(|e| Draft { kind: e.kind, data: e.data, at: e.at }).collect();
        drafts.append(&mut self.batch);
        self.progress_at = drafts.iter().rposition(|d| d.kind == EventKind::Progress);
        self.batch = drafts;
    }

    fn published(&mut self, events: Vec<JobEvent>) {
        self.stored_seq = self.job.last_seq;
        for event in events {
            self.inner.hub.publish(event);
        }
    }

    /// Writes the batch and the running totals in one transaction (extending the lease), then publishes it.
    /// `Ok(false)`: the job is no longer ours.
    pub async fn flush(&mut self) -> StoreResult<bool> {
        if self.batch.is_empty() {
            return Ok(true);
        }
        let events = self.number_batch();
        let lease = Some(self.inner.now() + self.inner.config.lease_ms());
        let saved = self.inner.store.jobs().save(JobStatus::Running, self.stored_seq, &self.job, lease, &events).await;
        self.storage_answered(&saved);
        match saved {
            Ok(true) => {
                self.published(events);
                Ok(true)
            }
            other => {
                self.unnumber(events);
                other
            }
        }
    }

    /// Gives up the output lines still waiting to be stored (counted as dropped, each as its text and a newline),
    /// so that a job's final record, which carries them, fits in what room there is: its end matters more than its
    /// last lines.
    pub fn shed_output(&mut self) {
        let t = &mut self.job.totals;
        let before = self.batch.len();
        self.batch.retain(|d| {
            let output = matches!(d.kind, EventKind::Stdout | EventKind::Stderr);
            if output {
                let bytes = d.data.len() as i64 + 1;
                t.dropped_lines += 1;
                t.dropped_bytes += bytes;
                t.stored_bytes -= bytes.min(t.stored_bytes);
            }
            !output
        });
        self.progress_at = self.batch.iter().rposition(|d| d.kind == EventKind::Progress);
        if self.batch.len() < before {
            tracing::warn!(job = %self.job.id, lines = before - self.batch.len(), "no room: dropping output not yet stored");
        }
    }

    /// Keeps track of whether the storage takes writes: while it fails, new output is not kept for storing and
    /// flushes back off.
    fn storage_answered(&mut self, saved: &StoreResult<bool>) {
        match saved {
            Err(err) if err.fault().is_some() => {
                self.storage_failing = true;
                self.retry_at = Instant::now() + self.retry_pause;
                self.retry_pause = (self.retry_pause * 2).min(STORAGE_RETRY_MAX);
            }
            Err(_) => {}
            Ok(_) => {
                self.storage_failing = false;
                self.retry_pause = STORAGE_RETRY_MIN;
            }
        }
    }

    /// Ends the attempt with `finished`: writes what output is left with the job's next record (final, or pending
    /// for another attempt under its retry policy) and publishes them; a final record closes the job's live
    /// channel. `Ok(false)`: the job is no longer ours and nothing was written.
    pub async fn finish(&mut self, finished: crate::domain::job::Finish) -> StoreResult<bool> {
        let now = self.inner.now();
        let mut events = self.number_batch();
        let (next, retry) = self.job.after_attempt(finished, now, super::jitter());
        events.extend(retry);
        events.push(state_event(&next, now));
        let saved = self.inner.store.jobs().save(JobStatus::Running, self.stored_seq, &next, None, &events).await;
        self.storage_answered(&saved);
        match saved {
            Ok(true) => {
                self.job = next;
                self.published(events);
                if self.job.status.is_terminal() {
                    self.inner.hub.close(self.job.id);
                } else {
                    // Another attempt is queued: the dispatcher must see when it is due.
                    self.inner.due_at(self.job.run_at);
                    self.inner.wake.notify_one();
                }
                Ok(true)
            }
            other => {
                let output: Vec<JobEvent> = events.into_iter().filter(|e| e.seq <= self.job.last_seq).collect();
                self.unnumber(output);
                other
            }
        }
    }
}
