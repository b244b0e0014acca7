//! The `audit_events` table: the audit log, written once per changing request (through the group-commit writer,
//! with the job writes of the moment), read newest first, pruned by retention.
use entity::audit_event;
use sea_orm::{ColumnTrait, EntityTrait, Order, QueryFilter};

use super::page::{self, Keyset, Slice};
use super::writer::{JobWrite, Writer};
use super::{Conns, StoreError, StoreResult};
use crate::domain::{AuditEntry, AuditFilter};

pub struct AuditStore<'a> {
    db: Conns<'a>,
    writer: &'a Writer,
}

/// The row of an entry.
pub(super) fn to_row(e: &AuditEntry) -> audit_event::ActiveModel {
    use sea_orm::ActiveValue::Set;
    audit_event::ActiveModel {
        id: Set(e.id.clone()),
        at: Set(e.at),
        key_name: Set(e.key_name.clone()),
        remote_addr: Set(e.remote_addr.clone()),
        method: Set(e.method.clone()),
        route: Set(e.route.clone()),
        target_id: Set(e.target_id.clone()),
        status: Set(i32::from(e.status)),
    }
}

fn from_row(m: audit_event::Model) -> StoreResult<AuditEntry> {
    let status = u16::try_from(m.status)
        .map_err(|_| StoreError::Corrupt(format!("audit entry {} has status {}", m.id, m.status)))?;
    Ok(AuditEntry {
        id: m.id,
        at: m.at,
        key_name: m.key_name,
        remote_addr: m.remote_addr,
        method: m.method,
        route: m.route,
        target_id: m.target_id,
        status,
    })
}

impl<'a> AuditStore<'a> {
    pub(super) fn new(db: Conns<'a>, writer: &'a Writer) -> Self {
        Self { db, writer }
    }

    /// Writes one entry. Not refused on low disk: a change that was made must be recorded.
    pub async fn record(&self, e: &AuditEntry) -> StoreResult<()> {
        self.writer.submit(JobWrite::Audit(e.clone())).await.map(drop)
    }

    /// Entries that pass `filter`, newest first, after (older than) the entry `req.after`.
    pub async fn after(&self, filter: &AuditFilter, req: Keyset<String>) -> StoreResult<Slice<AuditEntry>> {
        use audit_event::Column as C;
        let mut select = audit_event::Entity::find();
        if let Some(name) = &filter.key_name {
            select = select.filter(C::KeyName.eq(name.as_str()));
        }
        if let Some(route) = &filter.route {
            select = select.filter(C::Route.eq(route.as_str()));
        }
        if let Some(status) = filter.status {
            select = select.filter(C::Status.eq(i32::from(status)));
        }
        if let Some(since) = filter.since {
            select = select.filter(C::At.gte(since));
        }
        if let Some(until) = filter.until {
            select = select.filter(C::At.lt(until));
        }
        page::keyset(select, C::Id, Order::Desc, req, self.db.read).await?.try_map(from_row)
    }

    /// Deletes entries older than `before` (Unix ms). Returns how many.
    pub async fn forget(&self, before: i64) -> StoreResult<u64> {
        let res =
            audit_event::Entity::delete_many().filter(audit_event::Column::At.lt(before)).exec(self.db.write).await;
        Ok(self.db.wrote(res)?.rows_affected)
    }
}
