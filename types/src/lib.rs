//! taskyard's types without its server: the [`domain`] values (ids, job states and their legal moves, command
//! lines, params and their schema, retry policies, sandboxes) and the [`wire`] bodies the HTTP API sends and
//! receives. The server re-exports both modules; the client crate reads and writes the same types, so there is one
//! copy of every shape.
//!
//! Nothing here does I/O or knows about HTTP frameworks or databases.
pub mod domain;
pub mod wire;
