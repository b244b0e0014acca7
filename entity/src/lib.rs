//! sea-orm entities for taskyard's tables, one module per table.
//!
//! Columns hold plain, portable types (text, big integers, booleans) so that the same entities work on SQLite and
//! PostgreSQL: ids are ULID strings, times are Unix milliseconds (UTC), maps and lists are JSON text. Job statuses,
//! outcomes and event kinds are enums stored as their snake_case names (`DeriveActiveEnum`), so a row cannot be
//! written with one that does not exist, and one read with an unknown name is an error. The service's
//! `store` module turns these rows into domain types; nothing else touches them.

pub mod job;
pub mod job_event;
pub mod node;
pub mod task;
