//! Query strings of the API, and the list envelope (every item, or one page).
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::task::OrphanReason;
use crate::error::{ApiError, ErrorCode};
use crate::store::PageRequest;
use crate::wire::jobs::StreamFilter;

/// `?page=&size=`: both optional; without either, lists return every item as a plain array.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1.
    pub page: Option<u64>,
    /// Items per page, 1 to 1000 (default 50).
    pub size: Option<u64>,
}

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 1000;

impl PageQuery {
    pub fn parse(&self) -> Result<Option<PageRequest>, ApiError> {
        if self.page.is_none() && self.size.is_none() {
            return Ok(None);
        }
        let page = self.page.unwrap_or(1);
        let size = self.size.unwrap_or(DEFAULT_PAGE_SIZE);
        if page < 1 {
            return Err(ApiError::new(ErrorCode::InvalidQuery, "page starts at 1"));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(ApiError::new(ErrorCode::InvalidQuery, format!("size must be between 1 and {MAX_PAGE_SIZE}")));
        }
        // The databases take a signed 64-bit offset; past it the multiplication would wrap.
        if (page - 1).checked_mul(size).is_none_or(|offset| offset > i64::MAX as u64) {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                format!("page {page} of size {size} lies beyond any list; ask for a smaller page number"),
            ));
        }
        Ok(Some(PageRequest { page, size }))
    }
}

/// One page of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u64,
    pub size: u64,
    pub pages: u64,
}

impl<T> Paginated<T> {
    pub fn new(items: Vec<T>, total: u64, req: PageRequest) -> Self {
        Self { items, total, page: req.page, size: req.size, pages: total.div_ceil(req.size) }
    }
}

/// A list: every item as a plain array, or one page when `page`/`size` were given.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Listing<T> {
    All(Vec<T>),
    Page(Paginated<T>),
}

/// Query of `GET /api/v1/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// pending, running, completed, failed or canceled.
    pub status: Option<String>,
    /// Only jobs of this task.
    pub task_id: Option<String>,
}

/// Query of `GET /api/v1/jobs/{id}/output`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutputQuery {
    /// stdout, stderr or both (default).
    pub stream: Option<StreamFilter>,
    /// Only lines with a sequence number above this (default 0).
    pub after_seq: Option<i64>,
    /// At most this many lines, 1 to 10000 (default 1000).
    pub limit: Option<u64>,
}

/// Query of `GET /api/v1/tasks/$orphaned`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrphansQuery {
    /// Only this reason: never_run, not_runnable or lost.
    pub reason: Option<OrphanReason>,
}
