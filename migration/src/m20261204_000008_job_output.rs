//! Output lines packed in runs (`job_output`), one row per flushed run of one stream's lines instead of one
//! `job_events` row per line. Lines stored before stay in `job_events` and are read from there. The lines are
//! bytes (`BLOB`, PostgreSQL `bytea`): a line may hold a NUL, which PostgreSQL's text cannot.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum JobOutput {
    Table,
    JobId,
    LastSeq,
    FirstSeq,
    Stream,
    Lines,
    Times,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(JobOutput::Table)
                    .if_not_exists()
                    .col(string_len(JobOutput::JobId, 26))
                    .col(big_integer(JobOutput::LastSeq))
                    .col(big_integer(JobOutput::FirstSeq))
                    .col(string_len(JobOutput::Stream, 16))
                    .col(blob(JobOutput::Lines))
                    .col(text(JobOutput::Times))
                    .primary_key(Index::create().col(JobOutput::JobId).col(JobOutput::LastSeq))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(JobOutput::Table).if_exists().to_owned()).await
    }
}
