//! The `job_events` and `job_output` tables: a job's event log as stored. Output lines go in runs
//! ([`super::runs`]), every other event (state, progress, retry, truncated) is a row of `job_events`; lines stored
//! before runs existed are `job_events` rows too and read the same. Reading after a seq merges both by seq.
use entity::{job_event, job_output};
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IsolationLevel, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

use super::convert::{event_from_row, event_to_row};
use super::{Backend, StoreResult, runs};
use crate::domain::{EventKind, JobEvent, JobId, OutputStream};

/// Rows per multi-row INSERT: well under SQLite's limit on bound variables.
const INSERT_CHUNK: usize = 1000;
/// Runs read per query while gathering lines.
const RUNS_PER_READ: u64 = 8;

/// Stores `events` of one job write.
pub(crate) async fn insert<C: ConnectionTrait>(db: &C, events: &[JobEvent]) -> StoreResult<()> {
    let split = runs::split(events);
    for chunk in split.rows.chunks(INSERT_CHUNK) {
        job_event::Entity::insert_many(chunk.iter().map(|e| event_to_row(e))).exec_without_returning(db).await?;
    }
    let mut runs = split.runs.into_iter().peekable();
    while runs.peek().is_some() {
        job_output::Entity::insert_many(runs.by_ref().take(INSERT_CHUNK)).exec_without_returning(db).await?;
    }
    Ok(())
}

/// Deletes the events of `jobs`.
pub(crate) async fn delete<C: ConnectionTrait>(db: &C, jobs: &[JobId]) -> StoreResult<()> {
    job_event::Entity::delete_many().filter(job_event::Column::JobId.is_in(jobs.iter().copied())).exec(db).await?;
    job_output::Entity::delete_many().filter(job_output::Column::JobId.is_in(jobs.iter().copied())).exec(db).await?;
    Ok(())
}

/// Events of a job with `seq > after_seq`, oldest first, at most `limit`, of the given kinds (all if empty). Both
/// tables are read in one snapshot, so that a write committed in between cannot leave a gap in what is returned.
pub(crate) async fn after(
    db: &DatabaseConnection,
    backend: Backend,
    id: JobId,
    after_seq: i64,
    limit: u64,
    kinds: &[EventKind],
) -> StoreResult<Vec<JobEvent>> {
    let txn = match backend {
        Backend::Postgres => {
            db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await?
        }
        // A read transaction on SQLite (WAL) sees one snapshot already.
        Backend::Sqlite => db.begin().await?,
    };
    let mut q =
        job_event::Entity::find().filter(job_event::Column::JobId.eq(id)).filter(job_event::Column::Seq.gt(after_seq));
    if !kinds.is_empty() {
        q = q.filter(job_event::Column::Kind.is_in(kinds.iter().map(|k| job_event::Kind::from(*k))));
    }
    let rows = q.order_by_asc(job_event::Column::Seq).limit(limit).all(&txn).await?;
    let mut events = rows.into_iter().map(event_from_row).collect::<StoreResult<Vec<_>>>()?;
    let streams: Vec<job_output::Stream> = [OutputStream::Stdout, OutputStream::Stderr]
        .into_iter()
        .filter(|s| kinds.is_empty() || kinds.contains(&s.kind()))
        .map(Into::into)
        .collect();
    if !streams.is_empty() {
        // Lines after the `limit`-th other event cannot be among the first `limit` events.
        let until = events.last().filter(|_| events.len() as u64 == limit).map(|e| e.seq);
        events.extend(lines_after(&txn, id, after_seq, limit, &streams, until).await?);
        events.sort_unstable_by_key(|e| e.seq);
        events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    txn.commit().await?;
    Ok(events)
}

/// Output lines of `streams` with `after_seq < seq` (and `seq <= until`, if given), oldest first, at most `limit`:
/// the runs that end past `after_seq`, a few at a time, unpacked and cut.
async fn lines_after<C: ConnectionTrait>(
    db: &C,
    id: JobId,
    after_seq: i64,
    limit: u64,
    streams: &[job_output::Stream],
    until: Option<i64>,
) -> StoreResult<Vec<JobEvent>> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut lines = Vec::new();
    let mut cursor = after_seq;
    loop {
        let mut q = job_output::Entity::find()
            .filter(job_output::Column::JobId.eq(id))
            .filter(job_output::Column::LastSeq.gt(cursor))
            .filter(job_output::Column::Stream.is_in(streams.iter().copied()));
        if let Some(until) = until {
            q = q.filter(job_output::Column::FirstSeq.lte(until));
        }
        let runs = q.order_by_asc(job_output::Column::LastSeq).limit(RUNS_PER_READ).all(db).await?;
        let last_read = (runs.len() as u64) < RUNS_PER_READ;
        for run in runs {
            cursor = run.last_seq;
            lines.extend(runs::unpack(run, after_seq)?);
            if lines.len() >= limit {
                lines.truncate(limit);
                return Ok(lines);
            }
        }
        if last_read {
            return Ok(lines);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventBody, Job, now_ms, testing};

    #[tokio::test]
    async fn lines_stored_one_row_each_read_back_among_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::fault_tests::sqlite_store(dir.path()).await;
        let now = now_ms();
        let job = Job::pending(&testing::task("echo"), vec!["echo".into()], now, now, None);
        store.jobs().create(&job, &[crate::wire::state_event(&job, now)], 0).await.unwrap();
        let line = |seq: i64, body: EventBody| JobEvent { job_id: job.id, seq, body, at: now + seq };
        // As lines were stored before runs: a row of `job_events` each.
        let old = [line(2, EventBody::Stdout("old 2".into())), line(3, EventBody::Stderr("old 3".into()))];
        job_event::Entity::insert_many(old.iter().map(event_to_row))
            .exec_without_returning(&store.write)
            .await
            .unwrap();
        let new = [
            line(4, EventBody::Stdout("new 4".into())),
            line(5, EventBody::Stdout("new 5".into())),
            line(6, EventBody::Progress(r#"{"percent":50.0}"#.into())),
            line(7, EventBody::Stdout("new 7".into())),
        ];
        insert(&store.write, &new).await.unwrap();

        let all = store.jobs().events_after(job.id, 0, 100, &[]).await.unwrap();
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(&all[1..3], &old[..]);
        assert_eq!(&all[3..], &new[..]);
        let page = store.jobs().events_after(job.id, 2, 3, &[EventKind::Stdout]).await.unwrap();
        let lines: Vec<&str> = page.iter().map(JobEvent::data).collect();
        assert_eq!(lines, ["new 4", "new 5", "new 7"]);
        let cut = store.jobs().events_after(job.id, 4, 2, &[]).await.unwrap();
        assert_eq!(cut.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 6], "the limit holds across both tables");
    }
}
