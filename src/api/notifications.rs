//! `/api/v1/notifications`: the notification outbox, read-only: what was sent where, the attempts and the last
//! error. Channel settings (URLs, secrets) are configuration and never shown here.
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::query::{NotificationsQuery, Query, slice_reply};
use crate::error::{ApiError, ErrorCode};
use crate::store::StoreError;
use crate::wire::NotificationView;

/// Notifications, newest first, at most `size` (default 1,000; `after` for the next ones, as the `Link` header
/// says), filtered by `status` and `job_id`.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", operation_id = "list_notifications",
    params(NotificationsQuery),
    responses((status = 200, description = "Notifications, newest first", body = Vec<NotificationView>,
        headers(("Link" = String, description = "`<…?after=ID>; rel=\"next\"` when more follow")))))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: Query<NotificationsQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state.engine.store().outbox().list(&query.filter()?, query.keyset()?).await?;
    slice_reply(&req, &page, |d| d.id.clone(), |d| NotificationView::from(d))
}

/// One notification by its delivery id.
#[utoipa::path(get, path = "/api/v1/notifications/{id}", tag = "notifications", operation_id = "get_notification",
    params(("id" = String, Path, description = "Delivery id (a ULID)",
        pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")),
    responses((status = 200, description = "The notification", body = NotificationView),
        (status = 404, description = "No such notification", body = crate::error::Problem,
            content_type = "application/problem+json")))]
pub async fn get(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let missing = || ApiError::new(ErrorCode::NotificationNotFound, format!("no notification has the id '{id}'"));
    let ulid = ulid::Ulid::from_string(&id).map_err(|_| missing())?;
    let delivery = match state.engine.store().outbox().get(&ulid.to_string()).await {
        Err(StoreError::NotFound) => return Err(missing()),
        other => other?,
    };
    Ok(HttpResponse::Ok().json(NotificationView::from(&delivery)))
}
