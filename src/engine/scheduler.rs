//! Schedules: makes the job of each due fire of a task's schedule, on every node at once without a leader. The
//! job is inserted under a unique key (task, fire), so one fire makes one job however many nodes fire it and
//! however often they restart; a node that finds the key taken just moves on. Times come from the engine's clock
//! (the database's, on PostgreSQL).
//!
//! What one fire does is decided by [`plan`], a plain function of the task and the time, so its rules are tested
//! with chosen times rather than by waiting.
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{EngineError, Inner};
use crate::domain::schedule::{Missed, Overlap};
use crate::domain::{CommandLine, Job, Params, Schedule, Task};
use crate::store::Created;
use crate::wire::state_event;

/// Tasks fired per pass.
const BATCH: u64 = 100;
/// The longest the scheduler sleeps: how soon it sees a task that another node created or edited.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Fires of one task made in one pass at most (a schedule of every second, after a pause of the scheduler).
const MAX_CATCH_UP: usize = 60;

/// What to do with a task whose next fire (`due`) is at or before `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The fires to make a job for, oldest first.
    pub fires: Vec<i64>,
    /// What the task's next fire becomes; `None`: stay at `due` (a queued fire waits for the earlier job).
    pub next: Option<Option<i64>>,
}

/// The rules of one pass over a due task. Each fire since `due` that is on time (at most `grace` old) makes a job
/// (the newest [`MAX_CATCH_UP`]); late fires make none, except that with `missed: once` and no fire on time, the
/// latest fire runs for all of them. With `overlap: skip`, nothing runs while an earlier job is `active` and
/// otherwise only the latest fire; with `queue`, the latest fire waits for the earlier job and then runs, late
/// or not.
pub(crate) fn plan(schedule: &Schedule, due: i64, now: i64, grace: i64, active: bool) -> Plan {
    let latest = schedule.latest_at_or_before(now).unwrap_or(due).max(due);
    let next = Some(schedule.first_after(now));
    let mut on_time = Vec::new();
    let mut at = schedule.first_after(due.max(now - grace) - 1);
    while let Some(fire) = at.filter(|f| *f <= now) {
        on_time.push(fire);
        at = schedule.first_after(fire);
    }
    let keep = on_time.len().saturating_sub(MAX_CATCH_UP);
    on_time.drain(..keep);
    match (schedule.overlap(), active) {
        (Overlap::Queue, true) => Plan { fires: Vec::new(), next: None },
        (Overlap::Queue, false) => Plan { fires: vec![latest], next },
        (Overlap::Skip, true) => Plan { fires: Vec::new(), next },
        (Overlap::Skip, false) => Plan { fires: on_time.pop().into_iter().collect(), next },
        (Overlap::Allow, _) if on_time.is_empty() && schedule.missed() == Missed::Once => {
            Plan { fires: vec![latest], next }
        }
        (Overlap::Allow, _) => Plan { fires: on_time, next },
    }
}

