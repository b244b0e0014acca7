//! Overdue fires: each fire of a schedule found overdue, recorded once, so that whatever tells about it (a
//! notification) tells once however many nodes look.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OverdueFires {
    Table,
    TaskId,
    ScheduledFor,
    FoundAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OverdueFires::Table)
                    .if_not_exists()
                    .col(string_len(OverdueFires::TaskId, 26))
                    .col(big_integer(OverdueFires::ScheduledFor))
                    .col(big_integer(OverdueFires::FoundAt))
                    .primary_key(Index::create().col(OverdueFires::TaskId).col(OverdueFires::ScheduledFor))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(OverdueFires::Table).if_exists().to_owned()).await
    }
}
