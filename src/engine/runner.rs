//! Running one claimed job: spawn the argv directly (no shell) in its own process group with stdin closed, stream
//! its output through the [`Sink`], enforce its timeout, honour cancel, and record how it ended.
use std::collections::HashSet;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until};

use super::lease::{Lease, LeaseNews};
use super::output::{Recorded, Sink};
use super::pipe::{PipeItem, read_lines};
use super::process::{JobCommand, JobProcess};
use super::running::Control;
use super::{Inner, StopReason, host, sandbox};
use crate::domain::job::Finish;
use crate::domain::{Job, Outcome, OutputStream};

/// How long the output may stay open after the job's process group is gone before the runner looks for processes
/// of the job that left the group.
const ESCAPE_CHECK: Duration = Duration::from_millis(200);

/// How long output may wait in memory before it is written and published. Events are published only once
/// stored, so this is the delay a live follower sees; the writer groups what many jobs flush at once.
pub(super) const FLUSH_EVERY: Duration = Duration::from_millis(25);

/// Kills the whole process group if the runner is dropped before its child was reaped (e.g. at shutdown), so no
/// job's processes outlive it.
struct GroupGuard(i32);

impl GroupGuard {
    fn signal(&self, sig: Signal) {
        let _ = killpg(Pid::from_raw(self.0), sig);
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// Why we are stopping the process ourselves.
#[derive(Clone, Copy)]
pub(super) enum StopCause {
    Timeout,
    Asked(StopReason),
}

pub(super) async fn run(inner: Arc<Inner>, job: Job, control: Control, permit: OwnedSemaphorePermit) {
    let id = job.id;
    let mut sink = Sink::new(inner.clone(), job);
    // The work is a process or, for a function job, a call (see `call`); the rest of the life cycle is the same.
    let finish = if sink.job.function.is_some() {
        super::call::supervise(&inner, &mut sink, control.stop).await
    } else {
        run_process(&inner, &mut sink, control).await
    };
    if let Some(finish) = finish {
        record_finish(&mut sink, finish).await;
    }
    inner.finished_running(id);
    drop(permit);
}

async fn run_process(inner: &Arc<Inner>, sink: &mut Sink, control: Control) -> Option<Finish> {
    let dir = inner.artifacts.prepare(&sink.job).map_err(|e| format!("cannot make the artifacts directory: {e}"));
    let started = match dir.as_ref().map_err(Clone::clone).and_then(|dir| command(inner, &sink.job, dir)) {
        Ok(cmd) => inner.launcher.spawn(sink.job.id, cmd).await.map_err(|err| {
            format!("spawn failed: cannot start '{}': {err}", sink.job.argv.first().map_or("", String::as_str))
        }),
        Err(why) => Err(why),
    };
    let finish = match started {
        Ok(process) => {
            control.pgid.store(process.pid, Ordering::SeqCst);
            supervise(inner, sink, process, control.stop).await
        }
        Err(error) => Some(Finish { outcome: Outcome::SpawnError, exit_code: None, signal: None, error: Some(error) }),
    };
    // The files are kept before the end is recorded, so that whoever saw the job end finds them listed.
    // A job taken from this runner is another's now: its files are not kept here.
    match (&dir, &finish) {
        (Ok(dir), Some(_)) => {
            let found = inner.artifacts.collect(&sink.job, dir, inner.now()).await;
            if !found.is_empty() {
                record_artifacts(inner, &sink.job, &found).await;
            }
        }
        (Ok(dir), None) => inner.artifacts.discard(&sink.job, dir).await,
        (Err(_), _) => {}
    }
    finish
}

/// The process a job starts: the file its program's allow-list entry resolved to (never a lookup on the job's
/// `PATH`), with the job's argv, the base environment, the task's variables and the job's own, in its working
/// directory. Each is checked again here, as this node sees it: the job may have been queued by another node, or
/// before the allow-list, the environment rules or the directory changed.
fn command(inner: &Inner, job: &Job, artifacts: &std::path::Path) -> Result<JobCommand, String> {
    let Some((program, args)) = job.argv.split_first() else {
        return Err("the stored job has an empty command".into());
    };
    let file = match inner.programs.program(program) {
        Ok(Some(file)) => file,
        Ok(None) => return Err(format!("program '{program}' was not found on the server's PATH when it started")),
        Err(e) => return Err(format!("{e} (on this node)")),
    };
    inner.env_policy.check(&job.env).map_err(|e| format!("the job's environment is refused: {e}"))?;
    if let Some(cwd) = &job.cwd {
        host::check_dir(cwd)?;
    }
    let (file, arg0, args) = match &job.sandbox {
        None => (file.to_path_buf(), program.into(), args.iter().map(Into::into).collect()),
        Some(sandbox) => {
            let bwrap = inner.bwrap.as_ref().ok_or("the job asks for a sandbox, and this node has no bubblewrap")?;
            if let Some(cwd) = &job.cwd {
                sandbox::check_cwd(cwd)?;
            }
            let args = sandbox::bwrap_args(sandbox, file, args, job.cwd.as_deref(), artifacts);
            (bwrap.clone(), bwrap.clone().into(), args)
        }
    };
    let mut env = inner.base_env.clone();
    env.extend(job.env.iter().map(|(k, v)| (k.into(), v.into())));
    env.push(("TASKYARD_JOB_ID".into(), job.id.to_string().into()));
    env.push(("TASKYARD_ATTEMPT".into(), job.attempt.to_string().into()));
    env.push((super::job_artifacts::DIR_VAR.into(), artifacts.into()));
    Ok(JobCommand { file, arg0, args, env, cwd: job.cwd.as_ref().map(Into::into) })
}

/// Drives a running child to its end. Returns how it ended, or `None` when the job was taken from us (then
/// nothing more may be written).
async fn supervise(
    inner: &Arc<Inner>,
    sink: &mut Sink,
    mut child: JobProcess,
    mut asked: watch::Receiver<Option<StopReason>>,
) -> Option<Finish> {
    let guard = GroupGuard(child.pid);
    let mut rx = read_output(&mut child);

    let timeout_at = sink.job.timeout_seconds.map(|s| Instant::now() + Duration::from_secs(s.max(0) as u64));
    let mut flush = interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut lease = Lease::start(inner, &sink.job);

    let mut exit: Option<std::io::Result<ExitStatus>> = None;
    let mut readers_open = true;
    let mut stopping = Stopping { why: None, kill_at: None, grace: inner.config.kill_grace };
    let mut escapees_at: Option<Instant> = None;
    while exit.is_none() || readers_open {
        tokio::select! {
            item = rx.recv(), if readers_open => match item {
                Some(PipeItem::Line { stream, text, bytes }) => {
                    sink.line(stream, text, bytes);
                    if sink.batch_full() && lease.flush(sink).await.is_break() {
                        return None;
                    }
                }
                Some(PipeItem::Closed(stream)) => sink.stream_closed(stream),
                None => readers_open = false,
            },
            status = child.wait(), if exit.is_none() => {
                exit = Some(status);
                // The job is its main process: whatever it left behind in its group goes with it, which also
                // closes the pipes those leftovers held open.
                guard.signal(Signal::SIGKILL);
                escapees_at = Some(Instant::now() + ESCAPE_CHECK);
            }
            // The output is still open a while after the group is gone: a process that left the group (setsid)
            // holds it. It is still the job's (it carries TASKYARD_JOB_ID): it goes too.
            _ = until(escapees_at), if readers_open => {
                let killed = super::reaper::kill_leftovers(&HashSet::from([sink.job.id]));
                if killed > 0 {
                    tracing::warn!(job = %sink.job.id, killed, "killed processes of the job that left its process group");
                }
                escapees_at = Some(Instant::now() + ESCAPE_CHECK * 5);
            }
            _ = until(timeout_at), if stopping.why.is_none() && exit.is_none() => {
                stopping.begin(StopCause::Timeout, &guard);
            }
            changed = asked.changed(), if stopping.why.is_none() && exit.is_none() => {
                let reason = *asked.borrow();
                if let (Ok(()), Some(reason)) = (changed, reason) {
                    stopping.begin(StopCause::Asked(reason), &guard);
                }
            }
            _ = until(stopping.kill_at), if exit.is_none() => {
                guard.signal(Signal::SIGKILL);
                stopping.kill_at = None;
            }
            _ = flush.tick(), if sink.has_pending() => {
                if lease.flush(sink).await.is_break() {
                    return None;
                }
            }
            news = lease.next() => match news {
                LeaseNews::Renewed { cancel_requested } => {
                    if cancel_requested && stopping.why.is_none() && exit.is_none() {
                        stopping.begin(StopCause::Asked(StopReason::Cancel), &guard);
                    }
                }
                LeaseNews::Gone => return None,
            },
        }
    }
    Some(ended(exit, stopping.why, sink.job.timeout_seconds))
}

/// Starts reading the child's stdout and stderr; the receiver ends when both are closed.
fn read_output(child: &mut JobProcess) -> mpsc::Receiver<PipeItem> {
    let (tx, rx) = mpsc::channel(256);
    if let Some(out) = child.stdout.take() {
        tokio::spawn(read_lines(out, OutputStream::Stdout, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(read_lines(err, OutputStream::Stderr, tx));
    }
    rx
}

/// How the attempt ended. When the runner could not learn the process's status (`wait` failed), the job did not
/// succeed as far as anyone knows: it is `lost`, with the reason.
fn ended(exit: Option<std::io::Result<ExitStatus>>, stop: Option<StopCause>, timeout: Option<i64>) -> Finish {
    match exit {
        Some(Ok(status)) => describe(status, stop, timeout),
        Some(Err(e)) => Finish::without_exit(Outcome::Lost, &format!("cannot tell how the process ended: {e}")),
        None => Finish::without_exit(Outcome::Lost, "the process was never waited for"),
    }
}

/// Stopping the process ourselves: why, and when TERM turns into KILL.
struct Stopping {
    why: Option<StopCause>,
    kill_at: Option<Instant>,
    grace: Duration,
}

impl Stopping {
    /// TERM to the group now, KILL after the grace.
    fn begin(&mut self, why: StopCause, guard: &GroupGuard) {
        self.why = Some(why);
        guard.signal(Signal::SIGTERM);
        self.kill_at = Some(Instant::now() + self.grace);
    }
}

pub(super) async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// How a job that we stopped ended.
pub(super) fn stopped(why: StopCause, timeout: Option<i64>) -> Finish {
    match why {
        StopCause::Timeout => {
            Finish::without_exit(Outcome::Timeout, &format!("timed out after {} s", timeout.unwrap_or(0)))
        }
        StopCause::Asked(StopReason::Cancel) => Finish::without_exit(Outcome::Canceled, "canceled"),
        StopCause::Asked(StopReason::Interrupt) => {
            Finish::without_exit(Outcome::Interrupted, "interrupted: the server was stopped while the job ran")
        }
    }
}

fn describe(status: ExitStatus, stop: Option<StopCause>, timeout: Option<i64>) -> Finish {
    let exit_code = status.code();
    let signal = status.signal();
    if let Some(why) = stop {
        return Finish { exit_code, signal, ..stopped(why, timeout) };
    }
    let (outcome, error) = match (exit_code, signal) {
        (Some(0), _) => (Outcome::Success, None),
        (Some(code), _) => (Outcome::ExitCode, Some(format!("exited with code {code}"))),
        (None, Some(sig)) => {
            let name = Signal::try_from(sig).map(|s| s.as_str()).unwrap_or("unknown");
            (Outcome::Signal, Some(format!("killed by signal {sig} ({name})")))
        }
        (None, None) => (Outcome::Signal, Some("ended without an exit code".to_string())),
    };
    Finish { outcome, exit_code, signal, error }
}

/// Records the files the attempt left, retrying a few times while the database refuses the write; if it keeps
/// refusing, the job's log says so (the kept bytes stay in the artifact store; retention removes them with the job).
async fn record_artifacts(inner: &Inner, job: &Job, found: &[crate::domain::JobArtifact]) {
    let mut delay = Duration::from_millis(100);
    for tries in 1..=5 {
        match inner.store.job_artifacts().record(found).await {
            Ok(()) => return,
            Err(err) if tries == 5 => {
                tracing::error!(job = %job.id, error = %err, files = found.len(), "cannot record the job's artifacts");
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}

/// Stores how the attempt ended, retrying with backoff for as long as the database refuses the write, so that a
/// decision made while writes fail (finished, canceled, timed out) is written once they work again, without a
/// restart. It stops only when the write went through or the job provably is no longer this runner's (someone
/// else rescued it, which their write recorded). Until then the job stays `running` in the store and on its
/// stream: nothing is published before it is stored.
async fn record_finish(sink: &mut Sink, finish: Finish) {
    let mut delay = Duration::from_millis(100);
    let mut failures = 0u32;
    loop {
        match sink.finish(finish.clone()).await {
            Ok(Recorded::Stored) => {
                if failures > 0 {
                    tracing::info!(job = %sink.job.id, failures, "stored the job's result after the database came back");
                }
                return;
            }
            Ok(Recorded::Taken) => {
                tracing::warn!(job = %sink.job.id, "job was taken from this runner; its result is discarded");
                return;
            }
            Ok(Recorded::Refused(illegal)) => {
                tracing::error!(job = %sink.job.id, error = %illegal, "the job's result cannot be recorded");
                return;
            }
            Err(err) => {
                if err.fault() == Some(crate::store::Fault::Full) {
                    sink.shed_output();
                }
                failures += 1;
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(job = %sink.job.id, error = %err, failures, "cannot store the job's result yet; will retry");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_wait_is_no_success() {
        let lost = ended(Some(Err(std::io::Error::other("ECHILD"))), None, None);
        assert_eq!((lost.outcome, lost.exit_code), (Outcome::Lost, None));
        assert!(lost.error.is_some_and(|e| e.contains("ECHILD")));
        assert_eq!(ended(Some(Ok(ExitStatus::from_raw(0))), None, None).outcome, Outcome::Success);
    }
}
