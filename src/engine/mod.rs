//! Running work. The queue lives in the database; this module is the façade ([`Engine`]: start, submit, cancel,
//! drain) over one room per concern:
//! - `queue`: the dispatcher, which claims due jobs (up to `max_concurrency` at once) and starts their runners;
//!   woken on submit, never by a fixed sleep (a slow poll is only a fallback); and when the next delayed job is due.
//! - `runner`: one job's process (in its own group), its timeout and stops; `lease` renews and guards its lease;
//!   `pipe` reads its output and `output` bounds, stores and publishes it.
//! - `process` and [`supervisor`]: job processes are started by the node's supervisor process (Linux), which
//!   kills them all when the server dies; elsewhere by this process.
//! - `running`: the jobs this process runs, so that a cancel, a drain or a second signal reaches them.
//! - `cancel`: a pending job at once; a running one by a stored request its runner acts on, wherever it runs.
//! - `scheduler`: makes the job of each due fire of a task's schedule (one per fire, by a unique key), and finds
//!   fires that went overdue; `overdue` records each overdue fire once.
//! - `reaper`: lost jobs (expired leases, a crash before start) and retention; `orphans`: the orphan report.
//! - `cluster`: this node in the registry, its heartbeat, and the other nodes' notices; `clock`: the one clock.
//! - [`hub`] fans events out live and [`follow`] lets clients follow a job from any point.
//! - `scrape`: what the engine adds to the metrics: each job's end, and the backlog and running jobs when scraped.
//! - [`job_artifacts`]: each attempt's artifacts directory, kept (bounded, following nothing) into the artifact
//!   object store when the job ends; leftovers removed at start; deleted with their jobs by retention.
//!
//! A move that is stored is announced in one way (`Inner::announce`): its events published, then the job's live
//! channel closed (it ended) or the queue told (another attempt is due). It uses `store` and `domain`, never `api`.
mod call;
mod cancel;
mod clock;
mod cluster;
pub mod follow;
mod functions;
pub mod host;
pub mod hub;
pub mod job_artifacts;
mod lease;
pub mod notify;
mod orphans;
mod output;
mod overdue;
mod pipe;
mod process;
mod queue;
mod reaper;
mod runner;
mod running;
pub mod sandbox;
mod scheduler;
mod scrape;
#[cfg(not(target_os = "linux"))]
mod spawner;
mod submit;
#[cfg(target_os = "linux")]
pub mod supervisor;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

pub use hub::Hub;
pub use orphans::{MAX_SCANNED, Orphans};
pub use overdue::OverdueFire;
pub use submit::{Due, IDEMPOTENCY_WINDOW, Submission, Submitted};

use crate::domain::{
    AllowList, CommandError, CommandLine, EnvError, EnvPolicy, Job, JobEvent, JobStatus, Node, NodeStatus, Task, TaskId,
};
use crate::functions::Registry;
use crate::store::{Keyset, Slice, Store, StoreError};

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
    /// The largest result (JSON bytes) a function job may return.
    pub result_max_bytes: u64,
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
    /// How late a schedule's fire may start before it is late (dropped with `missed: skip`, reported `overdue`).
    pub overdue_grace: Duration,
    /// Finished runs that all failed make a task `failing` (0: never).
    pub failing_runs: u64,
    /// The executable whose `supervise` subcommand is the job supervisor; `None`: this executable.
    pub supervisor_program: Option<std::path::PathBuf>,
    /// The names of the configured notification channels.
    pub notify_channels: std::collections::BTreeSet<String>,
    /// Where job attempts' artifact files go, and their bounds.
    pub artifacts: job_artifacts::ArtifactConfig,
}

/// The target of each job attempt's span, whose fields (job, task, attempt) every line its runner logs carries. The
/// readable text log leaves these spans out (its job lines name the job already); the JSON log keeps them.
pub const JOB_SPAN_TARGET: &str = "taskyard::job";

/// Why a runner is asked to stop its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A user canceled the job.
    Cancel,
    /// The server is shutting down and the drain period is over.
    Interrupt,
}

