//! OpenAPI schemas whose constraints come from the constants that validate, so the document cannot drift from
//! what the server accepts.
use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::dto::{MAX_DELAY_MS, MAX_IDEMPOTENCY_KEY};
use super::query::{MAX_OUTPUT_LIMIT, MAX_PAGE, MAX_PAGE_SIZE};
use crate::domain::task::rules::MAX_TIMEOUT_SECONDS;
use crate::domain::{JobId, NodeId, TaskId, ULID_PATTERN};

fn ulid(kind: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(ULID_PATTERN))
        .description(Some(format!("A {kind} id: a ULID (26 characters)")))
        .build()
}

macro_rules! id_schema {
    ($name:ident, $kind:literal) => {
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ulid($kind).into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

id_schema!(TaskId, "task");
id_schema!(JobId, "job");
id_schema!(NodeId, "node");

fn integer(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
}

/// `page`: from 1.
pub fn page_number() -> Object {
    integer(1, MAX_PAGE as i64).build()
}

/// `size`: items per page.
pub fn page_size() -> Object {
    integer(1, MAX_PAGE_SIZE as i64).build()
}

/// `limit` of the output endpoint.
pub fn output_limit() -> Object {
    integer(1, MAX_OUTPUT_LIMIT as i64).build()
}

/// `timeout_seconds` of a task: `null` for none (on an update: clears it).
pub fn timeout_seconds() -> Object {
    integer(1, MAX_TIMEOUT_SECONDS).schema_type(SchemaType::from_iter([Type::Integer, Type::Null])).build()
}

/// `delay_seconds` of `$execute`: a number of seconds, or `null` for none.
pub fn delay_seconds() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Number, Type::Null]))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
        .minimum(Some(0))
        .maximum(Some(MAX_DELAY_MS / 1000))
        .build()
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
