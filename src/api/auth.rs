//! API keys: when configured, every /api route needs one in the `X-API-Key` header (never the query string),
//! compared in constant time.
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
    let keys = req.app_data::<web::Data<AppState>>().map(|s| s.api_keys.clone()).unwrap_or_default();
    if !keys.is_empty() {
        let given = req.headers().get("x-api-key").map(|v| v.as_bytes()).unwrap_or_default();
        // Check every key, so timing does not tell which (or whether an early one) matched.
        let ok = keys.iter().fold(false, |acc, key| acc | constant_time_eq(key.as_bytes(), given));
        if !ok {
            let detail = if given.is_empty() {
                "this server requires an API key in the X-API-Key header"
            } else {
                "the API key is not valid"
            };
            return Err(ApiError::new(ErrorCode::Unauthorized, detail).into());
        }
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn compares_whole_keys() {
        assert!(constant_time_eq(b"secret-key", b"secret-key"));
        assert!(!constant_time_eq(b"secret-key", b"secret-kez"));
        assert!(!constant_time_eq(b"secret-key", b"secret-key2"));
        assert!(!constant_time_eq(b"secret-key", b""));
    }
}
