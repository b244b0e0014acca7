//! Group commit of job writes.
//!
//! Every job creation and every job save (output batches, state changes) goes to one writer task, which applies
//! whatever has queued up in one transaction and answers each caller with its own result. Under load this turns
//! a few transactions per job into a few per batch of jobs; with one request waiting it is a plain transaction.
//! A save whose conditional update matches no row (the job moved on) writes nothing and answers `Stale`, so
//! sharing a transaction changes no one's outcome. If a shared transaction fails, nothing of it is kept (it is
//! rolled back) and each write is retried alone, so one bad write cannot fail the others: each caller gets its
//! own outcome. A retry first looks whether its write is already there (a commit whose answer was lost with the
//! connection), and a lost connection is retried for a moment before its error is answered. Each group's size
//! and the time it took to commit are recorded in the metrics. Audit log entries go the same way. `apply.rs`
//! holds what each write does in the database.
mod apply;

use apply::{apply, signals};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::dialect;
use super::fault::Faults;
use super::notify::Rules;
use super::{Backend, StoreError, StoreResult};
use crate::domain::{AuditEntry, Job, JobEvent, JobId, JobStatus, NotifyOn};
use crate::metrics::Metrics;

/// Writes per shared transaction, at most.
const MAX_GROUP: usize = 256;
/// How long the writes of a failed transaction may keep retrying a lost connection before they answer its error.
const RETRY_FOR: Duration = Duration::from_secs(1);

pub(crate) enum JobWrite {
    /// An audit log entry: it rides along with the job writes of its group, so it costs no commit of its own.
    Audit(AuditEntry),
    /// Inserts a job with its first events; with an idempotency key, only if no job of the task holds that key
    /// since `keys_since` (an older holder gives the key up).
    Create {
        job: Job,
        events: Vec<JobEvent>,
        keys_since: i64,
    },
    Save {
        expected: JobStatus,
        expected_seq: i64,
        job: Job,
        lease_until: Option<i64>,
        events: Vec<JobEvent>,
    },
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Applied {
    Done,
    /// A save found the job no longer in the expected state; nothing was written.
    Stale,
    /// A create found the task's idempotency key held by this job; nothing was written.
    Existing(JobId),
}

struct Request {
    write: JobWrite,
    reply: oneshot::Sender<StoreResult<Applied>>,
}

#[derive(Clone)]
pub(crate) struct Writer {
    requests: mpsc::Sender<Request>,
}

impl Writer {
    pub fn start(
        db: DatabaseConnection,
        backend: Backend,
        faults: Arc<Faults>,
        metrics: Metrics,
        rules: Arc<Rules>,
    ) -> Writer {
        let (requests, incoming) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(run(Db { conn: db, backend, rules }, faults, metrics, incoming));
        Writer { requests }
    }

