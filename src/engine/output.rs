//! The per-job sink of a child's output: it bounds the lines the pipes give ([`super::pipe`]), turns `::progress`
//! lines into progress, and batches, numbers, stores and publishes them.
use std::collections::VecDeque;
use std::sync::Arc;

use tokio::time::{Duration, Instant};

use super::Inner;
use crate::domain::job::{Finish, IllegalMove};
use crate::domain::{EventBody, EventKind, Job, JobEvent, JobStatus, OutputStream, Progress};
use crate::store::{Saved, StoreResult};
use crate::wire::state_event;

/// What ending an attempt did.
#[derive(Debug)]
pub enum Recorded {
    /// The job's next record is stored and published.
    Stored,
    /// The job is no longer this runner's: nothing was written.
    Taken,
    /// The state machine refuses the move (the job's record is in no state to end that way): nothing was written.
    Refused(IllegalMove),
}

/// Stored events per transaction, at most.
pub const MAX_BATCH: usize = 512;

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
    body: EventBody,
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
            self.batch.push(Draft { body: EventBody::Progress(progress.to_json()), at: now });
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
            self.batch.push(Draft { body: stream.line(text), at: now });
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
        self.batch.push(Draft { body: EventBody::Truncated(data.to_string()), at: now });
        self.job.totals.stored_bytes += bound.tail_bytes as i64;
        for (text, _, at) in bound.tail.drain(..) {
            self.batch.push(Draft { body: stream.line(text), at });
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
                JobEvent { job_id: self.job.id, seq: self.job.last_seq, body: d.body, at: d.at }
            })
            .collect()
    }

    /// Puts events that could not be written back in front of the batch, unnumbered again.
    fn unnumber(&mut self, events: Vec<JobEvent>) {
        self.job.last_seq = self.stored_seq;
        let mut drafts: Vec<Draft> = events.into_iter().map(|e| Draft { body: e.body, at: e.at }).collect();
        drafts.append(&mut self.batch);
        self.progress_at = drafts.iter().rposition(|d| d.body.kind() == EventKind::Progress);
        self.batch = drafts;
    }

    fn published(&mut self, events: Vec<JobEvent>) {
        self.stored_seq = self.job.last_seq;
        self.inner.announce(&self.job, events);
    }

    /// Writes the batch and the running totals in one transaction (extending the lease), then publishes it.
    /// [`Saved::Stale`]: the job is no longer ours.
    pub async fn flush(&mut self) -> StoreResult<Saved> {
        if self.batch.is_empty() {
            return Ok(Saved::Written);
        }
        let events = self.number_batch();
        let lease = Some(self.inner.now() + self.inner.config.lease_ms());
        let saved = self.inner.store.jobs().save(JobStatus::Running, self.stored_seq, &self.job, lease, &events).await;
        self.storage_answered(&saved);
        match saved {
            Ok(Saved::Written) => {
                self.published(events);
                Ok(Saved::Written)
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
            let output = matches!(d.body, EventBody::Stdout(_) | EventBody::Stderr(_));
            if output {
                let bytes = d.body.data().len() as i64 + 1;
                t.dropped_lines += 1;
                t.dropped_bytes += bytes;
                t.stored_bytes -= bytes.min(t.stored_bytes);
            }
            !output
        });
        self.progress_at = self.batch.iter().rposition(|d| d.body.kind() == EventKind::Progress);
        if self.batch.len() < before {
            tracing::warn!(job = %self.job.id, lines = before - self.batch.len(), "no room: dropping output not yet stored");
        }
    }

    /// Keeps track of whether the storage takes writes: while it fails, new output is not kept for storing and
    /// flushes back off.
    fn storage_answered(&mut self, saved: &StoreResult<Saved>) {
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
    /// channel.
    pub async fn finish(&mut self, finished: Finish) -> StoreResult<Recorded> {
        let now = self.inner.now();
        let mut events = self.number_batch();
        let (next, retry) = match self.job.after_attempt(finished, now, super::jitter()) {
            Ok(moved) => moved,
            Err(illegal) => {
                self.unnumber(events);
                return Ok(Recorded::Refused(illegal));
            }
        };
        events.extend(retry);
        events.push(state_event(&next, now));
        let saved = self.inner.store.jobs().save(JobStatus::Running, self.stored_seq, &next, None, &events).await;
        self.storage_answered(&saved);
        match saved {
            Ok(Saved::Written) => {
                self.job = next;
                self.stored_seq = self.job.last_seq;
                self.inner.announce(&self.job, events);
                Ok(Recorded::Stored)
            }
            Ok(Saved::Stale) => {
                let output: Vec<JobEvent> = events.into_iter().filter(|e| e.seq <= self.job.last_seq).collect();
                self.unnumber(output);
                Ok(Recorded::Taken)
            }
            Err(err) => {
                let output: Vec<JobEvent> = events.into_iter().filter(|e| e.seq <= self.job.last_seq).collect();
                self.unnumber(output);
                Err(err)
            }
        }
    }
}
