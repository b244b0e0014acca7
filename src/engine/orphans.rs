//! The orphan report: tasks that fell through, each with the first reason that applies.
use super::{Engine, EngineError};
use crate::domain::task::OrphanReason;
use crate::domain::{Outcome, Task};

impl Engine {
    /// Tasks that fell through, each with the first reason that applies: `not_runnable` (enabled, but its program
    /// is no longer allowed or found), `lost` (its newest job's runner died), `never_run` (enabled, never run).
    pub async fn orphans(&self) -> Result<Vec<(Task, OrphanReason)>, EngineError> {
        let tasks = self.inner.store.tasks().all().await?;
        let latest = self.inner.store.jobs().latest_per_task().await?;
        let mut out = Vec::new();
        for task in tasks {
            let newest = latest.get(&task.id);
            let reason = if task.enabled && !self.runnable(&task) {
                OrphanReason::NotRunnable
            } else if newest.is_some_and(|(_, outcome)| *outcome == Some(Outcome::Lost)) {
                OrphanReason::Lost
            } else if task.enabled && newest.is_none() {
                OrphanReason::NeverRun
            } else {
                continue;
            };
            out.push((task, reason));
        }
        Ok(out)
    }
}
