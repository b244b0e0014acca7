//! Registered functions: a task may call one instead of a command; a function job keeps the params it is called
//! with, what it returned and the id of its result record; a node lists the functions it registers.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Function,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Function,
    Params,
    Result,
    ArtifactId,
}

#[derive(DeriveIden)]
enum Nodes {
    Table,
    Functions,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Tasks::Table).add_column(string_len_null(Tasks::Function, 64)).to_owned())
            .await?;
        // SQLite adds one column per statement.
        let jobs = [
            string_len_null(Jobs::Function, 64),
            text_null(Jobs::Params),
            text_null(Jobs::Result),
            string_len_null(Jobs::ArtifactId, 26),
        ];
        for mut column in jobs {
            manager.alter_table(Table::alter().table(Jobs::Table).add_column(&mut column).to_owned()).await?;
        }
        manager
            .create_index(
                Index::create().name("jobs_artifact_id").table(Jobs::Table).col(Jobs::ArtifactId).unique().to_owned(),
            )
            .await?;
        manager.alter_table(Table::alter().table(Nodes::Table).add_column(text_null(Nodes::Functions)).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Nodes::Table).drop_column(Nodes::Functions).to_owned()).await?;
        manager.drop_index(Index::drop().name("jobs_artifact_id").table(Jobs::Table).to_owned()).await?;
        for column in [Jobs::ArtifactId, Jobs::Result, Jobs::Params, Jobs::Function] {
            manager.alter_table(Table::alter().table(Jobs::Table).drop_column(column).to_owned()).await?;
        }
        manager.alter_table(Table::alter().table(Tasks::Table).drop_column(Tasks::Function).to_owned()).await
    }
}
