//! `job_artifacts`: the files a job attempt left in its artifacts directory, one row per file, kept or dropped.
//! A kept file's bytes are in the artifact object store under `object_key`.
use sea_orm::entity::prelude::*;
pub use taskyard_ids::JobId;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_artifacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: JobId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub attempt: i32,
    /// The path relative to the artifacts directory, `/` between directories.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub size_bytes: i64,
    pub content_type: String,
    pub sha256: Option<String>,
    pub dropped: Option<Dropped>,
    pub detail: Option<String>,
    pub object_key: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}

/// Why a file was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum Dropped {
    #[sea_orm(string_value = "too_many_files")]
    TooManyFiles,
    #[sea_orm(string_value = "too_large")]
    TooLarge,
    #[sea_orm(string_value = "not_a_regular_file")]
    NotARegularFile,
    #[sea_orm(string_value = "bad_name")]
    BadName,
    #[sea_orm(string_value = "too_deep")]
    TooDeep,
    #[sea_orm(string_value = "too_many_entries")]
    TooManyEntries,
    #[sea_orm(string_value = "store_failed")]
    StoreFailed,
}
