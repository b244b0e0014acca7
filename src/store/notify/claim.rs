//! The claim of due messages, the one statement that differs between SQLite and PostgreSQL: on PostgreSQL several
//! nodes claim at once, and `SKIP LOCKED` lets each take rows the others are not taking.
use std::sync::LazyLock;

use entity::notification::Status;
use sea_orm::{ActiveEnum, DbBackend, Statement};

use crate::store::Backend;

static SQLITE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE notifications SET claim_token = ?, next_attempt_at = ? WHERE id IN (SELECT id FROM notifications \
         WHERE status = '{pending}' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?) RETURNING *",
        pending = Status::Pending.to_value(),
    )
});

static POSTGRES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH due AS (SELECT id FROM notifications WHERE status = '{pending}' AND next_attempt_at <= $3 \
         ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
         UPDATE notifications SET claim_token = $1, next_attempt_at = $2 FROM due \
         WHERE notifications.id = due.id RETURNING notifications.*",
        pending = Status::Pending.to_value(),
    )
});

pub(super) fn statement(backend: Backend, token: &str, now: i64, until: i64, limit: usize) -> Statement {
    let values = [token.into(), until.into(), now.into(), (limit as i64).into()];
    match backend {
        Backend::Sqlite => Statement::from_sql_and_values(DbBackend::Sqlite, SQLITE.as_str(), values),
        Backend::Postgres => Statement::from_sql_and_values(DbBackend::Postgres, POSTGRES.as_str(), values),
    }
}
