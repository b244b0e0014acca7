//! API keys: when configured, every /api route needs one in the `X-API-Key` header (never the query string),
//! identified in constant time ([`crate::access::Keyring`]), whose scope must allow the route ([`required_scope`]).
//! `/metrics` needs a `read` key too, unless the server makes it public (`metrics_public`). The key's identity is
//! left in the request's extensions for the handlers; the check writes the audit log ([`super::audit`]).
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

use super::AppState;
use super::audit::Pending;
use crate::domain::{Principal, Scope};
use crate::error::{ApiError, ErrorCode};

/// The scope a route needs: `read` for every GET (streams included) and for previewing a schedule (a POST that
/// changes nothing), `execute` for running and stopping jobs,
/// `admin` for everything else that changes something (tasks, settings) and for the audit log. A route not named
/// here that changes something needs `admin`, so a new route is closed until it is placed. `route` is the route's
/// template (`/api/v1/tasks/{id}`); an unknown route (answered 404) needs only a valid key.
pub fn required_scope(method: &Method, route: Option<&str>) -> Scope {
    let Some(route) = route else { return Scope::Read };
    match (method.as_str(), route) {
        (_, "/api/v1/audit") => Scope::Admin,
        ("POST", "/api/v1/tasks/{id}/$execute")
        | ("POST", "/api/v1/functions/{name}/$execute")
        | ("DELETE", "/api/v1/jobs/{id}")
        | ("POST", "/api/v1/jobs/{id}/$cancel")
        | ("POST", "/api/v1/jobs/{id}/$retry")
        | ("POST", "/api/v1/jobs/$bulk") => Scope::Execute,
        ("GET" | "HEAD", _) | ("POST", "/api/v1/schedules/$preview") => Scope::Read,
        _ => Scope::Admin,
    }
}

/// The key check for `/api`, which also writes the audit log: every changing request once answered, and every
/// request refused for its key.
pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::internal(&"the API key check has no application state; refusing the request").into());
    };
    let pending = Pending::start(&req);
    let changes = Pending::changes(req.method());
    let key_name = match check(&req, false) {
        Ok(principal) => principal.map(|p| p.name),
        Err(refused) => {
            let name = req.extensions().get::<Principal>().map(|p| p.name.clone());
            pending.finish(state.engine.store(), name, refused.code.status()).await;
            return Err(refused.into());
        }
    };
    let answer = next.call(req).await;
    if changes {
        let status = match &answer {
            Ok(res) => res.status(),
            Err(err) => err.as_response_error().status_code(),
        };
        pending.finish(state.engine.store(), key_name, status).await;
    }
    answer
}

/// `/metrics`: like the API, unless the server makes it public (`metrics_public`).
pub async fn require_api_key_for_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    check(&req, true)?;
    next.call(req).await
}

/// Refuses a request without a valid key when keys are configured (and, for `/metrics`, it is not public), or whose
/// key's scope does not allow the route.
fn check(req: &ServiceRequest, metrics: bool) -> Result<Option<Principal>, ApiError> {
    // Without the state there is no telling which keys are required: refuse, never serve unchecked.
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::internal(&"the API key check has no application state; refusing the request"));
    };
    if state.keys.is_empty() || (metrics && state.metrics_public) {
        return Ok(None);
    }
    let given = req.headers().get("x-api-key").map(|v| v.as_bytes()).unwrap_or_default();
    let Some(principal) = state.keys.identify(given) else {
        let detail = if given.is_empty() {
            "this server requires an API key in the X-API-Key header"
        } else {
            "the API key is not valid"
        };
        return Err(ApiError::new(ErrorCode::Unauthorized, detail));
    };
    let needed = required_scope(req.method(), req.match_pattern().as_deref());
    let allowed = principal.scope.allows(needed);
    req.extensions_mut().insert(principal.clone());
    if allowed {
        return Ok(Some(principal));
    }
    Err(missing_scope(&principal, needed))
}

fn missing_scope(principal: &Principal, needed: Scope) -> ApiError {
    ApiError::new(
        ErrorCode::MissingScope,
        format!("this request needs the `{needed}` scope; the key `{}` has `{}`", principal.name, principal.scope),
    )
}

#[cfg(test)]
mod tests {
    use actix_web::http::Method;
    use actix_web::middleware::from_fn;
    use actix_web::test as actix_test;
    use actix_web::{App, HttpResponse, web};

    use super::{require_api_key, required_scope};
    use crate::domain::Scope;

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
    fn an_unplaced_change_needs_admin() {
        assert_eq!(required_scope(&Method::POST, Some("/api/v1/things")), Scope::Admin);
        assert_eq!(required_scope(&Method::PATCH, Some("/api/v1/jobs/{id}")), Scope::Admin);
        assert_eq!(required_scope(&Method::GET, Some("/api/v1/audit")), Scope::Admin);
        assert_eq!(required_scope(&Method::GET, Some("/api/v1/things")), Scope::Read);
        assert_eq!(required_scope(&Method::POST, None), Scope::Read);
    }
}
