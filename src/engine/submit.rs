//! Queueing jobs: a run of a task as a request asks for it (`submit`, with an idempotency key), and a finished job
//! run again as it was submitted (`retry`).
use std::time::Duration;

use super::{Engine, EngineError};
use crate::domain::{CommandError, CommandLine, Job, JobId, Params, Task, TaskId, Traceparent};
use crate::store::{Created, StoreError};
use crate::wire::state_event;

/// How long an `Idempotency-Key` holds.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// When a submitted job becomes due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Due {
    #[default]
    Now,
    /// At this time (Unix ms); a time in the past means now.
    At(i64),
    /// This long after its submission.
    After(Duration),
}

/// What `submit` did.
#[derive(Debug)]
pub enum Submitted {
    /// A new job is queued.
    Queued(Job),
    /// The idempotency key is held by this earlier job of the task: nothing was queued.
    Existing(Job),
}

/// What `submit` is asked for besides the task.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub params: Params,
    pub due: Due,
    pub idempotency_key: Option<String>,
}

impl Engine {
    /// Queues one run of `task` with the submission's params over its stored ones, due when the submission says;
    /// the dispatcher is woken. With an idempotency key that a job of this task already holds (within 24 h),
    /// nothing is queued and that job is returned.
    pub async fn submit(&self, task: &Task, submission: Submission) -> Result<Submitted, EngineError> {
        self.submit_traced(task, submission, None).await
    }

    /// [`Engine::submit`], keeping the W3C `traceparent` of the request on the job (and on its log lines).
    pub async fn submit_traced(
        &self,
        task: &Task,
        submission: Submission,
        traceparent: Option<Traceparent>,
    ) -> Result<Submitted, EngineError> {
        if !task.spec.enabled {
            return Err(EngineError::TaskDisabled);
        }
        let mut waiting = None;
        let (argv, call_params) = match &task.spec.function {
            Some(name) => {
                let (params, why) = self.function_params(name, task, &submission.params).await?;
                waiting = why;
                (Vec::new(), Some(params))
            }
            None => {
                let cmd = CommandLine::parse(&task.spec.command)?;
                self.inner.programs.check(&cmd)?;
                self.inner.env_policy.check(&task.spec.env)?;
                let params = task.spec.params_for(&submission.params).map_err(EngineError::Params)?;
                (cmd.render(&params, &task.spec.option_params)?, None)
            }
        };
        let now = self.inner.now();
        let run_at = match submission.due {
            Due::Now => now,
            Due::At(at) => at.max(now),
            Due::After(delay) => now + delay.as_millis() as i64,
        };
        let mut job = Job { traceparent, ..Job::pending(task, argv, now, run_at, submission.idempotency_key) };
        job.params = call_params;
        job.error = waiting;
        let keys_since = now - IDEMPOTENCY_WINDOW.as_millis() as i64;
        match self.inner.store.jobs().create(&job, &[state_event(&job, now)], keys_since).await? {
            Created::New => {
                self.inner.queued(job.run_at);
                Ok(Submitted::Queued(job))
            }
            Created::Existing(existing) => Ok(Submitted::Existing(*existing)),
        }
    }

    /// The job that `Idempotency-Key` `key` already queued for task `task_id` within the last 24 h, if any: a
    /// repeat is answered with it before its body is even looked at.
    pub async fn job_of_key(&self, task_id: TaskId, key: &str) -> Result<Option<Job>, EngineError> {
        let since = self.inner.now() - IDEMPOTENCY_WINDOW.as_millis() as i64;
        Ok(self.inner.store.jobs().by_key(task_id, key, since).await?)
    }

    /// Queues a new run of the finished job `id`, as it was submitted: the same argv, environment, directory,
    /// timeout, retry policy and sandbox, under the same task. The task must still exist and be enabled, and its
    /// program must still be allowed here; a job that has not finished is refused (cancel it first). The new job
    /// keeps the `traceparent` of the request that asked for it, if any.
    pub async fn retry(&self, id: JobId, traceparent: Option<Traceparent>) -> Result<Job, EngineError> {
        let store = &self.inner.store;
        let old = store.jobs().get(id).await?;
        if !old.status.is_terminal() {
            return Err(EngineError::JobActive(old.status));
        }
        let task = match store.tasks().get(old.task_id).await {
            Ok(task) => task,
            Err(StoreError::NotFound) => return Err(EngineError::TaskGone(old.task_id)),
            Err(e) => return Err(e.into()),
        };
        if !task.spec.enabled {
            return Err(EngineError::TaskDisabled);
        }
        if old.function.is_none() {
            let program = old.argv.first().ok_or(CommandError::Empty)?;
            self.inner.programs.program(program)?;
            self.inner.env_policy.check(&old.env)?;
        }
        let now = self.inner.now();
        let job = Job { traceparent, ..old.rerun(now) };
        store.jobs().create(&job, &[state_event(&job, now)], now).await?;
        self.inner.queued(job.run_at);
        Ok(job)
    }
}
