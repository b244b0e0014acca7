//! Group commit of job writes.
//!
//! Every job creation and every job save (output batches, state changes) goes to one writer task, which applies
//! whatever has queued up in one transaction and answers each caller with its own result. Under load this turns
//! a few transactions per job into a few per batch of jobs; with one request waiting it is a plain transaction.
//! A save whose conditional update matches no row (the job moved on) writes nothing and answers `Stale`, so
//! sharing a transaction changes no one's outcome. If a shared transaction fails, each write is retried alone, so
//! one bad write cannot fail the others.
use entity::{job, job_event};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use super::convert::{event_to_row, job_to_row};
use super::dialect::{self, Notice};
use super::{Backend, StoreError, StoreResult};
use crate::domain::{Job, JobEvent, JobStatus};

/// Writes per shared transaction, at most.
const MAX_GROUP: usize = 256;
/// Rows per multi-row INSERT: well under SQLite's limit on bound variables.
const INSERT_CHUNK: usize = 1000;

pub(crate) enum JobWrite {
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
    Existing(String),
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
    pub fn start(db: DatabaseConnection, backend: Backend) -> Writer {
        let (requests, incoming) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(run(db, backend, incoming));
        Writer { requests }
    }

    pub async fn submit(&self, write: JobWrite) -> StoreResult<Applied> {
        let gone = || StoreError::Corrupt("the database writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request { write, reply }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

pub(crate) async fn insert_events<C: ConnectionTrait>(db: &C, events: &[JobEvent]) -> StoreResult<()> {
    for chunk in events.chunks(INSERT_CHUNK) {
        job_event::Entity::insert_many(chunk.iter().map(event_to_row)).exec_without_returning(db).await?;
    }
    Ok(())
}

async fn apply<C: ConnectionTrait>(db: &C, write: &JobWrite) -> StoreResult<Applied> {
    match write {
        JobWrite::Create { job, events, keys_since } => {
            if let Some(key) = &job.idempotency_key {
                let task_id = job.task_id.to_string();
                job::Entity::update_many()
                    .col_expr(job::Column::IdempotencyKey, Option::<String>::None.into())
                    .filter(job::Column::TaskId.eq(&task_id))
                    .filter(job::Column::IdempotencyKey.eq(key))
                    .filter(job::Column::SubmittedAt.lt(*keys_since))
                    .exec(db)
                    .await?;
                let holder = job::Entity::find()
                    .select_only()
                    .column(job::Column::Id)
                    .filter(job::Column::TaskId.eq(&task_id))
                    .filter(job::Column::IdempotencyKey.eq(key))
                    .into_tuple::<String>()
                    .one(db)
                    .await?;
                if let Some(id) = holder {
                    return Ok(Applied::Existing(id));
                }
            }
            job::Entity::insert(job_to_row(job, None)).exec_without_returning(db).await?;
            insert_events(db, events).await?;
            Ok(Applied::Done)
        }
        JobWrite::Save { expected, expected_seq, job, lease_until, events } => {
            let res = job::Entity::update_many()
                .set(job_to_row(job, *lease_until))
                .filter(job::Column::Id.eq(job.id.to_string()))
                .filter(job::Column::Status.eq(expected.as_str()))
                .filter(job::Column::LastSeq.eq(*expected_seq))
                .exec(db)
                .await?;
            if res.rows_affected == 0 {
                return Ok(Applied::Stale);
            }
            insert_events(db, events).await?;
            Ok(Applied::Done)
        }
    }
}

/// Who should hear of a write that was applied: other nodes' dispatchers when a job became due, their
/// followers when a job has new events.
fn signals(write: &JobWrite, out: &mut Vec<Notice>) {
    match write {
        JobWrite::Create { job, .. } => {
            out.push(Notice::Queue);
            out.push(Notice::Events(job.id));
        }
        JobWrite::Save { job, events, .. } => {
            if job.status == JobStatus::Pending {
                out.push(Notice::Queue);
            }
            if !events.is_empty() {
                out.push(Notice::Events(job.id));
            }
        }
    }
}

async fn in_one_transaction(
    db: &DatabaseConnection,
    backend: Backend,
    writes: &[&JobWrite],
) -> StoreResult<Vec<Applied>> {
    let txn = db.begin().await?;
    let mut results = Vec::with_capacity(writes.len());
    let mut heard = Vec::new();
    for write in writes {
        let applied = apply(&txn, write).await?;
        if applied == Applied::Done {
            signals(write, &mut heard);
        }
        results.push(applied);
    }
    // PostgreSQL delivers these when (and only if) the transaction commits.
    if let Some(notify) = dialect::notify(backend, &heard) {
        txn.execute_raw(notify).await?;
    }
    txn.commit().await?;
    Ok(results)
}

async fn run(db: DatabaseConnection, backend: Backend, mut incoming: mpsc::Receiver<Request>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while incoming.recv_many(&mut group, MAX_GROUP).await > 0 {
        let writes: Vec<&JobWrite> = group.iter().map(|r| &r.write).collect();
        match in_one_transaction(&db, backend, &writes).await {
            Ok(results) => {
                for (req, result) in group.drain(..).zip(results) {
                    let _ = req.reply.send(Ok(result));
                }
            }
            Err(err) if group.len() == 1 => {
                let _ = group.pop().map(|req| req.reply.send(Err(err)));
            }
            Err(_) => {
                for req in group.drain(..) {
                    let result = in_one_transaction(&db, backend, &[&req.write]).await.map(|mut r| r.remove(0));
                    let _ = req.reply.send(result);
                }
            }
        }
        group.clear();
    }
}
