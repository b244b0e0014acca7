//! The list envelope: a plain array of at most 1,000 items (a `Link` header says where more are), or one numbered
//! page when `page`/`size` were given.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One page of items.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Paginated<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u64,
    pub size: u64,
    pub pages: u64,
}

impl<T> Paginated<T> {
    /// Page `page` (from 1) of `size` items, of `total` in all.
    pub fn new(items: Vec<T>, total: u64, page: u64, size: u64) -> Self {
        Self { items, total, page, size, pages: total.div_ceil(size.max(1)) }
    }
}

/// A list: a plain array of at most 1000 items (a `Link` header says where more are), or one numbered page when
/// `page`/`size` were given.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Listing<T> {
    All(Vec<T>),
    Page(Paginated<T>),
}
