//! Sandboxed tasks: the task's sandbox, and the job's copy of it (a queued job runs as it was submitted).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Sandbox,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Sandbox,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Tasks::Table).add_column(text_null(Tasks::Sandbox)).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(Jobs::Table).add_column(text_null(Jobs::Sandbox)).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Jobs::Table).drop_column(Jobs::Sandbox).to_owned()).await?;
        manager.alter_table(Table::alter().table(Tasks::Table).drop_column(Tasks::Sandbox).to_owned()).await
    }
}
