//! `audit_events`: one row per changing request (and per request refused for its key), newest id last.
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// A ULID: sorts by time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Unix milliseconds.
    pub at: i64,
    /// The name of the key the request presented; null without keys or with a key that is not valid.
    pub key_name: Option<String>,
    pub remote_addr: Option<String>,
    pub method: String,
    /// The route's template (`/api/v1/tasks/{id}`), or the path of an unknown route.
    pub route: String,
    /// The `{id}` of the route, when it has one.
    pub target_id: Option<String>,
    /// The HTTP status of the answer.
    pub status: i32,
}

impl ActiveModelBehavior for ActiveModel {}
