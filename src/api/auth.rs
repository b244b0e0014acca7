//! API keys: when configured, every /api route needs one in the `X-API-Key` header (never the query string),
//! compared in constant time. `/metrics` needs one too, unless the server makes it public (`metrics_public`).
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use super::AppState;
use crate::error::{ApiError, ErrorCode};

/// Equal in time that depends only on the lengths, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    check(&req, false)?;
    next.call(req).await
}

/// `/metrics`: like the API, unless the server makes it public (`metrics_public`).
pub async fn require_api_key_for_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    check(&req, true)?;
    next.call(req).await
}

/// Refuses a request without a valid key when keys are configured (and, for `/metrics`, it is not public).
fn check(req: &ServiceRequest, metrics: bool) -> Result<(), ApiError> {
    // Without the state there is no telling which keys are required: refuse, never serve unchecked.
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::internal(&"the API key check has no application state; refusing the request"));
    };
    if state.api_keys.is_empty() || (metrics && state.metrics_public) {
        return Ok(());
    }
    let given = req.headers().get("x-api-key").map(|v| v.as_bytes()).unwrap_or_default();
    // Check every key, so timing does not tell which (or whether an early one) matched.
    let ok = state.api_keys.iter().fold(false, |acc, key| acc | constant_time_eq(key.as_bytes(), given));
    if ok {
        return Ok(());
    }
    let detail = if given.is_empty() {
        "this server requires an API key in the X-API-Key header"
    } else {
        "the API key is not valid"
    };
    Err(ApiError::new(ErrorCode::Unauthorized, detail))
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::test as actix_test;
    use actix_web::{App, HttpResponse, web};

    use super::{constant_time_eq, require_api_key};

    #[actix_web::test]
    async fn without_the_application_state_nothing_is_served() {
        let app =
            actix_test::init_service(App::new().service(
                web::scope("/api").wrap(from_fn(require_api_key)).route("/x", web::get().to(HttpResponse::Ok)),
            ))
            .await;
        let answer =
            actix_test::try_call_service(&app, actix_test::TestRequest::get().uri("/api/x").to_request()).await;
        let status = match answer {
            Ok(res) => res.status(),
            Err(err) => err.as_response_error().status_code(),
        };
        assert_eq!(status, 500, "a missing state must fail closed");
    }

    #[test]
    fn compares_whole_keys() {
        assert!(constant_time_eq(b"secret-key", b"secret-key"));
        assert!(!constant_time_eq(b"secret-key", b"secret-kez"));
        assert!(!constant_time_eq(b"secret-key", b"secret-key2"));
        assert!(!constant_time_eq(b"secret-key", b""));
    }
}
