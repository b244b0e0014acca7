//! `nodes`: the server processes (boots) that used this database, with their heartbeats.
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "nodes")]
pub struct Model {
    /// The boot id (ULID), new at every start; jobs' `node_id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Where the node serves its API.
    pub address: String,
    pub hostname: String,
    pub pid: i32,
    /// Unix milliseconds.
    pub started_at: i64,
    pub heartbeat_at: i64,
    /// Set when the node shut down cleanly.
    pub stopped_at: Option<i64>,
    /// Jobs running on it at its last heartbeat.
    pub running: i32,
    pub max_concurrency: i32,
    /// The node's wall clock minus the database's, in ms, at its last heartbeat (PostgreSQL); null on SQLite.
    pub clock_offset_ms: Option<i64>,
    /// JSON array: the names of the functions this node registers; NULL: none.
    pub functions: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
