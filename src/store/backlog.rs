//! The queue's backlog as a scrape sees it: how many pending jobs are due and since when the oldest has waited.
//! One query over the partial index of pending rows (`jobs_pending_due`), so its cost follows the due jobs only,
//! never the finished ones.
use entity::job;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{Store, StoreError, StoreResult};

/// Pending jobs due at a given time, on every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    pub due: i64,
    /// The earliest due time among them (Unix ms), if any.
    pub oldest_run_at: Option<i64>,
}

impl Store {
    /// The pending jobs due at `now` (Unix ms).
    pub async fn backlog(&self, now: i64) -> StoreResult<Backlog> {
        let row = job::Entity::find()
            .select_only()
            .column_as(Expr::cust("COUNT(*)"), "due")
            .column_as(Expr::cust("MIN(run_at)"), "oldest")
            .filter(job::Column::Status.eq(job::Status::Pending))
            .filter(job::Column::RunAt.lte(now))
            .into_tuple::<(i64, Option<i64>)>()
            .one(&self.read)
            .await?;
        // An aggregate without GROUP BY always answers one row.
        let (due, oldest_run_at) =
            row.ok_or_else(|| StoreError::Corrupt("the backlog count returned no row".into()))?;
        Ok(Backlog { due, oldest_run_at })
    }
}