/// The scheduler's loop: fire what is due, then sleep until the next fire (at most [`MAX_SLEEP`]); every half
/// grace period, look for overdue fires.
pub(super) async fn run(inner: Arc<Inner>) {
    let mut stopping = inner.stopping.subscribe();
    let engine = super::Engine { inner: inner.clone() };
    let overdue_every = (inner.config.overdue_grace / 2).max(MAX_SLEEP);
    let mut overdue_checked = Instant::now();
    loop {
        let now = inner.now();
        if let Err(err) = fire_due(&inner, now).await {
            tracing::warn!(error = %err, "cannot fire due schedules; will retry");
        }
        if overdue_checked.elapsed() >= overdue_every {
            overdue_checked = Instant::now();
            if let Err(err) = engine.find_overdue().await {
                tracing::warn!(error = %err, "cannot look for overdue fires; will retry");
            }
        }
        let wait = match inner.store.schedules().next_after(inner.now()).await {
            Ok(Some(next)) => Duration::from_millis((next - inner.now()).clamp(0, MAX_SLEEP.as_millis() as i64) as u64),
            _ => MAX_SLEEP,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

/// Makes the jobs of the fires due at `now`. Returns how many jobs it made.
pub(crate) async fn fire_due(inner: &Inner, now: i64) -> Result<usize, EngineError> {
    let store = &inner.store;
    let grace = inner.config.overdue_grace.as_millis() as i64;
    let mut made = 0;
    for task in store.schedules().due(now, BATCH).await? {
        let (Some(schedule), Some(due)) = (&task.spec.schedule, task.next_run_at) else { continue };
        let active = schedule.overlap() != Overlap::Allow && store.schedules().active(task.id).await?;
        let plan = plan(schedule, due, now, grace, active);
        for fire in plan.fires {
            made += usize::from(make_job(inner, &task, fire, now).await?);
        }
        if let Some(next) = plan.next {
            store.schedules().advance(task.id, due, next).await?;
        }
    }
    Ok(made)
}

/// The job of `task`'s fire at `fire`, with the task's own parameters. Whether it is new (another node may have
/// made it first). A task that cannot run here any more makes no job (the orphan report names it).
async fn make_job(inner: &Inner, task: &Task, fire: i64, now: i64) -> Result<bool, EngineError> {
    let argv = match argv(inner, task) {
        Ok(argv) => argv,
        Err(err) => {
            tracing::warn!(task = %task.id, error = %err, "a scheduled task cannot run: no job made for its fire");
            return Ok(false);
        }
    };
    let job = Job::scheduled(task, argv, now, fire);
    match inner.store.jobs().create(&job, &[state_event(&job, now)], now).await? {
        Created::New => {
            inner.queued(job.run_at);
            Ok(true)
        }
        Created::Existing(_) => Ok(false),
    }
}

fn argv(inner: &Inner, task: &Task) -> Result<Vec<String>, EngineError> {
    let cmd = CommandLine::parse(&task.spec.command)?;
    inner.programs.check(&cmd)?;
    inner.env_policy.check(&task.spec.env)?;
    let params = task.spec.params_for(&Params::default()).map_err(EngineError::Params)?;
    Ok(cmd.render(&params, &task.spec.option_params)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ScheduleSpec;

    const SECOND: i64 = 1000;
    const GRACE: i64 = 60 * SECOND;
    /// 2026-01-01T00:00:00Z.
    const T0: i64 = 1_767_225_600_000;

    fn every_minute(overlap: Overlap, missed: Missed) -> Schedule {
        Schedule::parse(ScheduleSpec { cron: "* * * * *".into(), timezone: "UTC".into(), overlap, missed }).unwrap()
    }

    #[test]
    fn a_fire_on_time_runs_and_the_next_is_the_one_after_now() {
        let s = every_minute(Overlap::Allow, Missed::Skip);
        let p = plan(&s, T0, T0 + 300, GRACE, false);
        assert_eq!(p, Plan { fires: vec![T0], next: Some(Some(T0 + 60 * SECOND)) });
    }

    #[test]
    fn after_downtime_skip_drops_a_late_fire_and_once_runs_the_latest() {
        const HOUR: i64 = 3600 * SECOND;
        let hourly = |missed| {
            let spec = ScheduleSpec { cron: "@hourly".into(), timezone: "UTC".into(), overlap: Overlap::Allow, missed };
            Schedule::parse(spec).unwrap()
        };
        // Down from before the fire at 01:00 until 05:00:30: the fire at 05:00 is on time and stands for all.
        let back = T0 + 5 * HOUR + 30 * SECOND;
        let skip = plan(&hourly(Missed::Skip), T0 + HOUR, back, GRACE, false);
        assert_eq!(skip, Plan { fires: vec![T0 + 5 * HOUR], next: Some(Some(T0 + 6 * HOUR)) });
        // Back at 05:30: even the latest fire is late.
        let back = T0 + 5 * HOUR + 30 * 60 * SECOND;
        let skip = plan(&hourly(Missed::Skip), T0 + HOUR, back, GRACE, false);
        assert_eq!(skip, Plan { fires: vec![], next: Some(Some(T0 + 6 * HOUR)) }, "skip: dropped, on to the next");
        let once = plan(&hourly(Missed::Once), T0 + HOUR, back, GRACE, false);
        assert_eq!(once.fires, [T0 + 5 * HOUR], "once: one job stands for all the missed fires");
    }

    #[test]
    fn overlap_skip_drops_the_fire_and_queue_makes_it_wait() {
        let now = T0 + SECOND;
        let skip = plan(&every_minute(Overlap::Skip, Missed::Skip), T0, now, GRACE, true);
        assert_eq!(skip, Plan { fires: vec![], next: Some(Some(T0 + 60 * SECOND)) });
        let queued = plan(&every_minute(Overlap::Queue, Missed::Skip), T0, now, GRACE, true);
        assert_eq!(queued, Plan { fires: vec![], next: None }, "the fire waits: the next fire stays where it is");
        // The earlier job ended two minutes later: the waiting fire runs as the latest one, late or not.
        let later = T0 + 2 * 60 * SECOND + 5 * SECOND;
        let ran = plan(&every_minute(Overlap::Queue, Missed::Skip), T0, later, GRACE, false);
        assert_eq!(ran.fires, [T0 + 2 * 60 * SECOND]);
        assert_eq!(plan(&every_minute(Overlap::Skip, Missed::Skip), T0, now, GRACE, false).fires, [T0]);
    }

    #[test]
    fn a_late_pass_makes_every_fire_still_on_time() {
        let every_second = Schedule::parse(ScheduleSpec {
            cron: "* * * * * *".into(),
            timezone: "UTC".into(),
            overlap: Overlap::Allow,
            missed: Missed::Skip,
        })
        .unwrap();
        // The pass comes 3.5 s after the due fire: all four fires since are on time and each makes its job.
        let p = plan(&every_second, T0, T0 + 3500, GRACE, false);
        assert_eq!(p.fires, [T0, T0 + SECOND, T0 + 2 * SECOND, T0 + 3 * SECOND]);
        assert_eq!(p.next, Some(Some(T0 + 4 * SECOND)));
        // Two minutes late: only the fires within the grace period, at most MAX_CATCH_UP of them.
        let p = plan(&every_second, T0, T0 + 120 * SECOND, GRACE, false);
        assert_eq!(p.fires.len(), MAX_CATCH_UP);
        assert_eq!(p.fires.last(), Some(&(T0 + 120 * SECOND)));
    }
}
