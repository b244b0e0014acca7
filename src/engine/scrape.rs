//! What the engine adds to the metrics: each job's end as it is announced, and at scrape time the backlog (from
//! the store, one indexed query) and the jobs running on this node.
use std::time::Duration;

use super::{Engine, EngineError};
use crate::domain::{Job, JobStatus};
use crate::metrics::{Metrics, Scraped};

/// A stored move, as the metrics count it: a job back to `pending` is a retry (a submit is not announced), a
/// final one is finished with its outcome and its last attempt's run time when it ran.
pub(super) fn moved(metrics: &Metrics, job: &Job) {
    match job.status {
        JobStatus::Pending => metrics.job_retried(),
        JobStatus::Running => {}
        JobStatus::Completed | JobStatus::Failed | JobStatus::Canceled => {
            let Some(outcome) = job.outcome else {
                tracing::error!(job = %job.id, status = %job.status, "a final job without an outcome is not counted");
                return;
            };
            let ran = job.started_at.zip(job.finished_at).map(|(from, to)| ms(to - from));
            metrics.job_finished(outcome, ran);
        }
    }
}

fn ms(ms: i64) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

impl Engine {
    /// Every metric in the Prometheus text format, with the backlog and the running jobs read now.
    pub async fn metrics_text(&self) -> Result<String, EngineError> {
        let inner = &self.inner;
        let now = inner.now();
        let backlog = inner.store.backlog(now).await?;
        let scraped = Scraped {
            pending_due: backlog.due,
            oldest_pending: ms(backlog.oldest_run_at.map_or(0, |at| now - at)),
            running: inner.running.count() as i64,
        };
        inner.store.metrics().encode(scraped).map_err(|_| EngineError::Metrics)
    }
}
