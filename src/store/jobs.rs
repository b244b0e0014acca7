//! The `jobs` and `job_events` tables: the queue, the claim, and the event log.
use std::collections::HashMap;

use entity::{job, job_event};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
    Statement, TransactionTrait,
};

use super::convert::{event_from_row, job_from_row};
use super::dialect::{self, Notice, db_backend};
use super::writer::{Applied, JobWrite, Writer, insert_events};
use super::{Backend, Conns, Page, PageRequest, StoreError, StoreResult};
use crate::domain::{EventKind, Job, JobEvent, JobId, JobStatus, Outcome, TaskId};
use crate::wire::state_event;

/// What `create` did.
#[derive(Debug)]
pub enum Created {
    New,
    /// The idempotency key was taken: this is the job that holds it.
    Existing(Box<Job>),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub task_id: Option<TaskId>,
}

/// A stored output line, as the output endpoint pages through them.
#[derive(Debug, Clone)]
pub struct OutputLine {
    pub seq: i64,
    pub kind: EventKind,
    pub line: String,
    pub at: i64,
}

pub struct JobsStore<'a> {
    db: Conns<'a>,
    writer: &'a Writer,
    backend: Backend,
}

fn filtered(filter: JobFilter) -> Select<job::Entity> {
    let mut q = job::Entity::find();
    if let Some(status) = filter.status {
        q = q.filter(job::Column::Status.eq(job::Status::from(status)));
    }
    if let Some(task_id) = filter.task_id {
        q = q.filter(job::Column::TaskId.eq(task_id));
    }
    q.order_by_desc(job::Column::Id)
}

impl<'a> JobsStore<'a> {
    pub(super) fn new(db: Conns<'a>, writer: &'a Writer, backend: Backend) -> Self {
        Self { db, writer, backend }
    }

    /// Inserts a new job together with its first events, atomically (group-committed with other job writes).
    /// When the job carries an idempotency key that a job of the same task submitted at or after `keys_since`
    /// already holds, nothing is written and that job is returned instead.
    pub async fn create(&self, job: &Job, events: &[JobEvent], keys_since: i64) -> StoreResult<Created> {
        self.db.room_for_new_work()?;
        let write = JobWrite::Create { job: job.clone(), events: events.to_vec(), keys_since };
        match self.writer.submit(write).await {
            Ok(Applied::Existing(id)) => Ok(Created::Existing(Box::new(self.get(id).await?))),
            Ok(_) => Ok(Created::New),
            // Another node inserted the same key between our check and our insert.
            Err(err) => match &job.idempotency_key {
                Some(key) => match self.by_key(job.task_id, key, i64::MIN).await? {
                    Some(existing) => Ok(Created::Existing(Box::new(existing))),
                    None => Err(err),
                },
                None => Err(err),
            },
        }
    }

    /// The job of `task_id` that holds idempotency key `key`, if it was submitted at or after `since`.
    pub async fn by_key(&self, task_id: TaskId, key: &str, since: i64) -> StoreResult<Option<Job>> {
        let row = job::Entity::find()
            .filter(job::Column::TaskId.eq(task_id))
            .filter(job::Column::IdempotencyKey.eq(key))
            .filter(job::Column::SubmittedAt.gte(since))
            .one(self.db.write)
            .await?;
        row.map(job_from_row).transpose()
    }

    pub async fn get(&self, id: JobId) -> StoreResult<Job> {
        let row = job::Entity::find_by_id(id).one(self.db.read).await?.ok_or(StoreError::NotFound)?;
        job_from_row(row)
    }

    /// Newest first.
    pub async fn all(&self, filter: JobFilter) -> StoreResult<Vec<Job>> {
        filtered(filter).all(self.db.read).await?.into_iter().map(job_from_row).collect()
    }

    pub async fn page(&self, filter: JobFilter, req: PageRequest) -> StoreResult<Page<Job>> {
        let total = filtered(filter).count(self.db.read).await?;
        let rows = filtered(filter).offset((req.page - 1) * req.size).limit(req.size).all(self.db.read).await?;
        Ok(Page { items: rows.into_iter().map(job_from_row).collect::<Result<_, _>>()?, total })
    }

