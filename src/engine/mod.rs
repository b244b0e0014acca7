//! Running work. The queue lives in the database; this module claims due jobs (up to `max_concurrency` at once),
//! runs them ([`runner`]), fans their events out live ([`hub`]) and lets clients follow a job from any point
//! ([`follow`]). It is woken on submit, never by a fixed sleep; a slow poll is only a fallback.
//!
//! It uses `store` and `domain`, and never `api`.
mod clock;
mod cluster;
pub mod follow;
pub mod host;
pub mod hub;
mod output;
mod reaper;
mod runner;
pub mod sandbox;
mod spawner;

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::{Notify, Semaphore, watch};

pub use hub::Hub;

use crate::domain::job::Finish;
use crate::domain::task::OrphanReason;
use crate::domain::{
    AllowList, CommandError, CommandLine, EnvError, EnvPolicy, Job, JobId, JobStatus, Node, NodeStatus, Outcome,
    Params, Task, TaskId,
};
use crate::store::{Created, Notice, Store, StoreError};
use crate::wire::state_event;

/// How many jobs one claim statement takes at most.
const CLAIM_BATCH: usize = 32;
/// The dispatcher looks at the queue at least this often even without a wake-up.
const POLL_FALLBACK: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The allow-list's entries, resolved to files when the engine starts.
    pub allow: Vec<String>,
    /// Variables of the server's environment that jobs get besides the base ones.
    pub env_passthrough: BTreeSet<String>,
    /// Start-up hook variables that tasks may set all the same.
    pub allow_env_hooks: BTreeSet<String>,
    pub max_concurrency: usize,
    /// Stored output per stream per job; the rest is counted, not kept.
    pub output_max_bytes: u64,
    /// Between SIGTERM and SIGKILL when a job is canceled or times out.
    pub kill_grace: Duration,
    /// How long a claim holds without renewal.
    pub lease: Duration,
    /// Finished jobs older than this are deleted (never when `None`).
    pub retention_age: Option<Duration>,
    /// Finished jobs are deleted, oldest first, while their stored output exceeds this (no cap when `None`).
    pub retention_max_output_bytes: Option<u64>,
    /// How often retention runs.
    pub retention_every: Duration,
}

/// How long an `Idempotency-Key` holds.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Why a runner is asked to stop its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A user canceled the job.
    Cancel,
    /// The server is shutting down and the drain period is over.
    Interrupt,
}

/// The handle on a running job: how to ask its runner to stop it, and its process group (0 until spawned).
#[derive(Clone)]
pub(crate) struct Control {
    stop: watch::Receiver<Option<StopReason>>,
    pgid: Arc<AtomicI32>,
}

struct Running {
    stop: watch::Sender<Option<StopReason>>,
    pgid: Arc<AtomicI32>,
}

/// What a task may ask of this server: programs of its allow-list, environment variables its policy accepts, and
/// a sandbox if it has bubblewrap.
#[derive(Clone, Copy)]
pub struct TaskRules<'a> {
    pub allow: &'a AllowList,
    pub env: &'a EnvPolicy,
    pub sandbox: bool,
}

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

/// What `submit` is asked for besides the task.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub params: Params,
    pub due: Due,
    pub idempotency_key: Option<String>,
}

impl EngineConfig {
    pub fn lease_ms(&self) -> i64 {
        self.lease.as_millis() as i64
    }

