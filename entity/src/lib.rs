//! sea-orm entities for taskyard's tables, one module per table.
//!
//! Columns hold plain, portable types (text, big integers, booleans) so that the same entities work on SQLite and
//! PostgreSQL: task and job ids are the ULID newtypes of `taskyard-ids`, stored as text (`DeriveValueType`); times
//! are Unix milliseconds (UTC); maps and lists are JSON text. Job statuses, outcomes and event kinds are enums
//! stored as their snake_case names (`DeriveActiveEnum`). So a row cannot be written with an id or a status that
//! does not exist, and one read with such a value is an error. Output lines are stored packed, a run of one
//! stream's lines per row (`job_output`). The service's `store` module turns these rows into domain types; nothing
//! else touches them.

pub mod audit_event;
pub mod job;
pub mod job_artifact;
pub mod job_event;
pub mod job_output;
pub mod node;
pub mod notification;
pub mod overdue_fire;
mod states;
pub mod task;
