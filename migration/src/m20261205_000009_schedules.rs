//! Schedules: a task's schedule and its next fire; a job's trigger and the fire it runs for, unique per task, so
//! that however many nodes fire a schedule, one fire makes one job.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Schedule,
    NextRunAt,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    TaskId,
    Trigger,
    ScheduledFor,
}

const ONE_JOB_PER_FIRE: &str = "jobs_task_scheduled_for";
const DUE_TASKS: &str = "tasks_next_run_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Tasks::Table).add_column(text_null(Tasks::Schedule)).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(Tasks::Table).add_column(big_integer_null(Tasks::NextRunAt)).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter().table(Jobs::Table).add_column(string_len(Jobs::Trigger, 16).default("api")).to_owned(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table(Jobs::Table).add_column(big_integer_null(Jobs::ScheduledFor)).to_owned())
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(ONE_JOB_PER_FIRE)
                    .table(Jobs::Table)
                    .col(Jobs::TaskId)
                    .col(Jobs::ScheduledFor)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager.create_index(Index::create().name(DUE_TASKS).table(Tasks::Table).col(Tasks::NextRunAt).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(DUE_TASKS).table(Tasks::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name(ONE_JOB_PER_FIRE).table(Jobs::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Jobs::Table).drop_column(Jobs::ScheduledFor).to_owned()).await?;
        manager.alter_table(Table::alter().table(Jobs::Table).drop_column(Jobs::Trigger).to_owned()).await?;
        manager.alter_table(Table::alter().table(Tasks::Table).drop_column(Tasks::NextRunAt).to_owned()).await?;
        manager.alter_table(Table::alter().table(Tasks::Table).drop_column(Tasks::Schedule).to_owned()).await
    }
}
