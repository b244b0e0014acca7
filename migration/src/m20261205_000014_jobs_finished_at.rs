//! An index on `jobs.finished_at`: the count of jobs finished per minute (`GET /api/v1/stats/finished`) reads only
//! the last hour's finished jobs, however many older ones are stored.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Jobs {
    Table,
    FinishedAt,
    Outcome,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("jobs_finished_at")
                    .table(Jobs::Table)
                    .col(Jobs::FinishedAt)
                    .col(Jobs::Outcome)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("jobs_finished_at").table(Jobs::Table).to_owned()).await
    }
}
