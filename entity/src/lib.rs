//! sea-orm entities for taskyard's tables, one module per table.
//!
//! Columns hold plain, portable types (text, big integers, booleans) so that the same entities work on SQLite and
//! PostgreSQL: ids are ULID strings, times are Unix milliseconds (UTC), maps and lists are JSON text. The service's
//! `store` module turns these rows into domain types; nothing else touches them.

pub mod job;
pub mod job_event;
pub mod node;
pub mod task;
