//! The `jobs` table: the queue, the claim, and the job's side of its event log ([`super::events`] stores it).
use std::collections::HashMap;

use entity::job;
use sea_orm::sea_query::{Expr, Func, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Select, TransactionTrait,
};

use super::convert::job_from_row;
use super::dialect::{self, Notice};
use super::events;
use super::page::{self, Keyset, Page, PageRequest, Slice};
use super::tasks::TaskFilter;
use super::writer::{Applied, JobWrite, Writer};
use super::{Backend, Conns, StoreError, StoreResult};
use crate::domain::{ArtifactId, EventKind, Job, JobEvent, JobId, JobStatus, Outcome, TaskId};
use crate::wire::state_event;

/// What a conditional `save` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Written,
    /// The job had moved on meanwhile: nothing was written.
    Stale,
}

/// What a lease renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// The lease is extended; `cancel_requested`: someone asked (on any node) to cancel the job.
    Renewed { cancel_requested: bool },
    /// The job is no longer that attempt of this node's (rescued, canceled, finished): its runner must stop.
    Lost,
}

/// What `request_cancel` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelRequest {
    /// Stored, for the job's runner and whoever rescues the job.
    Stored,
    /// The job is not running: nothing was stored.
    NotRunning,
}

/// What `create` did.
#[derive(Debug)]
pub enum Created {
    New,
    /// The idempotency key was taken: this is the job that holds it.
    Existing(Box<Job>),
}

