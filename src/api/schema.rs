//! OpenAPI schemas of query parameters and headers whose constraints come from the constants that validate, so the
//! document cannot drift from what the server accepts (body fields: [`crate::wire::schema`]; ids: `taskyard-ids`).
use utoipa::IntoParams;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use super::input::MAX_IDEMPOTENCY_KEY;
use super::query::{MAX_OUTPUT_LIMIT, MAX_PAGE, MAX_PAGE_SIZE};
use crate::wire::schema::integer;

/// `page`: from 1.
pub fn page_number() -> Object {
    integer(1, MAX_PAGE as i64).build()
}

/// `size`: items per page.
pub fn page_size() -> Object {
    integer(1, MAX_PAGE_SIZE as i64).build()
}

/// `minutes` of the finished-jobs counts.
pub fn stats_minutes() -> Object {
    integer(1, super::query::MAX_STATS_MINUTES as i64).build()
}

/// `limit` of the output endpoint.
pub fn output_limit() -> Object {
    integer(1, MAX_OUTPUT_LIMIT as i64).build()
}

/// `after_seq`: an event's sequence number, from 0.
pub fn sequence_number() -> Object {
    integer(0, i64::MAX).build()
}

/// `Last-Event-ID`: an event's sequence number.
pub fn event_id() -> Object {
    integer(0, i64::MAX).description(Some("Resume after this event id")).build()
}

/// `Idempotency-Key`: visible ASCII (what `is_ascii_graphic` accepts), 1 to [`MAX_IDEMPOTENCY_KEY`] characters.
pub fn idempotency_key() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[!-~]+$"))
        .min_length(Some(1))
        .max_length(Some(MAX_IDEMPOTENCY_KEY))
        .description(Some("A repeat within 24 h returns the first job (with `Idempotency-Replayed: true`)"))
        .build()
}

/// The headers `$execute` reads (documentation only: the handler reads them from the request).
#[allow(dead_code)]
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct ExecuteHeaders {
    /// A repeat within 24 h returns the first job (with `Idempotency-Replayed: true`).
    #[param(rename = "Idempotency-Key", schema_with = idempotency_key)]
    idempotency_key: Option<String>,
    /// W3C Trace Context: kept on the job (`traceparent` in its record) and its trace id on the log lines of the
    /// request and the job. An invalid value is ignored.
    #[param(rename = "traceparent", pattern = "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$")]
    traceparent: Option<String>,
}

/// The headers `$stream` reads (documentation only: the handler reads them from the request).
#[allow(dead_code)]
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct StreamHeaders {
    /// Resume after this event id.
    #[param(rename = "Last-Event-ID", schema_with = event_id)]
    last_event_id: Option<u64>,
}
