//! Counts over the `jobs` table for the overview: jobs finished per minute by outcome.
use entity::job;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{Conns, StoreResult};
use crate::domain::Outcome;

const MINUTE_MS: i64 = 60_000;

/// Jobs that finished in one minute with one outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedCount {
    /// The minute's start, Unix ms.
    pub minute: i64,
    pub outcome: Outcome,
    pub count: i64,
}

pub struct StatsStore<'a> {
    db: Conns<'a>,
}

impl<'a> StatsStore<'a> {
    pub(crate) fn new(db: Conns<'a>) -> Self {
        Self { db }
    }

    /// Jobs finished at or after `since` (Unix ms), counted by minute (on the minute boundaries of Unix time) and
    /// outcome, oldest minute first; minutes without a finished job are left out. Reads the window's rows through the
    /// `jobs_finished_at` index (partial: finished jobs only).
    pub async fn finished_since(&self, since: i64) -> StoreResult<Vec<FinishedCount>> {
        let minute = Expr::col(job::Column::FinishedAt).div(MINUTE_MS);
        let rows: Vec<(i64, Option<job::Outcome>, i64)> = job::Entity::find()
            .select_only()
            .column_as(minute, "minute")
            .column(job::Column::Outcome)
            .column_as(job::Column::Id.count(), "count")
            .filter(job::Column::FinishedAt.gte(since))
            // By the output column: PostgreSQL would take the expression written twice, with its divisor bound
            // as two parameters, for two different expressions.
            .group_by(Expr::col("minute"))
            .group_by(job::Column::Outcome)
            .into_tuple()
            .all(self.db.read)
            .await?;
        let mut counts: Vec<FinishedCount> = rows
            .into_iter()
            // A finished job always has an outcome; a row without one is not a finished job to count.
            .filter_map(|(m, o, count)| o.map(|o| FinishedCount { minute: m * MINUTE_MS, outcome: o.into(), count }))
            .collect();
        counts.sort_by_key(|c| (c.minute, c.outcome as u8));
        Ok(counts)
    }
}