    /// Claims up to `limit` due pending jobs for `node_id` in one atomic statement, records the `running` state
    /// event of each, and returns them oldest first with that event.
    pub async fn claim(
        &self,
        node_id: &str,
        limit: usize,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<Vec<(Job, JobEvent)>> {
        let stmt = dialect::claim(self.backend, node_id, limit, now, lease_until);
        let txn = self.db.wrote(self.db.write.begin().await)?;
        let claim = async {
            let rows = job::Entity::find().from_raw_sql(stmt).all(&txn).await?;
            let claimed = rows
                .into_iter()
                .map(|row| job_from_row(row).map(|job| (state_event(&job, now), job)))
                .collect::<Result<Vec<_>, _>>()?;
            let events: Vec<JobEvent> = claimed.iter().map(|(e, _)| e.clone()).collect();
            insert_events(&txn, &events).await?;
            let signals: Vec<Notice> = events.iter().map(|e| Notice::Events(e.job_id)).collect();
            if let Some(notify) = dialect::notify(self.backend, &signals) {
                txn.execute_raw(notify).await?;
            }
            StoreResult::Ok(claimed)
        };
        let mut claimed = match claim.await {
            Ok(claimed) => claimed,
            Err(err) => {
                // No process starts for a claim that is not committed; and if SQLite already rolled back by
                // itself, this fails and the pool replaces the connection.
                let _ = txn.rollback().await;
                return self.db.wrote(Err(err));
            }
        };
        self.db.wrote(txn.commit().await)?;
        claimed.sort_by_key(|(_, job)| job.id);
        Ok(claimed.into_iter().map(|(event, job)| (job, event)).collect())
    }

    /// Writes `job` over its row and appends `events`, atomically (group-committed with other job writes), only
    /// if the row is still in `expected` status with `expected_seq` as its newest event. Returns false (and writes
    /// nothing) when the job moved on meanwhile: that is the fence that keeps a stale writer from overwriting a
    /// newer state.
    pub async fn save(
        &self,
        expected: JobStatus,
        expected_seq: i64,
        job: &Job,
        lease_until: Option<i64>,
        events: &[JobEvent],
    ) -> StoreResult<bool> {
        self.writer
            .submit(JobWrite::Save { expected, expected_seq, job: job.clone(), lease_until, events: events.to_vec() })
            .await
            .map(|applied| applied == Applied::Done)
    }

    /// Every running job.
    pub async fn running(&self) -> StoreResult<Vec<Job>> {
        job::Entity::find()
            .filter(job::Column::Status.eq(job::Status::Running))
            .order_by_asc(job::Column::Id)
            .all(self.db.read)
            .await?
            .into_iter()
            .map(job_from_row)
            .collect()
    }

    /// Running jobs whose lease ran out before `now`. A job without a lease (it never renewed) counts from its
    /// claim: its lease ran out at `started_at + lease_ms`.
    pub async fn expired(&self, now: i64, lease_ms: i64) -> StoreResult<Vec<Job>> {
        let lapsed = Condition::any()
            .add(job::Column::LeaseExpiresAt.lt(now))
            .add(
                Condition::all()
                    .add(job::Column::LeaseExpiresAt.is_null())
                    .add(job::Column::StartedAt.lt(now - lease_ms)),
            )
            .add(Condition::all().add(job::Column::LeaseExpiresAt.is_null()).add(job::Column::StartedAt.is_null()));
        job::Entity::find()
            .filter(job::Column::Status.eq(job::Status::Running))
            .filter(lapsed)
            .order_by_asc(job::Column::Id)
            .all(self.db.read)
            .await?
            .into_iter()
            .map(job_from_row)
            .collect()
    }

    /// Extends the lease of attempt `attempt` of a job this node runs. `None`: the job is no longer that attempt
    /// of ours (rescued, canceled, finished) and its runner must stop; else whether a cancel was requested.
    pub async fn renew_lease(&self, id: JobId, node_id: &str, attempt: i32, until: i64) -> StoreResult<Option<bool>> {
        let rows = job::Entity::update_many()
            .col_expr(job::Column::LeaseExpiresAt, until.into())
            .filter(job::Column::Id.eq(id))
            .filter(job::Column::NodeId.eq(node_id))
            .filter(job::Column::Attempt.eq(attempt))
            .filter(job::Column::Status.eq(job::Status::Running))
            .exec_with_returning(self.db.write)
            .await;
        Ok(self.db.wrote(rows)?.first().map(|row| row.cancel_requested_at.is_some()))
    }

    /// Records that someone asked to cancel a running job, for its runner (wherever it is) to see at its next
    /// lease renewal, and for whoever rescues it. False when the job is not running.
    pub async fn request_cancel(&self, id: JobId, now: i64) -> StoreResult<bool> {
        let res = job::Entity::update_many()
            .col_expr(job::Column::CancelRequestedAt, Some(now).into())
            .filter(job::Column::Id.eq(id))
            .filter(job::Column::Status.eq(job::Status::Running))
            .exec(self.db.write)
            .await;
        Ok(self.db.wrote(res)?.rows_affected == 1)
    }

    /// When the earliest pending job is due, if there is one.
    pub async fn next_due(&self) -> StoreResult<Option<i64>> {
        let due = job::Entity::find()
            .select_only()
            .column_as(Expr::cust("MIN(run_at)"), "due")
            .filter(job::Column::Status.eq(job::Status::Pending))
            .into_tuple::<Option<i64>>()
            .one(self.db.read)
            .await?;
        Ok(due.flatten())
    }

    /// Up to `limit` finished jobs, oldest finish first, finished before `before` (all finished jobs if `None`),
    /// with the output each holds.
    pub async fn finished(&self, before: Option<i64>, limit: u64) -> StoreResult<Vec<(JobId, i64)>> {
        let mut q = job::Entity::find()
            .select_only()
            .column(job::Column::Id)
            .column(job::Column::StoredBytes)
            .filter(job::Column::FinishedAt.is_not_null());
        if let Some(t) = before {
            q = q.filter(job::Column::FinishedAt.lt(t));
        }
        let rows = q
            .order_by_asc(job::Column::FinishedAt)
            .order_by_asc(job::Column::Id)
            .limit(limit)
            .into_tuple::<(String, i64)>()
            .all(self.db.read)
            .await?;
        rows.into_iter()
            .map(|(id, bytes)| Ok((id.parse().map_err(|e| StoreError::Corrupt(format!("job id {id}: {e}")))?, bytes)))
            .collect()
    }

    /// Output bytes held by finished jobs.
    pub async fn finished_output_bytes(&self) -> StoreResult<i64> {
        let total = job::Entity::find()
            .select_only()
            .column_as(Expr::cust("CAST(SUM(stored_bytes) AS BIGINT)"), "total")
            .filter(job::Column::FinishedAt.is_not_null())
            .into_tuple::<Option<i64>>()
            .one(self.db.read)
            .await?;
        Ok(total.flatten().unwrap_or(0))
    }

    /// Deletes finished jobs among `ids` with their events, in one transaction. Returns how many went.
    pub async fn delete_finished(&self, ids: &[JobId]) -> StoreResult<u64> {
        let txn = self.db.wrote(self.db.write.begin().await)?;
        let delete = async {
            let finished: Vec<JobId> = job::Entity::find()
                .select_only()
                .column(job::Column::Id)
                .filter(job::Column::Id.is_in(ids.iter().copied()))
                .filter(job::Column::FinishedAt.is_not_null())
                .into_tuple()
                .all(&txn)
                .await?;
            job_event::Entity::delete_many()
                .filter(job_event::Column::JobId.is_in(finished.clone()))
                .exec(&txn)
                .await?;
            job::Entity::delete_many().filter(job::Column::Id.is_in(finished)).exec(&txn).await
        };
        match delete.await {
            Ok(res) => {
                self.db.wrote(txn.commit().await)?;
                Ok(res.rows_affected)
            }
            Err(err) => {
                let _ = txn.rollback().await;
                self.db.wrote(Err(err))
            }
        }
    }

    /// Events of a job with `seq > after_seq`, oldest first, at most `limit`, of the given kinds (all if empty).
    pub async fn events_after(
        &self,
        id: JobId,
        after_seq: i64,
        limit: u64,
        kinds: &[EventKind],
    ) -> StoreResult<Vec<JobEvent>> {
        let mut q = job_event::Entity::find()
            .filter(job_event::Column::JobId.eq(id))
            .filter(job_event::Column::Seq.gt(after_seq));
        if !kinds.is_empty() {
            q = q.filter(job_event::Column::Kind.is_in(kinds.iter().map(|k| job_event::Kind::from(*k))));
        }
        let rows = q.order_by_asc(job_event::Column::Seq).limit(limit).all(self.db.read).await?;
        rows.into_iter().map(event_from_row).collect()
    }

    /// The status and outcome of each task's newest job.
    pub async fn latest_per_task(&self) -> StoreResult<HashMap<TaskId, (JobStatus, Option<Outcome>)>> {
        let stmt = Statement::from_string(
            db_backend(self.backend),
            "SELECT j.task_id, j.status, j.outcome FROM jobs j \
             WHERE j.id = (SELECT MAX(j2.id) FROM jobs j2 WHERE j2.task_id = j.task_id)",
        );
        let mut out = HashMap::new();
        for row in self.db.read.query_all_raw(stmt).await? {
            let task_id: TaskId = row.try_get("", "task_id")?;
            let status: job::Status = row.try_get("", "status")?;
            let outcome: Option<job::Outcome> = row.try_get("", "outcome")?;
            out.insert(task_id, (status.into(), outcome.map(Into::into)));
        }
        Ok(out)
    }
}
