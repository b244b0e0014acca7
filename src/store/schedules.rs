//! What schedules read and write: tasks whose next fire is due, moving a task's next fire on, and what the overdue
//! and failing reports need to know of a task's jobs. The job a fire makes is inserted through the job writer,
//! whose unique key (task, fire) makes it one job per fire.
use std::collections::HashMap;

use entity::{job, overdue_fire, task};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::convert::task_from_row;
use super::page::{self, Keyset, Slice};
use super::{Conns, StoreResult};
use crate::domain::{JobStatus, Task, TaskId};

pub struct SchedulesStore<'a> {
    db: Conns<'a>,
}

impl<'a> SchedulesStore<'a> {
    pub(super) fn new(db: Conns<'a>) -> Self {
        Self { db }
    }

    /// Enabled tasks whose next fire is at or before `now`, soonest first, at most `limit`.
    pub async fn due(&self, now: i64, limit: u64) -> StoreResult<Vec<Task>> {
        let rows = task::Entity::find()
            .filter(task::Column::Enabled.eq(true))
            .filter(task::Column::NextRunAt.lte(now))
            .order_by_asc(task::Column::NextRunAt)
            .limit(limit)
            .all(self.db.read)
            .await?;
        rows.into_iter().map(task_from_row).collect()
    }

    /// The soonest next fire after `now` of any enabled task, if any: when the scheduler has work next.
    pub async fn next_after(&self, now: i64) -> StoreResult<Option<i64>> {
        let next: Option<Option<i64>> = task::Entity::find()
            .select_only()
            .expr(Func::min(Expr::col(task::Column::NextRunAt)))
            .filter(task::Column::Enabled.eq(true))
            .filter(task::Column::NextRunAt.gt(now))
            .into_tuple()
            .one(self.db.read)
            .await?;
        Ok(next.flatten())
    }

    /// Moves task `id`'s next fire from `from` to `to`, unless it changed meanwhile (an edit, or another node
    /// that moved it first). Whether this call moved it.
    pub async fn advance(&self, id: TaskId, from: i64, to: Option<i64>) -> StoreResult<bool> {
        let res = task::Entity::update_many()
            .col_expr(task::Column::NextRunAt, Expr::value(to))
            .filter(task::Column::Id.eq(id))
            .filter(task::Column::NextRunAt.eq(from))
            .exec(self.db.write)
            .await;
        Ok(self.db.wrote(res)?.rows_affected == 1)
    }

    /// Whether task `id` has a job pending or running.
    pub async fn active(&self, id: TaskId) -> StoreResult<bool> {
        let statuses: [job::Status; 2] = [JobStatus::Pending.into(), JobStatus::Running.into()];
        let found = job::Entity::find()
            .select_only()
            .column(job::Column::Id)
            .filter(job::Column::TaskId.eq(id))
            .filter(job::Column::Status.is_in(statuses))
            .into_tuple::<String>()
            .one(self.db.read)
            .await?;
        Ok(found.is_some())
    }

    /// The latest time a job of each of `tasks` started (any trigger), for those that have one.
    pub async fn latest_start_of(&self, tasks: &[TaskId]) -> StoreResult<HashMap<TaskId, i64>> {
        let rows: Vec<(TaskId, Option<i64>)> = job::Entity::find()
            .select_only()
            .column(job::Column::TaskId)
            .expr(Func::max(Expr::col(job::Column::StartedAt)))
            .filter(job::Column::TaskId.is_in(tasks.iter().copied()))
            .group_by(job::Column::TaskId)
            .into_tuple()
            .all(self.db.read)
            .await?;
        Ok(rows.into_iter().filter_map(|(id, at)| Some((id, at?))).collect())
    }

    /// Whether the newest `n` finished jobs of task `id` all failed (and there are `n`).
    pub async fn last_runs_failed(&self, id: TaskId, n: u64) -> StoreResult<bool> {
        let finished: [job::Status; 3] =
            [JobStatus::Completed.into(), JobStatus::Failed.into(), JobStatus::Canceled.into()];
        let statuses: Vec<job::Status> = job::Entity::find()
            .select_only()
            .column(job::Column::Status)
            .filter(job::Column::TaskId.eq(id))
            .filter(job::Column::Status.is_in(finished))
            .order_by_desc(job::Column::Id)
            .limit(n)
            .into_tuple()
            .all(self.db.read)
            .await?;
        Ok(statuses.len() as u64 == n && n > 0 && statuses.iter().all(|s| *s == job::Status::Failed))
    }

    /// Scheduled tasks (enabled or not) after the task `req.after`, oldest first.
    pub async fn scheduled_after(&self, req: Keyset<TaskId>) -> StoreResult<Slice<Task>> {
        let req = Keyset { after: req.after.map(|id| id.to_string()), limit: req.limit };
        let query = task::Entity::find().filter(task::Column::Schedule.is_not_null());
        let rows = page::keyset(query, task::Column::Id, sea_orm::Order::Asc, req, self.db.read).await?;
        rows.try_map(task_from_row)
    }

    /// Records that task `id`'s fire at `fire` was found overdue at `now`. Whether this call recorded it (false:
    /// it was found before, here or on another node).
    pub async fn record_overdue(&self, id: TaskId, fire: i64, now: i64) -> StoreResult<bool> {
        let row = overdue_fire::ActiveModel { task_id: Set(id), scheduled_for: Set(fire), found_at: Set(now) };
        let once = OnConflict::columns([overdue_fire::Column::TaskId, overdue_fire::Column::ScheduledFor])
            .do_nothing()
            .to_owned();
        let res = overdue_fire::Entity::insert(row).on_conflict(once).exec_without_returning(self.db.write).await;
        Ok(self.db.wrote(res)? == 1)
    }
}
