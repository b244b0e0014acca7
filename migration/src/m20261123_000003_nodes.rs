//! The node registry: every server process that ran on this database, with its heartbeat.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Nodes {
    Table,
    Id,
    Address,
    Hostname,
    Pid,
    StartedAt,
    HeartbeatAt,
    StoppedAt,
    Running,
    MaxConcurrency,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Nodes::Table)
                    .if_not_exists()
                    .col(string_len(Nodes::Id, 26).primary_key())
                    .col(text(Nodes::Address))
                    .col(text(Nodes::Hostname))
                    .col(integer(Nodes::Pid))
                    .col(big_integer(Nodes::StartedAt))
                    .col(big_integer(Nodes::HeartbeatAt))
                    .col(big_integer_null(Nodes::StoppedAt))
                    .col(integer(Nodes::Running))
                    .col(integer(Nodes::MaxConcurrency))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("nodes_heartbeat_at").table(Nodes::Table).col(Nodes::HeartbeatAt).to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Nodes::Table).if_exists().to_owned()).await?;
        Ok(())
    }
}
