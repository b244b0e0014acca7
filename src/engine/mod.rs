//! Running work. The queue lives in the database; this module claims due jobs (up to `max_concurrency` at once),
//! runs them ([`runner`]), fans their events out live ([`hub`]) and lets clients follow a job from any point
//! ([`follow`]). It is woken on submit, never by a fixed sleep; a slow poll is only a fallback.
//!
//! It uses `store` and `domain`, and never `api`.
pub mod follow;
pub mod hub;
mod output;
mod runner;
mod spawner;

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};

pub use hub::Hub;

use crate::domain::command::program_exists;
use crate::domain::job::Finish;
use crate::domain::task::OrphanReason;
use crate::domain::{AllowList, CommandError, CommandLine, Job, JobId, JobStatus, Outcome, Params, Task, now_ms};
use crate::store::{Backend, Store, StoreError};

/// How many jobs one claim statement takes at most.
const CLAIM_BATCH: usize = 32;
/// The dispatcher looks at the queue at least this often even without a wake-up.
const POLL_FALLBACK: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub allow: AllowList,
    pub max_concurrency: usize,
    /// Stored output per stream per job; the rest is counted, not kept.
    pub output_max_bytes: u64,
    /// Between SIGTERM and SIGKILL when a job is canceled or times out.
    pub kill_grace: Duration,
    /// How long a claim holds without renewal.
    pub lease: Duration,
}

impl EngineConfig {
    pub fn lease_ms(&self) -> i64 {
        self.lease.as_millis() as i64
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("task is disabled; enable it before executing")]
    TaskDisabled,
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("job has already finished ({0})")]
    JobFinished(JobStatus),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) hub: Hub,
    pub(crate) config: EngineConfig,
    /// This boot's identity; claims carry it.
    pub(crate) node_id: String,
    /// The environment every job starts from: the server's own, without TASKYARD_* variables (they may hold
    /// secrets such as the API key).
    base_env: Vec<(OsString, OsString)>,
    spawner: spawner::Spawner,
    wake: Notify,
    slots: Arc<Semaphore>,
    /// Cancel switches of the jobs this process runs.
    running: Mutex<HashMap<JobId, watch::Sender<bool>>>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Rescues what a previous process left running, then starts the dispatcher.
    pub async fn start(store: Store, config: EngineConfig) -> anyhow::Result<Engine> {
        let base_env = std::env::vars_os().filter(|(k, _)| !k.to_string_lossy().starts_with("TASKYARD_")).collect();
        let inner = Arc::new(Inner {
            store,
            hub: Hub::default(),
            node_id: ulid::Ulid::generate().to_string(),
            slots: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            config,
            base_env,
            spawner: spawner::Spawner::start(tokio::runtime::Handle::current())?,
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
        });
        let engine = Engine { inner };
        engine.rescue_lost().await?;
        tokio::spawn(dispatch(engine.inner.clone()));
        Ok(engine)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    pub fn allow_list(&self) -> &AllowList {
        &self.inner.config.allow
    }

    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// Whether `task` could run here now: its program is allowed and found.
    pub fn runnable(&self, task: &Task) -> bool {
        let Ok(cmd) = CommandLine::parse(&task.command) else { return false };
        self.inner.config.allow.check(&cmd).is_ok()
            && program_exists(cmd.program(), self.inner.base_env_path().as_deref())
    }

    /// Queues one run of `task` with `params` over its stored ones; the runner is woken at once.
    pub async fn submit(&self, task: &Task, params: &Params) -> Result<Job, EngineError> {
        if !task.enabled {
            return Err(EngineError::TaskDisabled);
        }
        let cmd = CommandLine::parse(&task.command)?;
        self.inner.config.allow.check(&cmd)?;
        let argv = cmd.render(&task.params.merged_with(params))?;
        let now = now_ms();
        let job = Job {
            id: JobId::generate(),
            task_id: task.id,
            status: JobStatus::Pending,
            outcome: None,
            attempt: 1,
            argv,
            env: task.env.clone(),
            cwd: task.cwd.clone(),
            timeout_seconds: task.timeout_seconds,
            submitted_at: now,
            run_at: now,
            started_at: None,
            finished_at: None,
            exit_code: None,
            signal: None,
            error: None,
            totals: Default::default(),
            last_seq: 1,
            node_id: None,
        };
        self.inner.store.jobs().create(&job, &[job.state_event(now)]).await?;
        self.inner.wake.notify_one();
        Ok(job)
    }

    /// Cancels a pending job at once, or asks the runner of a running one to stop it (TERM, grace, KILL); the
    /// final state follows on the job's stream. Returns the job as it is now.
    pub async fn cancel(&self, id: JobId) -> Result<Job, EngineError> {
        for _ in 0..50 {
            let job = self.inner.store.jobs().get(id).await?;
            match job.status {
                JobStatus::Pending => {
                    let now = now_ms();
                    let done = job.ended(Finish::without_exit(Outcome::Canceled, "canceled before it started"), now);
                    let event = done.state_event(now);
                    if self
                        .inner
                        .store
                        .jobs()
                        .save(JobStatus::Pending, job.last_seq, &done, None, std::slice::from_ref(&event))
                        .await?
                    {
                        self.inner.hub.publish(event);
                        self.inner.hub.close(id);
                        return Ok(done);
                    }
                }
                JobStatus::Running => {
                    if let Some(switch) = self.inner.running.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
                        switch.send_replace(true);
                        return Ok(job);
                    }
                }
                finished => return Err(EngineError::JobFinished(finished)),
            }
            // Between the claim and the runner's start the job is running but not yet registered here.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(self.inner.store.jobs().get(id).await?)
    }

    /// Marks jobs whose runner is gone as failed with outcome `lost`. On SQLite only one process uses the file,
    /// so every `running` job at start-up belongs to a dead process; on PostgreSQL only expired leases count.
    async fn rescue_lost(&self) -> anyhow::Result<()> {
        let now = now_ms();
        let expired_before = match self.inner.store.backend() {
            Backend::Sqlite => None,
            Backend::Postgres => Some(now),
        };
        for job in self.inner.store.jobs().running(expired_before).await? {
            let lost = job.ended(
                Finish::without_exit(Outcome::Lost, "runner lost: the server stopped while this job was running"),
                now,
            );
            let event = lost.state_event(now);
            if self.inner.store.jobs().save(JobStatus::Running, job.last_seq, &lost, None, &[event]).await? {
                tracing::warn!(job = %job.id, task = %job.task_id, "job was left running by a previous process; marked lost");
            }
        }
        Ok(())
    }
}

