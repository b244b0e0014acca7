//! Each node's clock offset from the database's, so that `GET /api/v1/nodes` shows a node whose clock is off.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Nodes {
    Table,
    ClockOffsetMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Nodes::Table).add_column(big_integer_null(Nodes::ClockOffsetMs)).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Nodes::Table).drop_column(Nodes::ClockOffsetMs).to_owned()).await
    }
}
