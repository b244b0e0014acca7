//! The audit log (`audit_events`: who changed what, when, from where, with what result) and the W3C
//! `traceparent` of the request that started a job (`jobs.traceparent`).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    KeyName,
    RemoteAddr,
    Method,
    Route,
    TargetId,
    Status,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Traceparent,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .if_not_exists()
                    .col(string_len(AuditEvents::Id, 26).primary_key())
                    .col(big_integer(AuditEvents::At))
                    .col(string_len_null(AuditEvents::KeyName, 64))
                    .col(string_len_null(AuditEvents::RemoteAddr, 64))
                    .col(string_len(AuditEvents::Method, 16))
                    .col(string_len(AuditEvents::Route, 256))
                    .col(string_len_null(AuditEvents::TargetId, 64))
                    .col(integer(AuditEvents::Status))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(Jobs::Table).add_column(string_len_null(Jobs::Traceparent, 55)).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Jobs::Table).drop_column(Jobs::Traceparent).to_owned()).await?;
        manager.drop_table(Table::drop().table(AuditEvents::Table).if_exists().to_owned()).await
    }
}
