//! Notifications: a task's own rules (`tasks.notify`, JSON; NULL: none), and the outbox: one row per message to deliver (a job's outcome or an overdue fire, to one channel),
//! written in the transaction that ends the job and deleted by no one but retention. `dedupe_key` is unique, so
//! the same event enqueued twice is one delivery; the partial index keeps the worker's claim of due rows cheap.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Notify,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    DedupeKey,
    JobId,
    TaskId,
    Outcome,
    Channel,
    Status,
    Payload,
    Attempts,
    History,
    LastError,
    CreatedAt,
    NextAttemptAt,
    ClaimToken,
    DeliveredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Tasks::Table).add_column(text_null(Tasks::Notify)).to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .if_not_exists()
                    .col(string_len(Notifications::Id, 26).primary_key())
                    .col(string_len(Notifications::DedupeKey, 200).unique_key())
                    .col(string_len_null(Notifications::JobId, 26))
                    .col(string_len(Notifications::TaskId, 26))
                    .col(string_len(Notifications::Outcome, 16))
                    .col(string_len(Notifications::Channel, 64))
                    .col(string_len(Notifications::Status, 16))
                    .col(text(Notifications::Payload))
                    .col(integer(Notifications::Attempts))
                    .col(text(Notifications::History))
                    .col(text_null(Notifications::LastError))
                    .col(big_integer(Notifications::CreatedAt))
                    .col(big_integer(Notifications::NextAttemptAt))
                    .col(string_len_null(Notifications::ClaimToken, 26))
                    .col(big_integer_null(Notifications::DeliveredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_job")
                    .table(Notifications::Table)
                    .col(Notifications::JobId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        let sql = "CREATE INDEX IF NOT EXISTS idx_notifications_due ON notifications (next_attempt_at) \
                   WHERE status = 'pending'";
        manager.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Notifications::Table).if_exists().to_owned()).await?;
        manager.alter_table(Table::alter().table(Tasks::Table).drop_column(Tasks::Notify).to_owned()).await
    }
}
