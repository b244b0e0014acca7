//! The `job_artifacts` table: the files each job attempt left, kept or dropped. The bytes are not here: they are
//! in the artifact object store (the engine's), under each row's `object_key`.
use entity::job_artifact;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Conns, StoreResult};
use crate::domain::{JobArtifact, JobId};

/// Rows per insert statement.
const INSERT_CHUNK: usize = 200;

pub struct JobArtifactsStore<'a> {
    db: Conns<'a>,
}

fn from_row(m: job_artifact::Model) -> JobArtifact {
    JobArtifact {
        job_id: m.job_id,
        attempt: m.attempt,
        name: m.name,
        size: m.size_bytes,
        content_type: m.content_type,
        sha256: m.sha256,
        dropped: m.dropped.map(Into::into),
        detail: m.detail,
        object_key: m.object_key,
        created_at: m.created_at,
    }
}

fn to_row(a: &JobArtifact) -> job_artifact::ActiveModel {
    use sea_orm::ActiveValue::Set;
    job_artifact::ActiveModel {
        job_id: Set(a.job_id),
        attempt: Set(a.attempt),
        name: Set(a.name.clone()),
        size_bytes: Set(a.size),
        content_type: Set(a.content_type.clone()),
        sha256: Set(a.sha256.clone()),
        dropped: Set(a.dropped.map(Into::into)),
        detail: Set(a.detail.clone()),
        object_key: Set(a.object_key.clone()),
        created_at: Set(a.created_at),
    }
}

impl<'a> JobArtifactsStore<'a> {
    pub(super) fn new(db: Conns<'a>) -> Self {
        Self { db }
    }

    /// Records what an attempt left. Recording the same attempt's file again changes nothing.
    pub async fn record(&self, artifacts: &[JobArtifact]) -> StoreResult<()> {
        for chunk in artifacts.chunks(INSERT_CHUNK) {
            let conflict = OnConflict::columns([
                job_artifact::Column::JobId,
                job_artifact::Column::Attempt,
                job_artifact::Column::Name,
            ])
            .do_nothing()
            .to_owned();
            let insert = job_artifact::Entity::insert_many(chunk.iter().map(to_row)).on_conflict(conflict);
            self.db.wrote(insert.exec_without_returning(self.db.write).await)?;
        }
        Ok(())
    }

    /// Every file of every attempt of job `id`, by attempt, then name.
    pub async fn of_job(&self, id: JobId) -> StoreResult<Vec<JobArtifact>> {
        let rows = job_artifact::Entity::find()
            .filter(job_artifact::Column::JobId.eq(id))
            .order_by_asc(job_artifact::Column::Attempt)
            .order_by_asc(job_artifact::Column::Name)
            .all(self.db.read)
            .await?;
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// The file named `name` of job `id`'s latest attempt that left one by that name.
    pub async fn latest(&self, id: JobId, name: &str) -> StoreResult<Option<JobArtifact>> {
        let row = job_artifact::Entity::find()
            .filter(job_artifact::Column::JobId.eq(id))
            .filter(job_artifact::Column::Name.eq(name))
            .order_by_desc(job_artifact::Column::Attempt)
            .one(self.db.read)
            .await?;
        Ok(row.map(from_row))
    }

    /// The object-store keys of the kept files of `jobs`.
    pub async fn keys_of(&self, jobs: &[JobId]) -> StoreResult<Vec<String>> {
        let keys: Vec<Option<String>> = job_artifact::Entity::find()
            .select_only()
            .column(job_artifact::Column::ObjectKey)
            .filter(job_artifact::Column::JobId.is_in(jobs.iter().copied()))
            .filter(job_artifact::Column::ObjectKey.is_not_null())
            .into_tuple()
            .all(self.db.read)
            .await?;
        Ok(keys.into_iter().flatten().collect())
    }
}

/// Deletes the rows of `jobs` (in the caller's transaction, with the jobs).
pub(crate) async fn delete<C: ConnectionTrait>(db: &C, jobs: &[JobId]) -> StoreResult<()> {
    job_artifact::Entity::delete_many()
        .filter(job_artifact::Column::JobId.is_in(jobs.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}
