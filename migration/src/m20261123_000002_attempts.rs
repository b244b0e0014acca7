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
    Retry,
    Progress,
    IdempotencyKey,
    StoredBytes,
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
        // One job per task and key. Partial indexes (same statement on SQLite and PostgreSQL) cost nothing for the
        // many rows they do not cover: most jobs have no key, and only finished jobs have a finish time.
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs (task_id, idempotency_key) \
             WHERE idempotency_key IS NOT NULL",
        )
        .await?;
        // Retention walks finished jobs oldest first.
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS jobs_finished_at ON jobs (finished_at) WHERE finished_at IS NOT NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in ["jobs_finished_at", "jobs_idempotency"] {
            manager.drop_index(Index::drop().name(index).table(Jobs::Table).to_owned()).await?;
        }
        for column in [Jobs::StoredBytes, Jobs::IdempotencyKey, Jobs::Progress, Jobs::Retry] {
            manager.alter_table(Table::alter().table(Jobs::Table).drop_column(column).to_owned()).await?;
        }
        manager.alter_table(Table::alter().table(Tasks::Table).drop_column(Tasks::Retry).to_owned()).await?;
        Ok(())
    }
}
