//! Overdue fires: the one place that finds fires of schedules that went silent and records each durably, once,
//! so that whatever reports them (a notifier) reports each fire once however many nodes look.
use super::{Engine, EngineError};
use crate::domain::TaskId;
use crate::store::Keyset;

/// Scheduled tasks read at a time.
const READ_BATCH: u64 = 1_000;

/// A fire found overdue for the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueFire {
    pub task_id: TaskId,
    /// The fire (Unix ms).
    pub scheduled_for: i64,
}

impl Engine {
    /// Finds the fires that are overdue now (see `$orphaned`'s `overdue`), enqueues their `overdue` notifications
    /// and records each in the store; returns
    /// those recorded by this call, so a fire already found (here or on another node) is not returned again.
    pub async fn find_overdue(&self) -> Result<Vec<OverdueFire>, EngineError> {
        let store = self.store().schedules();
        let now = self.now_ms();
        let mut found = Vec::new();
        let mut after = None;
        loop {
            let batch = store.scheduled_after(Keyset { after, limit: READ_BATCH }).await?;
            let ids: Vec<TaskId> = batch.items.iter().map(|t| t.id).collect();
            let started = store.latest_start_of(&ids).await?;
            for task in &batch.items {
                after = Some(task.id);
                let Some(fire) = self.overdue_fire(task, now, started.get(&task.id).copied()) else { continue };
                // Its notifications first (once per fire however often asked), then the record: a crash between
                // the two leaves the fire unrecorded, so the next pass asks again and nothing is lost.
                super::notify::enqueue_overdue(self.store(), task.id, fire).await?;
                if store.record_overdue(task.id, fire, now).await? {
                    tracing::warn!(task = %task.id, scheduled_for = fire, "a scheduled fire is overdue");
                    found.push(OverdueFire { task_id: task.id, scheduled_for: fire });
                }
            }
            if !batch.more {
                return Ok(found);
            }
        }
    }
}
