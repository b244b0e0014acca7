//! `overdue_fires`: each fire of a schedule that was found overdue, once (so it is told about once).
use sea_orm::entity::prelude::*;
pub use taskyard_ids::TaskId;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "overdue_fires")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub task_id: TaskId,
    /// The fire (Unix ms).
    #[sea_orm(primary_key, auto_increment = false)]
    pub scheduled_for: i64,
    /// When a node found it overdue (Unix ms).
    pub found_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
