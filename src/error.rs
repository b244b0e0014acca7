//! The HTTP error: one table of codes (code → status, title), every error answered as RFC 9457
//! `application/problem+json` with a stable snake_case `code`. 5xx bodies never carry internal details; those go
//! to the log.
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};

use crate::domain::{CommandError, IdError, ParamError};
use crate::engine::EngineError;
use crate::store::StoreError;

pub use crate::wire::Problem;

pub const PROBLEM_JSON: &str = "application/problem+json";

macro_rules! error_codes {
    ($($variant:ident => $code:literal, $status:ident, $title:literal;)*) => {
        /// Every error the API can answer with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant,)* }

        impl ErrorCode {
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];
            pub fn as_str(self) -> &'static str { match self { $(ErrorCode::$variant => $code,)* } }
            pub fn status(self) -> StatusCode { match self { $(ErrorCode::$variant => StatusCode::$status,)* } }
            pub fn title(self) -> &'static str { match self { $(ErrorCode::$variant => $title,)* } }
        }
    };
}

impl ErrorCode {
    /// Seconds a client should wait before trying again, for errors that pass by themselves.
    pub fn retry_after(self) -> Option<u32> {
        match self {
            ErrorCode::StorageUnavailable => Some(2),
            ErrorCode::StorageFull => Some(10),
            _ => None,
        }
    }
}

error_codes! {
    InvalidJson => "invalid_json", BAD_REQUEST, "Malformed JSON";
    InvalidBody => "invalid_body", UNPROCESSABLE_ENTITY, "Invalid request body";
    UnsupportedMediaType => "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type";
    PayloadTooLarge => "payload_too_large", PAYLOAD_TOO_LARGE, "Request body too large";
    InvalidId => "invalid_id", BAD_REQUEST, "Invalid id";
    InvalidQuery => "invalid_query", BAD_REQUEST, "Invalid query parameter";
    InvalidHeader => "invalid_header", BAD_REQUEST, "Invalid header";
    BadRequest => "bad_request", BAD_REQUEST, "Bad request";
    NotFound => "not_found", NOT_FOUND, "Not found";
    MethodNotAllowed => "method_not_allowed", METHOD_NOT_ALLOWED, "Method not allowed";
    TaskNotFound => "task_not_found", NOT_FOUND, "Task not found";
    JobNotFound => "job_not_found", NOT_FOUND, "Job not found";
    NotificationNotFound => "notification_not_found", NOT_FOUND, "Notification not found";
    InvalidCommand => "invalid_command", UNPROCESSABLE_ENTITY, "Invalid command";
    ProgramNotAllowed => "program_not_allowed", UNPROCESSABLE_ENTITY, "Program not allowed";
    ValidationFailed => "validation_failed", UNPROCESSABLE_ENTITY, "Validation failed";
    NameTaken => "name_taken", CONFLICT, "Name taken";
    TaskDisabled => "task_disabled", CONFLICT, "Task disabled";
    TaskNotScheduled => "task_not_scheduled", CONFLICT, "Task not scheduled";
    JobFinished => "job_finished", CONFLICT, "Job already finished";
    JobActive => "job_active", CONFLICT, "Job not finished";
    TaskGone => "task_gone", CONFLICT, "Task deleted";
    JobArtifactNotFound => "job_artifact_not_found", NOT_FOUND, "Job artifact not found";
    JobArtifactDropped => "job_artifact_dropped", GONE, "Job artifact not kept";
    JobArtifactUnavailable => "job_artifact_unavailable", SERVICE_UNAVAILABLE, "Job artifact store unavailable";
    MissingParam => "missing_param", BAD_REQUEST, "Missing parameter";
    InvalidParam => "invalid_param", BAD_REQUEST, "Invalid parameter";
    Unauthorized => "unauthorized", UNAUTHORIZED, "Unauthorized";
    MissingScope => "missing_scope", FORBIDDEN, "Missing scope";
    InternalError => "internal_error", INTERNAL_SERVER_ERROR, "Internal server error";
    StorageUnavailable => "storage_unavailable", SERVICE_UNAVAILABLE, "Storage unavailable";
    StorageFull => "storage_full", INSUFFICIENT_STORAGE, "Storage full";
    FunctionNotFound => "function_not_found", NOT_FOUND, "Function not found";
    FunctionNameTaken => "function_name_taken", CONFLICT, "Function name taken by a task";
    ArtifactNotFound => "artifact_not_found", NOT_FOUND, "Artifact not found";
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into() }
    }

    /// A server-side failure: the cause goes to the log, the client gets a generic message.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::InternalError, "an internal error occurred; the server log has the details")
    }

    fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:taskyard:problem:{}", self.code.as_str()),
            title: self.code.title().to_string(),
            status: self.code.status().as_u16(),
            detail: self.detail.clone(),
            code: self.code.as_str().to_string(),
        }
    }

    /// The standard answer for a bare status produced outside our handlers (unknown route, wrong method, ...).
    fn for_status(status: StatusCode) -> Self {
        let code = match status {
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
            StatusCode::FORBIDDEN => ErrorCode::MissingScope,
            StatusCode::SERVICE_UNAVAILABLE => ErrorCode::StorageUnavailable,
            StatusCode::INSUFFICIENT_STORAGE => ErrorCode::StorageFull,
            s if s.is_server_error() => ErrorCode::InternalError,
            _ => ErrorCode::BadRequest,
        };
        let detail = match code {
            ErrorCode::NotFound => "no such route; the API lives under /api/v1 (see /docs)".to_string(),
            ErrorCode::MethodNotAllowed => "this route does not accept that method (see /docs)".to_string(),
            ErrorCode::PayloadTooLarge => "the request body is larger than the server accepts".to_string(),
            _ => code.title().to_string(),
        };
        let mut err = Self::new(code, detail);
        if code == ErrorCode::BadRequest {
            err.detail = status.canonical_reason().unwrap_or("bad request").to_string();
        }
        err
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.content_type(PROBLEM_JSON);
        if self.code == ErrorCode::Unauthorized {
            res.insert_header((header::WWW_AUTHENTICATE, "X-API-Key"));
        }
        if let Some(seconds) = self.code.retry_after() {
            res.insert_header((header::RETRY_AFTER, seconds));
        }
        res.json(self.problem())
    }
}