/// What a task may ask of this server: programs of its allow-list, environment variables its policy accepts, and
/// a sandbox if it has bubblewrap.
#[derive(Clone, Copy)]
pub struct TaskRules<'a> {
    pub allow: &'a AllowList,
    pub env: &'a EnvPolicy,
    pub sandbox: bool,
    /// The notification channels configured, which a task's rules may name.
    pub channels: &'a std::collections::BTreeSet<String>,
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
    #[error("job has not finished ({0}); cancel it first, or wait for its end")]
    JobActive(JobStatus),
    #[error("task {0} of this job was deleted; a run needs its task")]
    TaskGone(TaskId),
    #[error(transparent)]
    Move(#[from] crate::domain::job::IllegalMove),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the metrics could not be written out")]
    Metrics,
    #[error("no function named '{0}' is registered on this server")]
    FunctionNotFound(String),
    #[error("the task named '{0}' runs something else than function '{0}'; rename it to run the function by name")]
    FunctionNameTaken(String),
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
    /// The artifact object store and the attempts' artifacts directories.
    pub(crate) artifacts: job_artifacts::Artifacts,
    /// The environment every job starts from (a few of the server's variables; see [`host::job_base_env`]).
    base_env: Vec<(OsString, OsString)>,
    /// bubblewrap, which runs sandboxed jobs; `None`: this server cannot run them.
    bwrap: Option<std::path::PathBuf>,
    /// Starts job processes: the node's supervisor (see [`supervisor`]), or this process where there is none.
    launcher: process::Launcher,
    pub(crate) queue: queue::Queue,
    slots: Arc<Semaphore>,
    /// The jobs this process runs.
    pub(crate) running: running::Registry,
    /// The functions this node runs.
    pub(crate) functions: Registry,
    /// Their names: the function jobs this node claims.
    pub(crate) function_names: Vec<String>,
    /// Set once shutdown began: nothing more is claimed.
    draining: AtomicBool,
    stopping: watch::Sender<bool>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Starts the job supervisor (an error when it cannot start), rescues what a previous process left running,
    /// then starts the dispatcher, the reaper, retention, and the node's heartbeat and relay. `address` is where this node serves its API (for the node registry).
    pub async fn start(
        store: Store,
        config: EngineConfig,
        functions: Registry,
        address: &str,
    ) -> anyhow::Result<Engine> {
        let launcher = process::Launcher::start(config.supervisor_program.clone()).await?;
        let artifacts = job_artifacts::Artifacts::open(&config.artifacts)?;
        let inner = Arc::new(Inner {
            store,
            hub: Hub::default(),
            node_id: ulid::Ulid::generate().to_string(),
            clock: clock::Clock::default(),
            artifacts,
            slots: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            programs: host::resolve_allow_list(&config.allow),
            env_policy: EnvPolicy { allowed_hooks: config.allow_env_hooks.clone() },
            base_env: host::job_base_env(&config.env_passthrough),
            bwrap: host::find_bwrap(),
            config,
            launcher,
            queue: queue::Queue::default(),
            running: running::Registry::default(),
            function_names: functions.names().map(str::to_string).collect(),
            functions,
            draining: AtomicBool::new(false),
            stopping: watch::channel(false).0,
        });
        let engine = Engine { inner };
        cluster::sync_clock_at_start(&engine.inner).await?;
        reaper::rescue_at_start(&engine.inner).await?;
        let removed = engine.inner.artifacts.clean_leftovers(&engine.inner.store).await?;
        if removed > 0 {
            tracing::info!(removed, "removed artifacts directories of attempts that no longer run");
        }
        tokio::spawn(queue::dispatch(engine.inner.clone()));
        tokio::spawn(reaper::reap(engine.inner.clone()));
        tokio::spawn(reaper::retention(engine.inner.clone()));
        tokio::spawn(scheduler::run(engine.inner.clone()));
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
        let running = inner.running.count();
        if running > 0 {
            tracing::info!(running, grace_seconds = grace.as_secs_f64(), "draining: waiting for running jobs");
        }
        let finished = tokio::time::timeout(grace, inner.running.all_ended()).await.is_ok();
        let mut interrupted = 0;
        if !finished {
            interrupted = inner.running.stop_all(StopReason::Interrupt);
            tracing::warn!(interrupted, "drain period over: stopping the jobs still running");
            // The runners signal TERM, wait the kill grace, KILL, then record the end: give them that and a bit.
            let bound = inner.config.kill_grace + Duration::from_secs(10);
            if tokio::time::timeout(bound, inner.running.all_ended()).await.is_err() {
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
    pub async fn nodes(&self, req: Keyset<String>) -> Result<Slice<(Node, NodeStatus)>, EngineError> {
        let now = self.inner.now();
        let gone_after = self.inner.config.lease_ms();
        let nodes = self.inner.store.nodes().after(req).await?;
        Ok(nodes.map(|node| {
            let status = node.status(now, gone_after);
            (node, status)
        }))
    }

    /// Immediate stop (a second signal): SIGKILL every running job's process group. Their jobs stay `running`
    /// and are rescued at the next start.
    pub fn kill_all(&self) {
        self.inner.running.kill_all();
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// The artifact object store.
    pub fn job_artifacts(&self) -> &job_artifacts::Artifacts {
        &self.inner.artifacts
    }

    /// What a task may ask of this server.
    pub fn task_rules(&self) -> TaskRules<'_> {
        TaskRules {
            allow: &self.inner.programs,
            env: &self.inner.env_policy,
            sandbox: self.inner.bwrap.is_some(),
            channels: &self.inner.config.notify_channels,
        }
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
        if let Some(name) = &task.spec.function {
            return self.inner.functions.get(name).is_some();
        }
        let Ok(cmd) = CommandLine::parse(&task.spec.command) else { return false };
        matches!(self.inner.programs.program(cmd.program()), Ok(Some(file)) if host::is_executable(file))
            && task.spec.cwd.as_deref().is_none_or(|dir| host::check_dir(dir).is_ok())
            && self.inner.env_policy.check(&task.spec.env).is_ok()
            && (task.spec.sandbox.is_none() || self.inner.bwrap.is_some())
    }
}

impl Engine {
    /// The functions this node runs.
    pub fn functions(&self) -> &Registry {
        &self.inner.functions
    }
}

impl Inner {
    pub(crate) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A pending job becomes due at `at`: the dispatcher is woken (now, or then).
    pub(crate) fn queued(&self, at: i64) {
        self.queue.due(at, self.now());
    }

    /// Publishes the events of a move that is stored, then follows it up: the live channel of a job that ended
    /// closes, and a job handed back to the queue (another attempt) is due at its `run_at`.
    /// The move is counted first, so that a scrape after its events were seen shows it.
    pub(crate) fn announce(&self, job: &Job, events: impl IntoIterator<Item = JobEvent>) {
        scrape::moved(self.store.metrics(), job);
        if job.status.is_terminal() {
            // The end is stored: from now on a follower that opens reads the store, which holds it. Marked before
            // the final event goes out, so that a client that got it and resumes at once is told 204, not given a
            // stream of nothing.
            self.hub.not_running(job.id);
        }
        for event in events {
            self.hub.publish(event);
        }
        match job.status {
            JobStatus::Pending => self.queued(job.run_at),
            JobStatus::Running => {}
            JobStatus::Completed | JobStatus::Failed | JobStatus::Canceled => self.hub.close(job.id),
        }
    }

    /// Called by a runner as it ends.
    fn finished_running(&self, id: crate::domain::JobId) {
        self.running.leave(id);
        self.hub.not_running(id);
    }
}

/// A random number in [0, 1), for retry jitter.
pub(crate) fn jitter() -> f64 {
    (ulid::Ulid::generate().random() & 0xFFFF_FFFF) as f64 / (1u64 << 32) as f64
}
