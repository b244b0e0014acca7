//! Paging every list shares: keyset slices (`id > cursor` or `id < cursor` on the primary key, so the ten
//! thousandth slice costs what the first costs) and the numbered pages kept for servicekit's clients.
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

use super::StoreResult;

/// A page request: 1-based page number and page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u64,
    pub size: u64,
}

/// One page of items plus the total count over all pages.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// A keyset request: at most `limit` items that come after the item with id `after` (from the start if `None`),
/// in the list's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyset<I> {
    pub after: Option<I>,
    pub limit: u64,
}

/// A run of items in list order, and whether more follow the last.
#[derive(Debug, Clone)]
pub struct Slice<T> {
    pub items: Vec<T>,
    pub more: bool,
}

impl<T> Slice<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Slice<U> {
        Slice { items: self.items.into_iter().map(f).collect(), more: self.more }
    }

    /// The id to go on after, when more follow.
    pub fn next<I>(&self, id: impl FnOnce(&T) -> I) -> Option<I> {
        self.items.last().filter(|_| self.more).map(id)
    }

    /// Converts each item, failing on the first that does not convert.
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Slice<U>, E> {
        Ok(Slice { items: self.items.into_iter().map(f).collect::<Result<_, _>>()?, more: self.more })
    }
}

/// The rows of `select` ordered by `id` (`Order::Asc` or `Order::Desc`) that follow `req.after`, at most
/// `req.limit`. One row more is read to tell whether more follow.
pub(super) async fn keyset<E, C>(
    select: Select<E>,
    id: E::Column,
    order: Order,
    req: Keyset<String>,
    db: &C,
) -> StoreResult<Slice<E::Model>>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Send + Sync,
    C: ConnectionTrait,
{
    let mut select = select;
    if let Some(after) = req.after {
        select = match order {
            Order::Desc => select.filter(id.lt(after)),
            _ => select.filter(id.gt(after)),
        };
    }
    let mut items = select.order_by(id, order).limit(req.limit.saturating_add(1)).all(db).await?;
    let more = items.len() as u64 > req.limit;
    items.truncate(usize::try_from(req.limit).unwrap_or(usize::MAX));
    Ok(Slice { items, more })
}

/// Page `req.page` of `select` (already ordered), with the total count.
pub(super) async fn numbered<E, C>(select: Select<E>, req: PageRequest, db: &C) -> StoreResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Send + Sync,
    C: ConnectionTrait,
{
    let total = select.clone().count(db).await?;
    let items = select.offset((req.page - 1) * req.size).limit(req.size).all(db).await?;
    Ok(Page { items, total })
}
