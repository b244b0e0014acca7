//! Running one claimed function job: the call of a registered function instead of a process, beside the
//! runner's process path and through the same [`Sink`] and [`Lease`]: what it logs becomes the job's output
//! events, its timeout and a cancel trigger its cancellation token, and a function that ignores the token is ended
//! after the kill grace all the same. A panic fails the job (outcome `panic`); an error fails it (outcome
//! `error`); a value completes it with that value as its result, when the value fits the result bound.
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;

use super::lease::{Lease, LeaseNews};
use super::output::Sink;
use super::runner::{FLUSH_EVERY, StopCause, stopped, until};
use super::{Inner, StopReason};
use crate::domain::Outcome;
use crate::domain::job::Finish;
use crate::functions::{Called, Failure, Invocation, JobContext, Said};

/// Drives a function job's call to its end. Returns how it ended, or `None` when the job was taken from us.
pub(super) async fn supervise(
    inner: &Arc<Inner>,
    sink: &mut Sink,
    mut asked: watch::Receiver<Option<StopReason>>,
) -> Option<Finish> {
    let (tx, mut said) = mpsc::unbounded_channel();
    let token = CancellationToken::new();
    let mut call = match start(inner, &sink.job, token.clone(), tx) {
        Ok(call) => call,
        Err(failure) => return Some(failed(sink, failure)),
    };
    let timeout_at = sink.job.timeout_seconds.map(|s| Instant::now() + Duration::from_secs(s.max(0) as u64));
    let mut flush = interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut lease = Lease::start(inner, &sink.job);
    let mut stop: Option<StopCause> = None;
    let mut give_up_at: Option<Instant> = None;
    let grace = inner.config.kill_grace;
    let begin = |why: StopCause, stop: &mut Option<StopCause>, give_up_at: &mut Option<Instant>| {
        *stop = Some(why);
        token.cancel();
        *give_up_at = Some(Instant::now() + grace);
    };
    // `None`: given up on after it ignored its token.
    let ended: Option<Result<Called, tokio::task::JoinError>> = loop {
        tokio::select! {
            done = &mut call => break Some(done),
            Some(line) = said.recv() => {
                let bytes = line.text.len() as u64 + 1;
                sink.line(line.stream, line.text, bytes);
                if sink.batch_full() && lease.flush(sink).await.is_break() {
                    call.abort();
                    return None;
                }
            }
            _ = until(timeout_at), if stop.is_none() => begin(StopCause::Timeout, &mut stop, &mut give_up_at),
            changed = asked.changed(), if stop.is_none() => {
                let reason = *asked.borrow();
                if let (Ok(()), Some(reason)) = (changed, reason) {
                    begin(StopCause::Asked(reason), &mut stop, &mut give_up_at);
                }
            }
            // It ignored its token: it is ended all the same (an async call is dropped; a blocking one runs on,
            // unheard).
            _ = until(give_up_at) => {
                call.abort();
                break None;
            }
            _ = flush.tick(), if sink.has_pending() => {
                if lease.flush(sink).await.is_break() {
                    call.abort();
                    return None;
                }
            }
            news = lease.next() => match news {
                LeaseNews::Renewed { cancel_requested } => {
                    if cancel_requested && stop.is_none() {
                        begin(StopCause::Asked(StopReason::Cancel), &mut stop, &mut give_up_at);
                    }
                }
                LeaseNews::Gone => {
                    call.abort();
                    return None;
                }
            },
        }
    };
    while let Ok(line) = said.try_recv() {
        let bytes = line.text.len() as u64 + 1;
        sink.line(line.stream, line.text, bytes);
    }
    if let Some(why) = stop {
        return Some(stopped(why, sink.job.timeout_seconds));
    }
    Some(match ended {
        None => Finish::without_exit(Outcome::Lost, "the call was given up on without a stop"),
        Some(Ok(Ok(value))) => completed(inner, sink, value),
        Some(Ok(Err(failure))) => failed(sink, failure),
        Some(Err(join)) if join.is_panic() => failed(sink, Failure::panic(panic_text(join.into_panic()))),
        Some(Err(join)) => failed(sink, Failure::named("aborted", format!("the call was aborted: {join}"))),
    })
}

/// The call, started: on the async workers, or on the blocking pool for a blocking function.
fn start(
    inner: &Inner,
    job: &crate::domain::Job,
    token: CancellationToken,
    tx: mpsc::UnboundedSender<Said>,
) -> Result<JoinHandle<Called>, Failure> {
    let name = job.function.as_deref().unwrap_or_default();
    let Some(function) = inner.functions.get(name) else {
        return Err(Failure::named("unregistered", format!("function '{name}' is not registered on this node")));
    };
    let params = job.params.as_ref().map(|p| p.to_json()).unwrap_or_else(|| serde_json::json!({}));
    let ctx = JobContext::new(job.id, job.attempt, token, tx);
    Ok(match inner.functions.invocation(function, params, ctx)? {
        Invocation::Async(fut) => tokio::spawn(fut),
        Invocation::Blocking(call) => tokio::task::spawn_blocking(call),
    })
}

/// A value: the job completes with it as its result, unless it is larger than the bound (an error, never cut).
fn completed(inner: &Inner, sink: &mut Sink, value: serde_json::Value) -> Finish {
    let size = value.to_string().len() as u64;
    let max = inner.config.result_max_bytes;
    if size > max {
        return failed(sink, Failure::named("result_too_large", format!("the result is {size} bytes; at most {max}")));
    }
    sink.job.result = Some(value);
    Finish { outcome: Outcome::Success, exit_code: None, signal: None, error: None }
}

fn failed(sink: &mut Sink, failure: Failure) -> Finish {
    sink.job.result = None;
    Finish::without_exit(failure.outcome, &failure.message)
}

fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the function panicked".to_string())
}