impl Inner {
    fn base_env_path(&self) -> Option<OsString> {
        self.base_env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone())
    }
}

/// The dispatcher: waits for a free slot, claims as many due jobs as there are free slots, starts a runner for
/// each, and sleeps until woken when the queue is empty.
async fn dispatch(inner: Arc<Inner>) {
    loop {
        let Ok(first) = inner.slots.clone().acquire_owned().await else { return };
        let mut permits = vec![first];
        while permits.len() < CLAIM_BATCH {
            match inner.slots.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let wanted = permits.len();
        let now = now_ms();
        match inner.store.jobs().claim(&inner.node_id, wanted, now, now + inner.config.lease_ms()).await {
            Ok(claimed) => {
                let got = claimed.len();
                for ((job, event), permit) in claimed.into_iter().zip(permits.drain(..)) {
                    let (switch, cancel) = watch::channel(false);
                    inner.running.lock().unwrap_or_else(|p| p.into_inner()).insert(job.id, switch);
                    inner.hub.publish(event);
                    inner.hub.flushed(job.id, job.last_seq);
                    tokio::spawn(runner::run(inner.clone(), job, cancel, permit));
                }
                drop(permits);
                if got < wanted {
                    tokio::select! {
                        _ = inner.wake.notified() => {}
                        _ = tokio::time::sleep(POLL_FALLBACK) => {}
                    }
                }
            }
            Err(err) => {
                drop(permits);
                tracing::warn!(error = %err, "cannot claim jobs; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

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
