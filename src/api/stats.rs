//! `/api/v1/stats`: counts for dashboards.
use actix_web::{HttpResponse, web};

use super::AppState;
use super::query::{FinishedQuery, Query};
use crate::domain::format_ms;
use crate::error::ApiError;
use crate::wire::{FinishedMinute, FinishedStats};

const MINUTE_MS: i64 = 60_000;

/// Jobs finished per minute by outcome over the last `minutes` minutes (the current minute included), for a chart
/// of throughput and failures. Minutes without a finished job are left out of `counts`.
#[utoipa::path(get, path = "/api/v1/stats/finished", tag = "stats", operation_id = "finished_stats",
    params(FinishedQuery),
    responses((status = 200, description = "Counts by minute and outcome", body = FinishedStats)))]
pub async fn finished(state: web::Data<AppState>, query: Query<FinishedQuery>) -> Result<HttpResponse, ApiError> {
    let minutes = query.minutes()?;
    let now = state.engine.now_ms();
    let since = (now.div_euclid(MINUTE_MS) - i64::from(minutes) + 1) * MINUTE_MS;
    let counts = state.engine.store().stats().finished_since(since).await?;
    Ok(HttpResponse::Ok().json(FinishedStats {
        minutes,
        since: format_ms(since),
        until: format_ms(now),
        counts: counts
            .into_iter()
            .map(|c| FinishedMinute { minute: format_ms(c.minute), outcome: c.outcome, count: c.count })
            .collect(),
    }))
}
