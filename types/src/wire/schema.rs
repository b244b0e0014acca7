//! OpenAPI schemas of body fields whose constraints come from the constants that validate them, so the document
//! cannot drift from what the server accepts.
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type};

use crate::domain::job::MAX_DELAY_MS;
use crate::domain::task::rules::MAX_TIMEOUT_SECONDS;

/// A 64-bit integer from `min` to `max`.
pub fn integer(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
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
