//! The `nodes` table: the node registry.
use entity::node;
use sea_orm::{ColumnTrait, EntityTrait, Order, QueryFilter};

use super::page::{self, Keyset, Slice};
use super::{Conns, StoreResult};
use crate::domain::Node;

pub struct NodesStore<'a> {
    db: Conns<'a>,
}

fn from_row(m: node::Model) -> Node {
    Node {
        id: m.id,
        address: m.address,
        hostname: m.hostname,
        pid: m.pid,
        started_at: m.started_at,
        heartbeat_at: m.heartbeat_at,
        stopped_at: m.stopped_at,
        running: m.running,
        max_concurrency: m.max_concurrency,
        clock_offset_ms: m.clock_offset_ms,
        // Written by this code only; a list that does not read back is treated as none.
        functions: m.functions.as_deref().and_then(|f| serde_json::from_str(f).ok()).unwrap_or_default(),
    }
}

fn to_row(n: &Node) -> node::ActiveModel {
    use sea_orm::ActiveValue::Set;
    node::ActiveModel {
        id: Set(n.id.clone()),
        address: Set(n.address.clone()),
        hostname: Set(n.hostname.clone()),
        pid: Set(n.pid),
        started_at: Set(n.started_at),
        heartbeat_at: Set(n.heartbeat_at),
        stopped_at: Set(n.stopped_at),
        running: Set(n.running),
        max_concurrency: Set(n.max_concurrency),
        clock_offset_ms: Set(n.clock_offset_ms),
        functions: Set((!n.functions.is_empty()).then(|| serde_json::Value::from(n.functions.clone()).to_string())),
    }
}

impl<'a> NodesStore<'a> {
    pub(super) fn new(db: Conns<'a>) -> Self {
        Self { db }
    }

    pub async fn register(&self, node: &Node) -> StoreResult<()> {
        self.db.wrote(node::Entity::insert(to_row(node)).exec_without_returning(self.db.write).await)?;
        Ok(())
    }

    /// Records that node `id` is alive with `running` jobs and its clock `clock_offset_ms` off the database's.
    /// False when its row is gone (then register again).
    pub async fn heartbeat(&self, id: &str, now: i64, running: i32, clock_offset_ms: Option<i64>) -> StoreResult<bool> {
        let res = node::Entity::update_many()
            .col_expr(node::Column::HeartbeatAt, now.into())
            .col_expr(node::Column::Running, running.into())
            .col_expr(node::Column::ClockOffsetMs, clock_offset_ms.into())
            .filter(node::Column::Id.eq(id))
            .exec(self.db.write)
            .await;
        Ok(self.db.wrote(res)?.rows_affected == 1)
    }

    pub async fn stopped(&self, id: &str, now: i64) -> StoreResult<()> {
        let res = node::Entity::update_many()
            .col_expr(node::Column::StoppedAt, Some(now).into())
            .col_expr(node::Column::HeartbeatAt, now.into())
            .col_expr(node::Column::Running, 0.into())
            .filter(node::Column::Id.eq(id))
            .exec(self.db.write)
            .await;
        self.db.wrote(res)?;
        Ok(())
    }

    /// Nodes, newest first (their ids are ULIDs made at start), after (older than) the node `req.after`.
    pub async fn after(&self, req: Keyset<String>) -> StoreResult<Slice<Node>> {
        let rows = page::keyset(node::Entity::find(), node::Column::Id, Order::Desc, req, self.db.read).await?;
        Ok(rows.map(from_row))
    }

    /// Forgets nodes whose last heartbeat is older than `before`. Returns how many.
    pub async fn forget(&self, before: i64) -> StoreResult<u64> {
        let res = node::Entity::delete_many().filter(node::Column::HeartbeatAt.lt(before)).exec(self.db.write).await?;
        Ok(res.rows_affected)
    }
}
