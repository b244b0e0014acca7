//! The files a job's attempts left in their artifacts directory (`job_artifacts`): one row per file found, kept or
//! dropped. The bytes of a kept file live in the artifact object store under `object_key`; the row is what the
//! API lists, and it is deleted with its job. Also an index for the task list filtered by `enabled`, paged by id.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum JobArtifacts {
    Table,
    JobId,
    Attempt,
    Name,
    SizeBytes,
    ContentType,
    Sha256,
    Dropped,
    Detail,
    ObjectKey,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Enabled,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(JobArtifacts::Table)
                    .if_not_exists()
                    .col(string_len(JobArtifacts::JobId, 26))
                    .col(integer(JobArtifacts::Attempt))
                    .col(text(JobArtifacts::Name))
                    .col(big_integer(JobArtifacts::SizeBytes))
                    .col(text(JobArtifacts::ContentType))
                    .col(string_len_null(JobArtifacts::Sha256, 64))
                    .col(string_len_null(JobArtifacts::Dropped, 32))
                    .col(text_null(JobArtifacts::Detail))
                    .col(text_null(JobArtifacts::ObjectKey))
                    .col(big_integer(JobArtifacts::CreatedAt))
                    .primary_key(
                        Index::create().col(JobArtifacts::JobId).col(JobArtifacts::Attempt).col(JobArtifacts::Name),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tasks_enabled")
                    .table(Tasks::Table)
                    .col(Tasks::Enabled)
                    .col(Tasks::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("tasks_enabled").table(Tasks::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(JobArtifacts::Table).if_exists().to_owned()).await
    }
}