    pub async fn submit(&self, write: JobWrite) -> StoreResult<Applied> {
        let gone = || StoreError::Corrupt("the database writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request { write, reply }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// Whether the write is a retry, which must first look whether an earlier try went through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Try {
    First,
    Again,
}

/// The writer's database: its connection, which one it is, and the notification rules job ends are matched against.
struct Db {
    conn: DatabaseConnection,
    backend: Backend,
    rules: Arc<Rules>,
}

async fn in_one_transaction(db: &Db, writes: &[&JobWrite], attempt: Try) -> StoreResult<Vec<Applied>> {
    let txn = db.conn.begin().await?;
    let mut results = Vec::with_capacity(writes.len());
    let mut heard = Vec::new();
    let mut applied = Ok(());
    for write in writes {
        match apply(&txn, &db.rules, write, attempt).await {
            Ok(result) => {
                if result == Applied::Done {
                    signals(write, &mut heard);
                }
                results.push(result);
            }
            Err(err) => {
                applied = Err(err);
                break;
            }
        }
    }
    // PostgreSQL delivers these when (and only if) the transaction commits.
    if applied.is_ok()
        && let Some(notify) = dialect::notify(db.backend, &heard)
    {
        applied = txn.execute_raw(notify).await.map(|_| ()).map_err(StoreError::from);
    }
    match applied {
        Ok(()) => {
            txn.commit().await?;
            if writes.iter().any(|w| ends_worth_a_message(w)) {
                db.rules.enqueued.notify_one();
            }
        }
        Err(err) => {
            // Roll back now rather than when the transaction is dropped; if SQLite already rolled back by itself
            // (it does after SQLITE_FULL and I/O errors) this fails, and the pool replaces the connection.
            let _ = txn.rollback().await;
            return Err(err);
        }
    }
    Ok(results)
}

/// Whether a write moves a job in a way that may enqueue a notification (a wake-up too many is harmless).
fn ends_worth_a_message(write: &JobWrite) -> bool {
    matches!(write, JobWrite::Save { expected, job, .. } if NotifyOn::of_move(*expected, job).is_some())
}

/// One write in a transaction of its own, after its shared transaction failed. A lost connection is retried
/// until `deadline`; a fault of the storage itself (full, read-only) or of the write is answered at once.
async fn alone(db: &Db, write: &JobWrite, deadline: Instant) -> StoreResult<Applied> {
    let mut pause = Duration::from_millis(20);
    loop {
        match in_one_transaction(db, &[write], Try::Again).await {
            Ok(mut results) => return Ok(results.remove(0)),
            Err(err @ StoreError::Unavailable(_)) if db.backend == Backend::Postgres && Instant::now() < deadline => {
                tracing::debug!(error = %err, "job write failed on a lost connection; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Err(err) => return Err(err),
        }
    }
}

/// The writer task. Each group is committed under `catch_unwind`: a panic while writing one group answers each of
/// its writers with an error and the task goes on with the next, so no fault in one write stops every job's writes.
async fn run(db: Db, faults: Arc<Faults>, metrics: Metrics, mut incoming: mpsc::Receiver<Request>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while incoming.recv_many(&mut group, MAX_GROUP).await > 0 {
        let (writes, replies): (Vec<JobWrite>, Vec<_>) = group.drain(..).map(|r| (r.write, r.reply)).unzip();
        let began = Instant::now();
        let results = AssertUnwindSafe(commit_group(&db, &faults, &writes)).catch_unwind().await;
        metrics.write_group(writes.len(), began.elapsed());
        match results {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(panic) => {
                let why = panic_message(panic.as_ref());
                tracing::error!(writes = writes.len(), panic = %why, "a job write panicked; its group is answered with an error");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::WriteAborted(why.clone())));
                }
            }
        }
    }
}

/// Applies a group in one transaction, or, if that fails, each write alone; one result per write, in order.
async fn commit_group(db: &Db, faults: &Faults, writes: &[JobWrite]) -> Vec<StoreResult<Applied>> {
    #[cfg(test)]
    tests::maybe_panic(writes);
    let shared: Vec<&JobWrite> = writes.iter().collect();
    match in_one_transaction(db, &shared, Try::First).await {
        Ok(results) => {
            faults.note(None, true);
            results.into_iter().map(Ok).collect()
        }
        Err(err) => {
            tracing::debug!(error = %err, writes = writes.len(), "shared job transaction failed; each write alone");
            let deadline = Instant::now() + RETRY_FOR;
            let mut results = Vec::with_capacity(writes.len());
            for write in writes {
                let result = alone(db, write, deadline).await;
                faults.note(result.as_ref().err().and_then(StoreError::fault), result.is_ok());
                results.push(result);
            }
            results
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => text.to_string(),
        (None, Some(text)) => text.clone(),
        (None, None) => "a panic without a message".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::domain::{JobId, now_ms, testing};

    /// The job whose write panics inside the writer, once (unit tests inject the fault this way).
    static PANIC_ON: Mutex<Option<JobId>> = Mutex::new(None);

    pub(super) fn maybe_panic(writes: &[JobWrite]) {
        let mut doomed = PANIC_ON.lock().unwrap_or_else(|p| p.into_inner());
        let hit = writes.iter().any(|w| match w {
            JobWrite::Create { job, .. } | JobWrite::Save { job, .. } => Some(job.id) == *doomed,
            JobWrite::Audit(_) => false,
        });
        if hit {
            *doomed = None;
            drop(doomed);
            panic!("injected fault in the job writer");
        }
    }

    fn job() -> Job {
        let now = now_ms();
        Job::pending(&testing::task("echo"), vec!["echo".into()], now, now, None)
    }

    #[tokio::test]
    async fn a_panic_in_one_group_answers_its_writers_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::fault_tests::sqlite_store(dir.path()).await;
        let doomed = job();
        *PANIC_ON.lock().unwrap() = Some(doomed.id);
        let err = store
            .jobs()
            .create(&doomed, &[crate::wire::state_event(&doomed, doomed.submitted_at)], 0)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::WriteAborted(ref why) if why.contains("injected")), "{err:?}");

        let next = job();
        store
            .jobs()
            .create(&next, &[crate::wire::state_event(&next, next.submitted_at)], 0)
            .await
            .expect("the writer still writes");
        assert_eq!(store.jobs().get(next.id).await.unwrap().id, next.id);
        assert!(matches!(store.jobs().get(doomed.id).await, Err(StoreError::NotFound)), "nothing of the aborted write");
    }
}
