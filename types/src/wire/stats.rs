//! Counts for the overview.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Outcome;

/// Jobs finished per minute by outcome, over the last `minutes` minutes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FinishedStats {
    /// The window, in minutes.
    pub minutes: u32,
    /// The window's start: the start of the oldest minute counted.
    #[schema(format = DateTime)]
    pub since: String,
    /// When the counts were taken (the server's clock; the database's on PostgreSQL).
    #[schema(format = DateTime)]
    pub until: String,
    /// One entry per minute and outcome with at least one job, oldest minute first; minutes without a finished
    /// job are left out.
    pub counts: Vec<FinishedMinute>,
}

/// The jobs that finished in one minute with one outcome.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FinishedMinute {
    /// The minute's start.
    #[schema(format = DateTime)]
    pub minute: String,
    pub outcome: Outcome,
    pub count: i64,
}