/// Error-handler middleware hook: any error response that is not already problem+json (actix's own 404/405,
/// payload errors from extractors) is rewritten into one.
pub fn problem_for_bare_errors<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Our own handlers answer errors in JSON on purpose (problems, and /health's 503 body); only actix's bare
    // answers (plain text or empty) are rewritten.
    let content_type = res.headers().get(header::CONTENT_TYPE);
    let ours = content_type == Some(&HeaderValue::from_static(PROBLEM_JSON))
        || content_type == Some(&HeaderValue::from_static("application/json"));
    if ours {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, old) = res.into_parts();
    let mut new = ApiError::for_status(old.status()).error_response();
    if let Some(allow) = old.headers().get(header::ALLOW) {
        new.headers_mut().insert(header::ALLOW, allow.clone());
    }
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, new).map_into_right_body()))
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NameTaken => Self::new(ErrorCode::NameTaken, "another task already has that name"),
            StoreError::Unavailable(e) => {
                tracing::warn!(error = %e, "write or read refused: storage unavailable");
                Self::new(
                    ErrorCode::StorageUnavailable,
                    "the database cannot be written or reached (I/O error, read-only, or unreachable); nothing was \
                     changed; try again shortly",
                )
            }
            StoreError::Full(e) => {
                tracing::warn!(error = %e, "write refused: storage full");
                Self::new(
                    ErrorCode::StorageFull,
                    "the database's storage is full; nothing was changed; try again once there is room",
                )
            }
            StoreError::LowDisk { free, min } => Self::new(
                ErrorCode::StorageFull,
                format!(
                    "free disk space under the database ({free} bytes) is below min_free_bytes ({min}); new jobs and \
                     task changes are refused until there is room"
                ),
            ),
            other => Self::internal(&other),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(err: CommandError) -> Self {
        let code = match err {
            CommandError::NotAllowed(_) => ErrorCode::ProgramNotAllowed,
            CommandError::MissingParam(_) => ErrorCode::MissingParam,
            CommandError::OptionValue(_)
            | CommandError::OptionPosition(_)
            | CommandError::ArgTooLong(..)
            | CommandError::ArgvTooLong(_) => ErrorCode::InvalidParam,
            CommandError::Empty
            | CommandError::Unsplittable
            | CommandError::PlaceholderInProgram
            | CommandError::Nul => ErrorCode::InvalidCommand,
        };
        Self::new(code, err.to_string())
    }
}

impl From<ParamError> for ApiError {
    fn from(err: ParamError) -> Self {
        Self::new(ErrorCode::InvalidParam, err.to_string())
    }
}

impl From<IdError> for ApiError {
    fn from(err: IdError) -> Self {
        Self::new(ErrorCode::InvalidId, err.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::TaskDisabled => Self::new(ErrorCode::TaskDisabled, err.to_string()),
            EngineError::JobFinished(status) => {
                Self::new(ErrorCode::JobFinished, format!("the job has already finished ({status}); nothing to cancel"))
            }
            EngineError::JobActive(_) => Self::new(ErrorCode::JobActive, err.to_string()),
            EngineError::TaskGone(_) => Self::new(ErrorCode::TaskGone, err.to_string()),
            EngineError::Command(e) => e.into(),
            EngineError::Params(detail) => Self::new(ErrorCode::InvalidParam, detail),
            EngineError::Env(_) => Self::new(ErrorCode::ValidationFailed, err.to_string()),
            EngineError::Store(e) => e.into(),
            EngineError::FunctionNotFound(_) => Self::new(ErrorCode::FunctionNotFound, err.to_string()),
            EngineError::FunctionNameTaken(_) => Self::new(ErrorCode::FunctionNameTaken, err.to_string()),
            EngineError::Move(_) | EngineError::Metrics => Self::internal(&err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(code.status().is_client_error() || code.status().is_server_error(), "{s}");
        }
    }
}