/// Which jobs a list shows: every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub task_id: Option<TaskId>,
    /// Only jobs of tasks that have every one of these tags.
    pub tags: Vec<String>,
    /// Only jobs submitted at or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Only jobs submitted before this time (ms since the epoch).
    pub until: Option<i64>,
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
    if !filter.tags.is_empty() {
        let tagged = TaskFilter { enabled: None, tags: filter.tags }.select();
        let ids = tagged.select_only().column(entity::task::Column::Id).into_query();
        q = q.filter(job::Column::TaskId.in_subquery(ids));
    }
    if let Some(since) = filter.since {
        q = q.filter(job::Column::SubmittedAt.gte(since));
    }
    if let Some(until) = filter.until {
        q = q.filter(job::Column::SubmittedAt.lt(until));
    }
    q
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

    /// The function job whose result record is `id`.
    pub async fn by_artifact(&self, id: ArtifactId) -> StoreResult<Job> {
        let row = job::Entity::find().filter(job::Column::ArtifactId.eq(id.to_string())).one(self.db.read).await?;
        job_from_row(row.ok_or(StoreError::NotFound)?)
    }

    pub async fn get(&self, id: JobId) -> StoreResult<Job> {
        let row = job::Entity::find_by_id(id).one(self.db.read).await?.ok_or(StoreError::NotFound)?;
        job_from_row(row)
    }

    /// Jobs newest first, after (older than) the job `req.after`.
    pub async fn after(&self, filter: JobFilter, req: Keyset<JobId>) -> StoreResult<Slice<Job>> {
        let req = Keyset { after: req.after.map(|id| id.to_string()), limit: req.limit };
        let rows = page::keyset(filtered(filter), job::Column::Id, Order::Desc, req, self.db.read).await?;
        rows.try_map(job_from_row)
    }

    /// Page `req.page`, newest first.
    pub async fn page(&self, filter: JobFilter, req: PageRequest) -> StoreResult<Page<Job>> {
        let page = page::numbered(filtered(filter).order_by_desc(job::Column::Id), req, self.db.read).await?;
        Ok(Page { items: page.items.into_iter().map(job_from_row).collect::<Result<_, _>>()?, total: page.total })
    }

    /// Claims up to `limit` due pending jobs for `node_id` in one atomic statement, records the `running` state
    /// event of each, and returns them oldest first with that event.
    pub async fn claim(
        &self,
        node_id: &str,
        functions: &[String],
        limit: usize,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<Vec<(Job, JobEvent)>> {
        let stmt = dialect::claim(self.backend, node_id, functions, limit, now, lease_until);
        let txn = self.db.wrote(self.db.write.begin().await)?;
        let claim = async {
            let rows = job::Entity::find().from_raw_sql(stmt).all(&txn).await?;
            let claimed = rows
                .into_iter()
                .map(|row| job_from_row(row).map(|job| (state_event(&job, now), job)))
                .collect::<Result<Vec<_>, _>>()?;
            let events: Vec<JobEvent> = claimed.iter().map(|(e, _)| e.clone()).collect();
            events::insert(&txn, &events).await?;
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
    /// if the row is still in `expected` status with `expected_seq` as its newest event. [`Saved::Stale`] (nothing
    /// written) when the job moved on meanwhile: that is the fence that keeps a stale writer from overwriting a
    /// newer state.
    pub async fn save(
        &self,
        expected: JobStatus,
        expected_seq: i64,
        job: &Job,
        lease_until: Option<i64>,
        events: &[JobEvent],
    ) -> StoreResult<Saved> {
        self.writer
            .submit(JobWrite::Save { expected, expected_seq, job: job.clone(), lease_until, events: events.to_vec() })
            .await
            .map(|applied| if applied == Applied::Done { Saved::Written } else { Saved::Stale })
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

    /// Extends the lease of attempt `attempt` of a job this node runs.
    pub async fn renew_lease(&self, id: JobId, node_id: &str, attempt: i32, until: i64) -> StoreResult<Renewal> {
        let rows = job::Entity::update_many()
            .col_expr(job::Column::LeaseExpiresAt, until.into())
            .filter(job::Column::Id.eq(id))
            .filter(job::Column::NodeId.eq(node_id))
            .filter(job::Column::Attempt.eq(attempt))
            .filter(job::Column::Status.eq(job::Status::Running))
            .exec_with_returning(self.db.write)
            .await;
        Ok(match self.db.wrote(rows)?.first() {
            Some(row) => Renewal::Renewed { cancel_requested: row.cancel_requested_at.is_some() },
            None => Renewal::Lost,
        })
    }

    /// Records that someone asked to cancel a running job, for its runner (wherever it is) to see at its next
    /// lease renewal, and for whoever rescues it.
    pub async fn request_cancel(&self, id: JobId, now: i64) -> StoreResult<CancelRequest> {
        let res = job::Entity::update_many()
            .col_expr(job::Column::CancelRequestedAt, Some(now).into())
            .filter(job::Column::Id.eq(id))
            .filter(job::Column::Status.eq(job::Status::Running))
            .exec(self.db.write)
            .await;
        Ok(if self.db.wrote(res)?.rows_affected == 1 { CancelRequest::Stored } else { CancelRequest::NotRunning })
    }

    /// When the earliest pending job that a node registering `functions` can run is due, if there is one.
    pub async fn next_due(&self, functions: &[String]) -> StoreResult<Option<i64>> {
        let row = self.db.read.query_one_raw(dialect::next_due(self.backend, functions)).await?;
        Ok(row.map(|r| r.try_get::<i64>("", "run_at")).transpose()?)
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
            events::delete(&txn, &finished).await?;
            super::job_artifacts::delete(&txn, &finished).await?;
            Ok::<_, StoreError>(job::Entity::delete_many().filter(job::Column::Id.is_in(finished)).exec(&txn).await?)
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
        events::after(self.db.read, self.backend, id, after_seq, limit, kinds).await
    }

    /// The status and outcome of the newest job of each of `tasks` that has one.
    pub async fn latest_of(&self, tasks: &[TaskId]) -> StoreResult<HashMap<TaskId, (JobStatus, Option<Outcome>)>> {
        let newest = Query::select()
            .expr(Func::max(Expr::col(job::Column::Id)))
            .from(job::Entity)
            .and_where(job::Column::TaskId.is_in(tasks.iter().copied()))
            .group_by_col(job::Column::TaskId)
            .to_owned();
        let rows: Vec<(TaskId, job::Status, Option<job::Outcome>)> = job::Entity::find()
            .select_only()
            .columns([job::Column::TaskId, job::Column::Status, job::Column::Outcome])
            .filter(job::Column::Id.in_subquery(newest))
            .into_tuple()
            .all(self.db.read)
            .await?;
        let mut out = HashMap::new();
        for (task_id, status, outcome) in rows {
            out.insert(task_id, (status.into(), outcome.map(Into::into)));
        }
        Ok(out)
    }
}
