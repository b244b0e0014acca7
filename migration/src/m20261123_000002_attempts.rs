//! Retry policies, progress, idempotency keys and stored-output accounting.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Retry,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    TaskId,
    Retry,
    Progress,
    IdempotencyKey,
    StoredBytes,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        let add = |table: TableRef, column: ColumnDef| Table::alter().table(table).add_column(column).to_owned();
        manager.alter_table(add(Tasks::Table.into_table_ref(), text_null(Tasks::Retry))).await?;
        manager.alter_table(add(Jobs::Table.into_table_ref(), text_null(Jobs::Retry))).await?;
        manager.alter_table(add(Jobs::Table.into_table_ref(), text_null(Jobs::Progress))).await?;
        manager.alter_table(add(Jobs::Table.into_table_ref(), string_len_null(Jobs::IdempotencyKey, 255))).await?;
        manager
            .alter_table(add(Jobs::Table.into_table_ref(), big_integer(Jobs::StoredBytes).default(0).to_owned()))
            .await?;
        // One job per task and key; several NULL keys are fine on both backends.
        manager
            .create_index(
                Index::create()
                    .name("jobs_idempotency")
                    .table(Jobs::Table)
                    .col(Jobs::TaskId)
                    .col(Jobs::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Retention walks finished jobs oldest first.
        manager
            .create_index(Index::create().name("jobs_finished_at").table(Jobs::Table).col(Jobs::FinishedAt).to_owned())
            .await?;
        // The reaper reads only running jobs.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS jobs_running_lease ON jobs (lease_expires_at) WHERE status = 'running'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in ["jobs_running_lease", "jobs_finished_at", "jobs_idempotency"] {
            manager.drop_index(Index::drop().name(index).table(Jobs::Table).to_owned()).await?;
        }
        for column in [Jobs::StoredBytes, Jobs::IdempotencyKey, Jobs::Progress, Jobs::Retry] {
            manager.alter_table(Table::alter().table(Jobs::Table).drop_column(column).to_owned()).await?;
        }
        manager.alter_table(Table::alter().table(Tasks::Table).drop_column(Tasks::Retry).to_owned()).await?;
        Ok(())
    }
}
