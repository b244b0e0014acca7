//! The orphan report (servicekit's meaning): tasks that fell through, found by reading the tasks in slices so that
//! one request costs the same however many tasks there are.
use std::collections::HashSet;

use super::{Engine, EngineError};
use crate::domain::task::OrphanReason;
use crate::domain::{JobStatus, Outcome, Task, TaskId};
use crate::store::Keyset;

/// Tasks read from the store at a time.
const READ_BATCH: u64 = 1_000;
/// Tasks one request reads at most. A request that stops here says where to go on, even when it found nothing.
pub const MAX_SCANNED: u64 = 10_000;

/// Orphaned tasks in task order, and the task to go on after when more tasks remain to be looked at.
#[derive(Debug)]
pub struct Orphans {
    pub items: Vec<(Task, OrphanReason)>,
    pub next: Option<TaskId>,
}

impl Engine {
    /// Orphaned tasks after the task `req.after` (in task order, oldest first), at most `req.limit`, of reason
    /// `only` if given. Each carries the first reason that applies: `unregistered` (it calls a function that no
    /// live node registers), `not_runnable` (enabled, but its program is no longer allowed or found), `lost` (its
    /// newest job's runner died), `overdue` (its schedule's latest fire past the grace period has no started job),
    /// `never_run` (enabled, never run, and unscheduled or past its first fire), `failing` (its last runs all
    /// failed). At most
    /// [`MAX_SCANNED`] tasks are read; `next` is where to go on.
    pub async fn orphans(&self, req: Keyset<TaskId>, only: Option<OrphanReason>) -> Result<Orphans, EngineError> {
        let store = &self.inner.store;
        let mut items = Vec::new();
        let mut after = req.after;
        let mut scanned = 0;
        let live = self.live_functions().await?;
        loop {
            let batch = store.tasks().after(Keyset { after, limit: READ_BATCH }).await?;
            let ids: Vec<TaskId> = batch.items.iter().map(|t| t.id).collect();
            let latest = store.jobs().latest_of(&ids).await?;
            let started = store.schedules().latest_start_of(&ids).await?;
            let now = self.inner.now();
            scanned += batch.items.len() as u64;
            let count = batch.items.len();
            for (i, task) in batch.items.into_iter().enumerate() {
                after = Some(task.id);
                let newest = latest.get(&task.id);
                let mut reason = self.orphan_reason(&task, newest, now, started.get(&task.id).copied(), &live);
                if reason.is_none() && newest.is_some_and(|(status, _)| *status == JobStatus::Failed) {
                    reason = self.failing(&task).await?.then_some(OrphanReason::Failing);
                }
                let Some(reason) = reason else { continue };
                if only.is_some_and(|r| r != reason) {
                    continue;
                }
                items.push((task, reason));
                if items.len() as u64 >= req.limit {
                    let more = batch.more || i + 1 < count;
                    return Ok(Orphans { items, next: after.filter(|_| more) });
                }
            }
            if !batch.more {
                return Ok(Orphans { items, next: None });
            }
            if scanned >= MAX_SCANNED {
                return Ok(Orphans { items, next: after });
            }
        }
    }

    fn orphan_reason(
        &self,
        task: &Task,
        newest: Option<&(JobStatus, Option<Outcome>)>,
        now: i64,
        latest_start: Option<i64>,
        live: &HashSet<String>,
    ) -> Option<OrphanReason> {
        let overdue = self.overdue_fire(task, now, latest_start);
        if task.spec.function.as_deref().is_some_and(|f| !live.contains(f)) {
            Some(OrphanReason::Unregistered)
        } else if task.spec.enabled && task.spec.function.is_none() && !self.runnable(task) {
            Some(OrphanReason::NotRunnable)
        } else if newest.is_some_and(|(_, outcome)| *outcome == Some(Outcome::Lost)) {
            Some(OrphanReason::Lost)
        } else if overdue.is_some() {
            Some(OrphanReason::Overdue)
        } else if task.spec.enabled && newest.is_none() && self.first_fire_passed(task, now) {
            Some(OrphanReason::NeverRun)
        } else {
            None
        }
    }

    /// The latest fire of `task`'s schedule older than the grace period, when no job of the task started at or
    /// after it: all nodes were down, the task was disabled, or its job still waits. Fires from before the task's
    /// last edit do not count (an edit restarts the schedule). A paused (disabled) task counts: a schedule that is
    /// meant to stop is removed, not paused.
    pub(crate) fn overdue_fire(&self, task: &Task, now: i64, latest_start: Option<i64>) -> Option<i64> {
        let grace = self.inner.config.overdue_grace.as_millis() as i64;
        let fire = task.spec.schedule.as_ref()?.latest_at_or_before(now - grace)?;
        (fire >= task.updated_at && latest_start.is_none_or(|started| started < fire)).then_some(fire)
    }

    /// Whether a task may be called `never_run`: unscheduled, or its schedule's first fire has come.
    fn first_fire_passed(&self, task: &Task, now: i64) -> bool {
        task.spec.schedule.as_ref().is_none_or(|s| s.latest_at_or_before(now).is_some_and(|f| f >= task.updated_at))
    }

    /// Whether the task's last `failing_runs` finished jobs all failed.
    async fn failing(&self, task: &Task) -> Result<bool, EngineError> {
        let n = self.inner.config.failing_runs;
        Ok(n > 0 && self.inner.store.schedules().last_runs_failed(task.id, n).await?)
    }
}