    /// A third of a lease: how often a runner renews its lease, the reaper looks for expired ones and a node
    /// heart-beats, so that a lease (or a node) is given up for lost only after about three missed beats.
    pub fn lease_tick(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(200))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("task is disabled; enable it before executing")]
    TaskDisabled,
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("{0}")]
    Params(String),
    #[error("the task's environment is refused here; update the task: {0}")]
    Env(#[from] EnvError),
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
    /// The file each allow-list entry is.
    pub(crate) programs: AllowList,
    /// Which variables tasks may set.
    pub(crate) env_policy: EnvPolicy,
    /// The clock of every time the engine stores or compares (the database's, on PostgreSQL).
    pub(crate) clock: clock::Clock,
    /// The environment every job starts from (a few of the server's variables; see [`host::job_base_env`]).
    base_env: Vec<(OsString, OsString)>,
    /// bubblewrap, which runs sandboxed jobs; `None`: this server cannot run them.
    bwrap: Option<std::path::PathBuf>,
    spawner: spawner::Spawner,
    pub(crate) wake: Notify,
    slots: Arc<Semaphore>,
    /// The jobs this process runs.
    running: Mutex<HashMap<JobId, Running>>,
    /// Signalled whenever a runner ends.
    runner_ended: Notify,
    /// Set once shutdown began: nothing more is claimed.
    draining: AtomicBool,
    /// When the earliest delayed pending job is due, as far as this process knows (Unix ms); `i64::MAX`: none;
    /// a time already past: ask the store. Saves the dispatcher a query each time it goes idle.
    next_due: AtomicI64,
    stopping: watch::Sender<bool>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Rescues what a previous process left running, then starts the dispatcher, the reaper, retention, and the
    /// node's heartbeat and relay. `address` is where this node serves its API (for the node registry).
    pub async fn start(store: Store, config: EngineConfig, address: &str) -> anyhow::Result<Engine> {
        let inner = Arc::new(Inner {
            store,
            hub: Hub::default(),
            node_id: ulid::Ulid::generate().to_string(),
            clock: clock::Clock::default(),
            slots: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            programs: host::resolve_allow_list(&config.allow),
            env_policy: EnvPolicy { allowed_hooks: config.allow_env_hooks.clone() },
            base_env: host::job_base_env(&config.env_passthrough),
            bwrap: host::find_bwrap(),
            config,
            spawner: spawner::Spawner::start(tokio::runtime::Handle::current())?,
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
            runner_ended: Notify::new(),
            draining: AtomicBool::new(false),
            next_due: AtomicI64::new(0),
            stopping: watch::channel(false).0,
        });
        let engine = Engine { inner };
        cluster::sync_clock_at_start(&engine.inner).await?;
        reaper::rescue_at_start(&engine.inner).await?;
        tokio::spawn(dispatch(engine.inner.clone()));
        tokio::spawn(reaper::reap(engine.inner.clone()));
        tokio::spawn(reaper::retention(engine.inner.clone()));
        let node = cluster::this_node(&engine.inner, address);
        cluster::register(&engine.inner, &node).await;
        tokio::spawn(cluster::heartbeat(engine.inner.clone(), node));
        tokio::spawn(cluster::relay(engine.inner.clone()));
        Ok(engine)
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// Graceful shutdown: stop claiming, give running jobs up to `grace` to finish, then stop the rest (TERM,
    /// kill grace, KILL) and hand them back to their retry policy (`pending` for another attempt, or `failed`
    /// with outcome `interrupted`), and end every live stream. Returns how many jobs were interrupted.
    pub async fn drain(&self, grace: Duration) -> usize {
        let inner = &self.inner;
        inner.draining.store(true, Ordering::SeqCst);
        inner.stopping.send_replace(true);
        let running = inner.running_count();
        if running > 0 {
            tracing::info!(running, grace_seconds = grace.as_secs_f64(), "draining: waiting for running jobs");
        }
        let finished = tokio::time::timeout(grace, inner.all_runners_ended()).await.is_ok();
        let mut interrupted = 0;
        if !finished {
            for r in inner.running.lock().unwrap_or_else(|p| p.into_inner()).values() {
                r.stop.send_replace(Some(StopReason::Interrupt));
                interrupted += 1;
            }
            tracing::warn!(interrupted, "drain period over: stopping the jobs still running");
            // The runners signal TERM, wait the kill grace, KILL, then record the end: give them that and a bit.
            let bound = inner.config.kill_grace + Duration::from_secs(10);
            if tokio::time::timeout(bound, inner.all_runners_ended()).await.is_err() {
                tracing::error!("some runners did not finish recording; their jobs will be rescued as lost");
            }
        }
        inner.hub.close_all();
        if let Err(err) = inner.store.nodes().stopped(&inner.node_id, inner.now()).await {
            tracing::warn!(error = %err, "cannot record this node as stopped");
        }
        interrupted
    }

    /// The nodes that used this database, newest first, with their status now.
    pub async fn nodes(&self) -> Result<Vec<(Node, NodeStatus)>, EngineError> {
        let now = self.inner.now();
        let gone_after = self.inner.config.lease_ms();
        let nodes = self.inner.store.nodes().recent(1000).await?;
        Ok(nodes
            .into_iter()
            .map(|node| {
                let status = node.status(now, gone_after);
                (node, status)
            })
            .collect())
    }

    /// Immediate stop (a second signal): SIGKILL every running job's process group. Their jobs stay `running`
    /// and are rescued at the next start.
    pub fn kill_all(&self) {
        for r in self.inner.running.lock().unwrap_or_else(|p| p.into_inner()).values() {
            let pgid = r.pgid.load(Ordering::SeqCst);
            if pgid > 0 {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// What a task may ask of this server.
    pub fn task_rules(&self) -> TaskRules<'_> {
        TaskRules { allow: &self.inner.programs, env: &self.inner.env_policy, sandbox: self.inner.bwrap.is_some() }
    }

    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// Now, in Unix ms, on the clock that decides (the database's, on PostgreSQL).
    pub fn now_ms(&self) -> i64 {
        self.inner.now()
    }

    /// Whether `task` could run here now: its program is allowed and its file is there, its working directory
    /// exists, its environment is one this server accepts, and it has bubblewrap if the task asks for a sandbox.
    pub fn runnable(&self, task: &Task) -> bool {
        let Ok(cmd) = CommandLine::parse(&task.spec.command) else { return false };
        matches!(self.inner.programs.program(cmd.program()), Ok(Some(file)) if host::is_executable(file))
            && task.spec.cwd.as_deref().is_none_or(|dir| host::check_dir(dir).is_ok())
            && self.inner.env_policy.check(&task.spec.env).is_ok()
            && (task.spec.sandbox.is_none() || self.inner.bwrap.is_some())
    }

    /// Queues one run of `task` with the submission's params over its stored ones, due when the submission says;
    /// the dispatcher is woken. With an idempotency key that a job of this task already holds (within 24 h),
    /// nothing is queued and that job is returned with `true`.
    pub async fn submit(&self, task: &Task, submission: Submission) -> Result<(Job, bool), EngineError> {
        if !task.spec.enabled {
            return Err(EngineError::TaskDisabled);
        }
        let cmd = CommandLine::parse(&task.spec.command)?;
        self.inner.programs.check(&cmd)?;
        self.inner.env_policy.check(&task.spec.env)?;
        let params = task.spec.params_for(&submission.params).map_err(EngineError::Params)?;
        let argv = cmd.render(&params, &task.spec.option_params)?;
        let now = self.inner.now();
        let run_at = match submission.due {
            Due::Now => now,
            Due::At(at) => at.max(now),
            Due::After(delay) => now + delay.as_millis() as i64,
        };
        let job = Job::pending(task, argv, now, run_at, submission.idempotency_key);
        let keys_since = now - IDEMPOTENCY_WINDOW.as_millis() as i64;
        match self.inner.store.jobs().create(&job, &[state_event(&job, now)], keys_since).await? {
            Created::New => {
                self.inner.due_at(job.run_at);
                self.inner.wake.notify_one();
                Ok((job, false))
            }
            Created::Existing(existing) => Ok((*existing, true)),
        }
    }

    /// The job that `Idempotency-Key` `key` already queued for task `task_id` within the last 24 h, if any: a
    /// repeat is answered with it before its body is even looked at.
    pub async fn replay(&self, task_id: TaskId, key: &str) -> Result<Option<Job>, EngineError> {
        let since = self.inner.now() - IDEMPOTENCY_WINDOW.as_millis() as i64;
        Ok(self.inner.store.jobs().by_key(task_id, key, since).await?)
    }

    /// Cancels a pending job at once, or asks the runner of a running one to stop it (TERM, grace, KILL),
    /// wherever it runs; the final state follows on the job's stream. Returns the job as it is now.
    pub async fn cancel(&self, id: JobId) -> Result<Job, EngineError> {
        for _ in 0..50 {
            let job = self.inner.store.jobs().get(id).await?;
            match job.status {
                JobStatus::Pending => {
                    let now = self.inner.now();
                    let done = job.ended(Finish::without_exit(Outcome::Canceled, "canceled before it started"), now);
                    let event = state_event(&done, now);
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
                    if self.inner.stop_local(id, StopReason::Cancel) {
                        return Ok(job);
                    }
                    if !self.inner.store.exclusive() {
                        // Another node runs it. The stored request reaches its runner at the next lease renewal
                        // (or whoever rescues the job, if that node died); the notice makes it immediate.
                        if self.inner.store.jobs().request_cancel(id, self.inner.now()).await? {
                            self.inner.store.notify(Notice::Cancel(id)).await?;
                            return Ok(job);
                        }
                        continue;
                    }
                }
                finished => return Err(EngineError::JobFinished(finished)),
            }
            // On a lone SQLite node: the job is between its claim and its runner's registration, or it has just
            // ended; look again.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(self.inner.store.jobs().get(id).await?)
    }
}

impl Inner {
    pub(crate) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Notes that a pending job becomes due at `at`, so that the dispatcher wakes for it (a job due now needs
    /// only the wake-up).
    pub(crate) fn due_at(&self, at: i64) {
        if at > self.now() {
            self.next_due.fetch_min(at, Ordering::SeqCst);
        }
    }

    /// Another node queued a job, maybe a delayed one this process cannot know the time of: the dispatcher asks
    /// the store when it next goes idle.
    fn forget_next_due(&self) {
        self.next_due.store(0, Ordering::SeqCst);
    }

    /// Whether this process runs `job` now.
    fn runs(&self, job: JobId) -> bool {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&job)
    }

    /// Asks this process's runner of `job` to stop it; false when this process does not run it.
    fn stop_local(&self, job: JobId, reason: StopReason) -> bool {
        match self.running.lock().unwrap_or_else(|p| p.into_inner()).get(&job) {
            Some(r) => {
                r.stop.send_replace(Some(reason));
                true
            }
            None => false,
        }
    }

    fn running_count(&self) -> usize {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Called by a runner as it ends.
    fn finished_running(&self, id: JobId) {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        self.hub.not_running(id);
        self.runner_ended.notify_waiters();
    }

    async fn all_runners_ended(&self) {
        loop {
            let ended = self.runner_ended.notified();
            if self.running_count() == 0 {
                return;
            }
            ended.await;
        }
    }
}

/// A random number in [0, 1), for retry jitter.
pub(crate) fn jitter() -> f64 {
    (ulid::Ulid::generate().random() & 0xFFFF_FFFF) as f64 / (1u64 << 32) as f64
}

/// The dispatcher: waits for a free slot, claims as many due jobs as there are free slots, starts a runner for
/// each, and sleeps until woken (a submit, a rescue), until the next delayed job is due, or for the fallback poll
/// when the queue is empty. It stops when shutdown begins.
async fn dispatch(inner: Arc<Inner>) {
    let mut stopping = inner.stopping.subscribe();
    loop {
        let first = tokio::select! {
            permit = inner.slots.clone().acquire_owned() => permit,
            _ = stopping.wait_for(|s| *s) => return,
        };
        let Ok(first) = first else { return };
        if *stopping.borrow() {
            return;
        }
        let mut permits = vec![first];
        while permits.len() < CLAIM_BATCH {
            match inner.slots.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let wanted = permits.len();
        let now = inner.now();
        let wait = match inner.store.jobs().claim(&inner.node_id, wanted, now, now + inner.config.lease_ms()).await {
            Ok(claimed) => {
                let got = claimed.len();
                for ((job, event), permit) in claimed.into_iter().zip(permits.drain(..)) {
                    let (stop, asked) = watch::channel(None);
                    let pgid = Arc::new(AtomicI32::new(0));
                    inner
                        .running
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(job.id, Running { stop, pgid: pgid.clone() });
                    inner.hub.running(job.id);
                    inner.hub.publish(event);
                    tokio::spawn(runner::run(inner.clone(), job, Control { stop: asked, pgid }, permit));
                }
                drop(permits);
                if got < wanted { Some(until_next_due(&inner).await) } else { None }
            }
            Err(err) => {
                drop(permits);
                tracing::warn!(error = %err, "cannot claim jobs; retrying");
                Some(Duration::from_secs(1))
            }
        };
        if let Some(wait) = wait {
            tokio::select! {
                _ = inner.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
    }
}

/// How long the dispatcher may sleep: until the earliest delayed job is due, at most the fallback poll. The store
/// is asked only when the known due time has passed (or is unknown).
async fn until_next_due(inner: &Inner) -> Duration {
    let now = inner.now();
    let known = inner.next_due.load(Ordering::SeqCst);
    let due = if known > now {
        known
    } else {
        let due = match inner.store.jobs().next_due().await {
            Ok(due) => due.unwrap_or(i64::MAX),
            Err(_) => now,
        };
        // Keep an earlier time someone noted meanwhile.
        if inner.next_due.compare_exchange(known, due, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            inner.next_due.fetch_min(due, Ordering::SeqCst);
        }
        inner.next_due.load(Ordering::SeqCst)
    };
    Duration::from_millis(due.saturating_sub(now).clamp(0, POLL_FALLBACK.as_millis() as i64) as u64)
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
            let reason = if task.spec.enabled && !self.runnable(&task) {
                OrphanReason::NotRunnable
            } else if newest.is_some_and(|(_, outcome)| *outcome == Some(Outcome::Lost)) {
                OrphanReason::Lost
            } else if task.spec.enabled && newest.is_none() {
                OrphanReason::NeverRun
            } else {
                continue;
            };
            out.push((task, reason));
        }
        Ok(out)
    }
}
