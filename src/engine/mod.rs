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
//! - `reaper`: lost jobs (expired leases, a crash before start) and retention; `orphans`: the orphan report.
//! - `cluster`: this node in the registry, its heartbeat, and the other nodes' notices; `clock`: the one clock.
//! - [`hub`] fans events out live and [`follow`] lets clients follow a job from any point.
//! - `scrape`: what the engine adds to the metrics: each job's end, and the backlog and running jobs when scraped.
//!
//! A move that is stored is announced in one way (`Inner::announce`): its events published, then the job's live
//! channel closed (it ended) or the queue told (another attempt is due). It uses `store` and `domain`, never `api`.
mod call;
mod cancel;
mod clock;
mod cluster;
pub mod follow;
pub mod host;
pub mod hub;
mod lease;
mod orphans;
mod output;
mod pipe;
mod process;
mod queue;
mod reaper;
mod runner;
mod running;
pub mod sandbox;
mod scrape;
#[cfg(not(target_os = "linux"))]
mod spawner;
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

use crate::domain::{
    AllowList, CommandError, CommandLine, EnvError, EnvPolicy, Job, JobEvent, JobStatus, Node, NodeStatus, Params,
    Task, TaskId, TaskName, TaskSpec,
};
use crate::functions::Registry;
use crate::store::{Created, Keyset, Slice, Store, StoreError};
use crate::wire::state_event;

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
    /// The executable whose `supervise` subcommand is the job supervisor; `None`: this executable.
    pub supervisor_program: Option<std::path::PathBuf>,
}

/// The target of each job attempt's span, whose fields (job, task, attempt) every line its runner logs carries. The
/// readable text log leaves these spans out (its job lines name the job already); the JSON log keeps them.
pub const JOB_SPAN_TARGET: &str = "taskyard::job";

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
        tokio::spawn(queue::dispatch(engine.inner.clone()));
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
        if let Some(name) = &task.spec.function {
            return self.inner.functions.get(name).is_some();
        }
        let Ok(cmd) = CommandLine::parse(&task.spec.command) else { return false };
        matches!(self.inner.programs.program(cmd.program()), Ok(Some(file)) if host::is_executable(file))
            && task.spec.cwd.as_deref().is_none_or(|dir| host::check_dir(dir).is_ok())
            && self.inner.env_policy.check(&task.spec.env).is_ok()
            && (task.spec.sandbox.is_none() || self.inner.bwrap.is_some())
    }

    /// Queues one run of `task` with the submission's params over its stored ones, due when the submission says;
    /// the dispatcher is woken. With an idempotency key that a job of this task already holds (within 24 h),
    /// nothing is queued and that job is returned.
    pub async fn submit(&self, task: &Task, submission: Submission) -> Result<Submitted, EngineError> {
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
        let mut job = Job::pending(task, argv, now, run_at, submission.idempotency_key);
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
}

impl Engine {
    /// The functions this node runs.
    pub fn functions(&self) -> &Registry {
        &self.inner.functions
    }

    /// For each function that a live node (heart-beating) registers, the ids of those nodes (the newest 1,000
    /// nodes are read).
    pub async fn function_nodes(&self) -> Result<std::collections::HashMap<String, Vec<String>>, EngineError> {
        let nodes = self.nodes(Keyset { after: None, limit: 1000 }).await?;
        let mut by_function: std::collections::HashMap<String, Vec<String>> = Default::default();
        for (node, _) in nodes.items.into_iter().filter(|(_, status)| *status == NodeStatus::Up) {
            for function in node.functions {
                by_function.entry(function).or_default().push(node.id.clone());
            }
        }
        Ok(by_function)
    }

    /// The params a call of function `name` for `task` gets: the schema's defaults, then the task's, then the
    /// request's, checked against the function's schema (each problem named). A function this node does not
    /// register is checked by the node that runs it; when no live node registers it, the job waits and the second
    /// value says why.
    async fn function_params(
        &self,
        name: &str,
        task: &Task,
        request: &Params,
    ) -> Result<(Params, Option<String>), EngineError> {
        let Some(function) = self.inner.functions.get(name) else {
            let params = task.spec.params.merged_with(request);
            let why = (!self.live_functions().await?.contains(name))
                .then(|| format!("waiting: no live node registers function '{name}'"));
            return Ok((params, why));
        };
        let params = function.schema.defaults().merged_with(&task.spec.params).merged_with(request);
        function.schema.check(&params, false).map_err(EngineError::Params)?;
        Ok((params, None))
    }

    /// The functions that live nodes (heart-beating) register (the newest 1,000 nodes are read).
    pub async fn live_functions(&self) -> Result<std::collections::HashSet<String>, EngineError> {
        Ok(self.function_nodes().await?.into_keys().collect())
    }

    /// The task that runs function `name` by name: the task of that name, created the first time. A task of that
    /// name that runs something else is a conflict.
    pub async fn function_task(&self, name: &str) -> Result<Task, EngineError> {
        if self.inner.functions.get(name).is_none() {
            return Err(EngineError::FunctionNotFound(name.into()));
        }
        let task_name = TaskName::parse(name).map_err(|_| EngineError::FunctionNotFound(name.into()))?;
        for _ in 0..2 {
            match self.inner.store.tasks().by_name(name).await? {
                Some(task) if task.spec.function.as_deref() == Some(name) => return Ok(task),
                Some(_) => return Err(EngineError::FunctionNameTaken(name.into())),
                None => {
                    let spec = TaskSpec {
                        name: Some(task_name.clone()),
                        function: Some(name.into()),
                        ..TaskSpec::new(String::new())
                    };
                    let task = Task::create(spec, self.inner.now());
                    match self.inner.store.tasks().insert(&task).await {
                        Ok(()) => return Ok(task),
                        // Created at the same moment by another request: read it.
                        Err(StoreError::NameTaken) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Err(EngineError::FunctionNameTaken(name.into()))
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
