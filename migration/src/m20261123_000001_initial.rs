//! Tasks, jobs and the job event log.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    Name,
    Command,
    Enabled,
    Params,
    Env,
    Cwd,
    TimeoutSeconds,
    Tags,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    TaskId,
    Status,
    Outcome,
    Attempt,
    Argv,
    Env,
    Cwd,
    TimeoutSeconds,
    SubmittedAt,
    RunAt,
    StartedAt,
    FinishedAt,
    ExitCode,
    Signal,
    Error,
    StdoutBytes,
    StderrBytes,
    StdoutLines,
    StderrLines,
    DroppedLines,
    DroppedBytes,
    LastSeq,
    NodeId,
    LeaseExpiresAt,
}

#[derive(DeriveIden)]
enum JobEvents {
    Table,
    JobId,
    Seq,
    Kind,
    Data,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .if_not_exists()
                    .col(string_len(Tasks::Id, 26).primary_key())
                    .col(string_len_null(Tasks::Name, 64).unique_key())
                    .col(text(Tasks::Command))
                    .col(boolean(Tasks::Enabled))
                    .col(text(Tasks::Params))
                    .col(text(Tasks::Env))
                    .col(text_null(Tasks::Cwd))
                    .col(big_integer_null(Tasks::TimeoutSeconds))
                    .col(text(Tasks::Tags))
                    .col(big_integer(Tasks::CreatedAt))
                    .col(big_integer(Tasks::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Jobs::Table)
                    .if_not_exists()
                    .col(string_len(Jobs::Id, 26).primary_key())
                    .col(string_len(Jobs::TaskId, 26))
                    .col(string_len(Jobs::Status, 16))
                    .col(string_len_null(Jobs::Outcome, 16))
                    .col(integer(Jobs::Attempt))
                    .col(text(Jobs::Argv))
                    .col(text(Jobs::Env))
                    .col(text_null(Jobs::Cwd))
                    .col(big_integer_null(Jobs::TimeoutSeconds))
                    .col(big_integer(Jobs::SubmittedAt))
                    .col(big_integer(Jobs::RunAt))
                    .col(big_integer_null(Jobs::StartedAt))
                    .col(big_integer_null(Jobs::FinishedAt))
                    .col(integer_null(Jobs::ExitCode))
                    .col(integer_null(Jobs::Signal))
                    .col(text_null(Jobs::Error))
                    .col(big_integer(Jobs::StdoutBytes))
                    .col(big_integer(Jobs::StderrBytes))
                    .col(big_integer(Jobs::StdoutLines))
                    .col(big_integer(Jobs::StderrLines))
                    .col(big_integer(Jobs::DroppedLines))
                    .col(big_integer(Jobs::DroppedBytes))
                    .col(big_integer(Jobs::LastSeq))
                    .col(string_len_null(Jobs::NodeId, 26))
                    .col(big_integer_null(Jobs::LeaseExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("jobs_task_id").table(Jobs::Table).col(Jobs::TaskId).col(Jobs::Id).to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("jobs_status").table(Jobs::Table).col(Jobs::Status).col(Jobs::Id).to_owned(),
            )
            .await?;
        // The claim query reads only due pending jobs: a partial index keeps it fast however many finished jobs
        // the table holds. The same statement works on SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS jobs_pending_due ON jobs (run_at, id) WHERE status = 'pending'",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(JobEvents::Table)
                    .if_not_exists()
                    .col(string_len(JobEvents::JobId, 26))
                    .col(big_integer(JobEvents::Seq))
                    .col(string_len(JobEvents::Kind, 16))
                    .col(text(JobEvents::Data))
                    .col(big_integer(JobEvents::At))
                    .primary_key(Index::create().col(JobEvents::JobId).col(JobEvents::Seq))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["job_events", "jobs", "tasks"] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
