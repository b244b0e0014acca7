//! Running one claimed job: spawn the argv directly (no shell) in its own process group with stdin closed, stream
//! its output through the [`Sink`], enforce its timeout, honour cancel, and record how it ended.
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until};

use super::Inner;
use super::output::{Piece, Sink, read_lines};
use crate::domain::job::Finish;
use crate::domain::{Job, Outcome, OutputStream, now_ms};

/// How long output may wait in memory before it is written (it is published live at once).
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Kills the whole process group if the runner is dropped before its child was reaped (e.g. at shutdown), so no
/// job's processes outlive it.
struct GroupGuard(Option<i32>);

impl GroupGuard {
    fn signal(&self, sig: Signal) {
        if let Some(pgid) = self.0 {
            let _ = killpg(Pid::from_raw(pgid), sig);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// Why we are stopping the process ourselves.
#[derive(Clone, Copy)]
enum Stop {
    Timeout,
    Cancel,
}

pub(super) async fn run(inner: Arc<Inner>, job: Job, cancel: watch::Receiver<bool>, permit: OwnedSemaphorePermit) {
    let id = job.id;
    let mut sink = Sink::new(inner.clone(), job);
    let finish = match spawn(&inner, &sink.job).await {
        Ok(child) => supervise(&inner, &mut sink, child, cancel).await,
        Err(err) => Some(Finish {
            outcome: Outcome::SpawnError,
            exit_code: None,
            signal: None,
            error: Some(format!("spawn failed: cannot start '{}': {err}", sink.job.argv[0])),
        }),
    };
    if let Some(finish) = finish {
        record_finish(&mut sink, finish).await;
    }
    inner.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    drop(permit);
}

async fn spawn(inner: &Inner, job: &Job) -> std::io::Result<Child> {
    let mut cmd = Command::new(&job.argv[0]);
    cmd.args(&job.argv[1..])
        .env_clear()
        .envs(inner.base_env.iter().cloned())
        .envs(&job.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &job.cwd {
        cmd.current_dir(cwd);
    }
    inner.spawner.spawn(cmd).await
}

/// Drives a running child to its end. Returns how it ended, or `None` when the job was taken from us (then
/// nothing more may be written).
async fn supervise(
    inner: &Inner,
    sink: &mut Sink,
    mut child: Child,
    mut cancel: watch::Receiver<bool>,
) -> Option<Finish> {
    let guard = GroupGuard(child.id().map(|pid| pid as i32));
    let (tx, mut rx) = mpsc::channel(256);
    if let Some(out) = child.stdout.take() {
        tokio::spawn(read_lines(out, OutputStream::Stdout, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(read_lines(err, OutputStream::Stderr, tx.clone()));
    }
    drop(tx);

    let timeout_at = sink.job.timeout_seconds.map(|s| Instant::now() + Duration::from_secs(s.max(0) as u64));
    let grace = inner.config.kill_grace;
    let mut flush = interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut renew = interval(Duration::from_millis((inner.config.lease_ms() / 3).max(1) as u64));
    renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
    renew.reset();

    let mut exit: Option<ExitStatus> = None;
    let mut readers_open = true;
    let mut stop: Option<Stop> = None;
    let mut kill_at: Option<Instant> = None;
    while exit.is_none() || readers_open {
        tokio::select! {
            piece = rx.recv(), if readers_open => match piece {
                Some(Piece::Line { stream, text, bytes }) => {
                    sink.line(stream, text, bytes);
                    if sink.batch_full() && !flush_or_fenced(sink).await {
                        return None;
                    }
                }
                Some(Piece::Closed(stream)) => sink.stream_closed(stream),
                None => readers_open = false,
            },
            status = child.wait(), if exit.is_none() => {
                exit = Some(status.unwrap_or_else(|_| ExitStatus::from_raw(0)));
                // The job is its main process: whatever it left behind in its group goes with it, which also
                // closes the pipes those leftovers held open.
                guard.signal(Signal::SIGKILL);
            }
            _ = until(timeout_at), if stop.is_none() && exit.is_none() => {
                stop = Some(Stop::Timeout);
                guard.signal(Signal::SIGTERM);
                kill_at = Some(Instant::now() + grace);
            }
            changed = cancel.changed(), if stop.is_none() && exit.is_none() => {
                if changed.is_ok() && *cancel.borrow() {
                    stop = Some(Stop::Cancel);
                    guard.signal(Signal::SIGTERM);
                    kill_at = Some(Instant::now() + grace);
                }
            }
            _ = until(kill_at), if exit.is_none() => {
                guard.signal(Signal::SIGKILL);
                kill_at = None;
            }
            _ = flush.tick(), if sink.has_pending() => {
                if !flush_or_fenced(sink).await {
                    return None;
                }
            }
            _ = renew.tick() => {
                let until = now_ms() + inner.config.lease_ms();
                match inner.store.jobs().renew_lease(sink.job.id, &inner.node_id, until).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(job = %sink.job.id, "job was taken from this runner; killing its processes");
                        return None;
                    }
                    Err(err) => tracing::warn!(job = %sink.job.id, error = %err, "cannot renew the job's lease"),
                }
            }
        }
    }
    let status = exit.unwrap_or_else(|| ExitStatus::from_raw(0));
    Some(describe(status, stop, sink.job.timeout_seconds))
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Flushes; false when the job is no longer ours. A database error keeps the batch for the next try.
async fn flush_or_fenced(sink: &mut Sink) -> bool {
    match sink.flush().await {
        Ok(ours) => {
            if !ours {
                tracing::warn!(job = %sink.job.id, "job was taken from this runner; killing its processes");
            }
            ours
        }
        Err(err) => {
            tracing::warn!(job = %sink.job.id, error = %err, "cannot store output yet; will retry");
            true
        }
    }
}

fn describe(status: ExitStatus, stop: Option<Stop>, timeout: Option<i64>) -> Finish {
    let exit_code = status.code();
    let signal = status.signal();
    let (outcome, error) = match (stop, exit_code, signal) {
        (Some(Stop::Timeout), ..) => (Outcome::Timeout, Some(format!("timed out after {} s", timeout.unwrap_or(0)))),
        (Some(Stop::Cancel), ..) => (Outcome::Canceled, Some("canceled".to_string())),
        (None, Some(0), _) => (Outcome::Success, None),
        (None, Some(code), _) => (Outcome::ExitCode, Some(format!("exited with code {code}"))),
        (None, None, Some(sig)) => {
            let name = Signal::try_from(sig).map(|s| s.as_str()).unwrap_or("unknown");
            (Outcome::Signal, Some(format!("killed by signal {sig} ({name})")))
        }
        (None, None, None) => (Outcome::Signal, Some("ended without an exit code".to_string())),
    };
    Finish { outcome, exit_code, signal, error }
}

/// Stores the final state, retrying a few times while the database is unavailable. If it never comes back, the
/// job stays `running` and is rescued as lost at the next start.
async fn record_finish(sink: &mut Sink, finish: Finish) {
    let mut delay = Duration::from_millis(100);
    for _ in 0..8 {
        match sink.finish(finish.clone()).await {
            Ok(true) => return,
            Ok(false) => {
                tracing::warn!(job = %sink.job.id, "job was taken from this runner; its result is discarded");
                return;
            }
            Err(err) => {
                tracing::warn!(job = %sink.job.id, error = %err, "cannot store the job's result yet; will retry");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    tracing::error!(job = %sink.job.id, "gave up storing the job's result; it will show as lost after a restart");
}
