//! The `jobs` and `job_events` tables: the queue, the claim, and the event log.
use std::collections::HashMap;
use std::sync::LazyLock;

use entity::{job, job_event};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, Statement,
    TransactionTrait,
};

use super::convert::{event_from_row, job_from_row};
use super::writer::{JobWrite, Writer, insert_events};
use super::{Backend, Conns, Page, PageRequest, StoreError, StoreResult, db_backend};
use crate::domain::{EventKind, Job, JobEvent, JobId, JobStatus, Outcome, TaskId};

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

// The claim, one atomic statement per backend. Statuses are inlined (they are our own constants, not input) so
// that the planner can use the partial index on pending rows.
static CLAIM_SQLITE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET status = '{running}', started_at = ?, node_id = ?, lease_expires_at = ?, \
         last_seq = last_seq + 1 \
         WHERE id IN (SELECT id FROM jobs WHERE status = '{pending}' AND run_at <= ? ORDER BY run_at, id LIMIT ?) \
         RETURNING *",
        running = JobStatus::Running.as_str(),
        pending = JobStatus::Pending.as_str(),
    )
});
static CLAIM_POSTGRES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH due AS (SELECT id FROM jobs WHERE status = '{pending}' AND run_at <= $1 ORDER BY run_at, id \
         LIMIT $4 FOR UPDATE SKIP LOCKED) \
         UPDATE jobs SET status = '{running}', started_at = $1, node_id = $2, lease_expires_at = $3, \
         last_seq = jobs.last_seq + 1 FROM due WHERE jobs.id = due.id RETURNING jobs.*",
        running = JobStatus::Running.as_str(),
        pending = JobStatus::Pending.as_str(),
    )
});

fn filtered(filter: JobFilter) -> Select<job::Entity> {
    let mut q = job::Entity::find();
    if let Some(status) = filter.status {
        q = q.filter(job::Column::Status.eq(status.as_str()));
    }
    if let Some(task_id) = filter.task_id {
        q = q.filter(job::Column::TaskId.eq(task_id.to_string()));
    }
    q.order_by_desc(job::Column::Id)
}

impl<'a> JobsStore<'a> {
    pub(super) fn new(db: Conns<'a>, writer: &'a Writer, backend: Backend) -> Self {
        Self { db, writer, backend }
    }

    /// Inserts a new job together with its first events, atomically (group-committed with other job writes).
    pub async fn create(&self, job: &Job, events: &[JobEvent]) -> StoreResult<()> {
        self.writer.submit(JobWrite::Create { job: job.clone(), events: events.to_vec() }).await?;
        Ok(())
    }

    pub async fn get(&self, id: JobId) -> StoreResult<Job> {
        let row = job::Entity::find_by_id(id.to_string()).one(self.db.read).await?.ok_or(StoreError::NotFound)?;
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
        let limit = limit as i64;
        let stmt = match self.backend {
            Backend::Sqlite => Statement::from_sql_and_values(
                db_backend(self.backend),
                CLAIM_SQLITE.as_str(),
                [now.into(), node_id.into(), lease_until.into(), now.into(), limit.into()],
            ),
            Backend::Postgres => Statement::from_sql_and_values(
                db_backend(self.backend),
                CLAIM_POSTGRES.as_str(),
                [now.into(), node_id.into(), lease_until.into(), limit.into()],
            ),
        };
        let txn = self.db.write.begin().await?;
        let rows = job::Entity::find().from_raw_sql(stmt).all(&txn).await?;
        let mut claimed = rows
            .into_iter()
            .map(|row| job_from_row(row).map(|job| (job.state_event(now), job)))
            .collect::<Result<Vec<_>, _>>()?;
        let events: Vec<JobEvent> = claimed.iter().map(|(e, _)| e.clone()).collect();
        insert_events(&txn, &events).await?;
        txn.commit().await?;
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
    }

    /// Running jobs, optionally only those whose lease ran out before `expired_before`.
    pub async fn running(&self, expired_before: Option<i64>) -> StoreResult<Vec<Job>> {
        let mut q = job::Entity::find().filter(job::Column::Status.eq(JobStatus::Running.as_str()));
        if let Some(t) = expired_before {
            q = q.filter(job::Column::LeaseExpiresAt.lt(t));
        }
        q.order_by_asc(job::Column::Id).all(self.db.read).await?.into_iter().map(job_from_row).collect()
    }

    pub async fn renew_lease(&self, id: JobId, node_id: &str, until: i64) -> StoreResult<bool> {
        let res = job::Entity::update_many()
            .col_expr(job::Column::LeaseExpiresAt, until.into())
            .filter(job::Column::Id.eq(id.to_string()))
            .filter(job::Column::NodeId.eq(node_id))
            .filter(job::Column::Status.eq(JobStatus::Running.as_str()))
            .exec(self.db.write)
            .await?;
        Ok(res.rows_affected == 1)
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
            .filter(job_event::Column::JobId.eq(id.to_string()))
            .filter(job_event::Column::Seq.gt(after_seq));
        if !kinds.is_empty() {
            q = q.filter(job_event::Column::Kind.is_in(kinds.iter().map(|k| k.as_str())));
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
            let task_id: String = row.try_get("", "task_id")?;
            let status: String = row.try_get("", "status")?;
            let outcome: Option<String> = row.try_get("", "outcome")?;
            let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("job of task {task_id}: {e}"));
            let status = status.parse().map_err(|e| corrupt(&e))?;
            let outcome = outcome.as_deref().map(str::parse).transpose().map_err(|e| corrupt(&e))?;
            out.insert(task_id.parse().map_err(|e| corrupt(&e))?, (status, outcome));
        }
        Ok(out)
    }
}
