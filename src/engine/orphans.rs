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
    /// live node registers), `not_runnable` (enabled, but its program is no
    /// longer allowed or found), `lost` (its newest job's runner died), `never_run` (enabled, never run). At most
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
            scanned += batch.items.len() as u64;
            let count = batch.items.len();
            for (i, task) in batch.items.into_iter().enumerate() {
                after = Some(task.id);
                let Some(reason) = self.orphan_reason(&task, latest.get(&task.id), &live) else { continue };
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
        live: &HashSet<String>,
    ) -> Option<OrphanReason> {
        if task.spec.function.as_deref().is_some_and(|f| !live.contains(f)) {
            Some(OrphanReason::Unregistered)
        } else if task.spec.enabled && task.spec.function.is_none() && !self.runnable(task) {
            Some(OrphanReason::NotRunnable)
        } else if newest.is_some_and(|(_, outcome)| *outcome == Some(Outcome::Lost)) {
            Some(OrphanReason::Lost)
        } else if task.spec.enabled && newest.is_none() {
            Some(OrphanReason::NeverRun)
        } else {
            None
        }
    }
}
