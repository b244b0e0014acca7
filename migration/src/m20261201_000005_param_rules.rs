//! A task's parameter rules: a JSON Schema its parameters must fit, and the parameters whose values may start with
//! '-' (become options).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    ParamsSchema,
    OptionParams,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(Table::alter().table(Tasks::Table).add_column(text_null(Tasks::ParamsSchema)).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter().table(Tasks::Table).add_column(text(Tasks::OptionParams).default("[]")).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Tasks::Table).drop_column(Tasks::OptionParams).to_owned()).await?;
        manager.alter_table(Table::alter().table(Tasks::Table).drop_column(Tasks::ParamsSchema).to_owned()).await
    }
}
