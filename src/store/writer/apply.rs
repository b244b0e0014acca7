//! What each write of a group does in the database, and whom it concerns once committed.
use entity::{audit_event, job};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{Applied, JobWrite, Try};
use crate::domain::{Job, JobId, JobStatus};
use crate::store::audit::to_row as audit_row;
use crate::store::convert::job_to_row;
use crate::store::dialect::Notice;
use crate::store::events;
use crate::store::notify::{self, Rules};
use crate::store::{StoreError, StoreResult};

pub(super) async fn apply<C: ConnectionTrait>(
    db: &C,
    rules: &Rules,
    write: &JobWrite,
    attempt: Try,
) -> StoreResult<Applied> {
    match write {
        JobWrite::Audit(entry) => {
            // Ids are new for every entry: if the row is there, the earlier try committed it.
            if attempt == Try::Again && audit_event::Entity::find_by_id(entry.id.clone()).one(db).await?.is_some() {
                return Ok(Applied::Done);
            }
            audit_event::Entity::insert(audit_row(entry)).exec_without_returning(db).await?;
            Ok(Applied::Done)
        }
        JobWrite::Create { job, events, keys_since } => {
            // Ids are new for every job: if the row is there, the earlier try committed it.
            if attempt == Try::Again && job::Entity::find_by_id(job.id).one(db).await?.is_some() {
                return Ok(Applied::Done);
            }
            if let Some(key) = &job.idempotency_key {
                job::Entity::update_many()
                    .col_expr(job::Column::IdempotencyKey, Option::<String>::None.into())
                    .filter(job::Column::TaskId.eq(job.task_id))
                    .filter(job::Column::IdempotencyKey.eq(key))
                    .filter(job::Column::SubmittedAt.lt(*keys_since))
                    .exec(db)
                    .await?;
                let holder = job::Entity::find()
                    .select_only()
                    .column(job::Column::Id)
                    .filter(job::Column::TaskId.eq(job.task_id))
                    .filter(job::Column::IdempotencyKey.eq(key))
                    .into_tuple::<JobId>()
                    .one(db)
                    .await?;
                if let Some(id) = holder {
                    return Ok(Applied::Existing(id));
                }
            }
            if let Some(fire) = job.scheduled_for {
                // One job per task and fire, however many nodes fire it: the unique key decides, and a fire
                // another node made first is answered with its job.
                let one_per_fire =
                    OnConflict::columns([job::Column::TaskId, job::Column::ScheduledFor]).do_nothing().to_owned();
                let inserted = job::Entity::insert(job_to_row(job, None)?)
                    .on_conflict(one_per_fire)
                    .exec_without_returning(db)
                    .await?;
                if inserted == 0 {
                    let holder = job::Entity::find()
                        .select_only()
                        .column(job::Column::Id)
                        .filter(job::Column::TaskId.eq(job.task_id))
                        .filter(job::Column::ScheduledFor.eq(fire))
                        .into_tuple::<JobId>()
                        .one(db)
                        .await?;
                    return holder.map(Applied::Existing).ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "the job of task {} for the fire at {fire} was neither inserted nor found",
                            job.task_id
                        ))
                    });
                }
            } else {
                job::Entity::insert(job_to_row(job, None)?).exec_without_returning(db).await?;
            }
            events::insert(db, events).await?;
            Ok(Applied::Done)
        }
        JobWrite::Save { expected, expected_seq, job, lease_until, events } => {
            let res = job::Entity::update_many()
                .set(job_to_row(job, *lease_until)?)
                .filter(job::Column::Id.eq(job.id))
                .filter(job::Column::Status.eq(job::Status::from(*expected)))
                .filter(job::Column::LastSeq.eq(*expected_seq))
                .exec(db)
                .await?;
            if res.rows_affected == 0 {
                let ours = attempt == Try::Again && stored_as(db, job).await?;
                return Ok(if ours { Applied::Done } else { Applied::Stale });
            }
            events::insert(db, events).await?;
            // The outbox row commits with the job's end, or neither does.
            notify::enqueue_for_move(db, rules, *expected, job, crate::domain::now_ms()).await?;
            Ok(Applied::Done)
        }
    }
}

/// Whether the job's row already is `job` as far as a write of it decides (status, newest event, attempt, end):
/// then an earlier try of this very write committed, and only its answer was lost.
async fn stored_as<C: ConnectionTrait>(db: &C, job: &Job) -> StoreResult<bool> {
    let row = job::Entity::find_by_id(job.id)
        .select_only()
        .columns([job::Column::Status, job::Column::LastSeq, job::Column::Attempt, job::Column::FinishedAt])
        .into_tuple::<(job::Status, i64, i32, Option<i64>)>()
        .one(db)
        .await?;
    Ok(row.is_some_and(|(status, last_seq, attempt, finished_at)| {
        status == job.status.into()
            && last_seq == job.last_seq
            && attempt == job.attempt
            && finished_at == job.finished_at
    }))
}

/// Who should hear of a write that was applied: other nodes' dispatchers when a job became due, their
/// followers when a job has new events.
pub(super) fn signals(write: &JobWrite, out: &mut Vec<Notice>) {
    match write {
        JobWrite::Audit(_) => {}
        JobWrite::Create { job, .. } => {
            out.push(Notice::Queue);
            out.push(Notice::Events(job.id));
        }
        JobWrite::Save { job, events, .. } => {
            if job.status == JobStatus::Pending {
                out.push(Notice::Queue);
            }
            if !events.is_empty() {
                out.push(Notice::Events(job.id));
            }
        }
    }
}
