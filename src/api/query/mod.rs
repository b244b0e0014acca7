//! Query strings: one type per route, each refusing the parameters it does not know (`deny_unknown_fields`; the
//! query error handler answers 400 `invalid_query` naming them), and the paging every list shares.
//!
//! A list answers in one of three forms:
//! - no paging parameter: a plain JSON array of the first [`UNPAGED_LIMIT`] items, with a
//!   `Link: <…>; rel="next"` header when more exist;
//! - `after=<id>` (and `size`): the same array form, the items that follow that id in the list's order (keyset:
//!   the ten thousandth slice costs what the first costs), with `Link` when more exist;
//! - `page` and/or `size`: one numbered page `{items, total, page, size, pages}` (servicekit's form).
//!
//! This file holds the extractor, the paging rules and the list replies; `routes.rs` the query type of each route.
mod routes;

pub use routes::*;
use std::future::{Ready, ready};
use std::ops::Deref;
use std::str::FromStr;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::IdError;
use crate::error::{ApiError, ErrorCode};
use crate::store::{Keyset, Page, PageRequest, Slice};
use crate::wire::{Listing, Paginated};

/// A route's query string, parsed strictly: a value that does not parse is 400 `invalid_query` naming its
/// parameter (`size: invalid digit found in string`), an unknown parameter likewise (the query types refuse them).
/// actix's own `web::Query` reports serde's message without the parameter's name.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse_query(req.query_string()).map(Query))
    }
}

/// Parses a query string into `T`, naming the parameter of a value that does not fit.
fn parse_query<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(text.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let detail = match path.as_str() {
            "" | "." => err.into_inner().to_string(),
            name => format!("{name}: {}", err.into_inner()),
        };
        ApiError::new(ErrorCode::InvalidQuery, detail)
    })
}

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 1000;
/// The highest page number: any page of any size below it has an offset the databases can take.
pub const MAX_PAGE: u64 = i64::MAX as u64 / MAX_PAGE_SIZE;
/// Items a list answers without paging parameters, or with `after` but no `size`.
pub const UNPAGED_LIMIT: u64 = MAX_PAGE_SIZE;
pub const DEFAULT_OUTPUT_LIMIT: u64 = 1000;
pub const MAX_OUTPUT_LIMIT: u64 = 10_000;

/// The query of a route that takes no parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

/// How a list is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging<I> {
    Keyset(Keyset<I>),
    Numbered(PageRequest),
}

pub(super) fn invalid(detail: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, detail)
}

/// At most `size` items (default [`UNPAGED_LIMIT`]) after the id `after`.
pub(super) fn keyset<I: FromStr<Err = IdError>>(size: Option<u64>, after: Option<&str>) -> Result<Keyset<I>, ApiError> {
    let limit = size.unwrap_or(UNPAGED_LIMIT);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(invalid(format!("size must be between 1 and {MAX_PAGE_SIZE}")));
    }
    let after = after.map(str::parse::<I>).transpose().map_err(|e| invalid(format!("after: {e}")))?;
    Ok(Keyset { after, limit })
}

/// Which form `page`, `size` and `after` ask for, checked.
pub(super) fn paging<I: FromStr<Err = IdError>>(
    page: Option<u64>,
    size: Option<u64>,
    after: Option<&str>,
) -> Result<Paging<I>, ApiError> {
    match (page, size, after) {
        (Some(_), _, Some(_)) => Err(invalid("give page or after, not both".into())),
        (None, None, _) | (None, _, Some(_)) => keyset(size, after).map(Paging::Keyset),
        (page, size, None) => {
            let page = page.unwrap_or(1);
            if !(1..=MAX_PAGE).contains(&page) {
                return Err(invalid(format!("page must be between 1 and {MAX_PAGE}")));
            }
            let size = size.unwrap_or(DEFAULT_PAGE_SIZE);
            if !(1..=MAX_PAGE_SIZE).contains(&size) {
                return Err(invalid(format!("size must be between 1 and {MAX_PAGE_SIZE}")));
            }
            Ok(Paging::Numbered(PageRequest { page, size }))
        }
    }
}

/// `200 OK`, with `Link: <this request with after=next>; rel="next"` when `next` is given.
pub fn ok_with_next(req: &HttpRequest, next: Option<impl ToString>) -> Result<HttpResponseBuilder, ApiError> {
    let mut reply = HttpResponse::Ok();
    if let Some(next) = next {
        // The query already parsed into its route's type, so it parses as pairs too.
        let mut pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(req.query_string()).map_err(|e| ApiError::internal(&e))?;
        pairs.retain(|(k, _)| k != "after" && k != "page");
        pairs.push(("after".into(), next.to_string()));
        let query = serde_urlencoded::to_string(&pairs).map_err(|e| ApiError::internal(&e))?;
        reply.insert_header((header::LINK, format!("<{}?{query}>; rel=\"next\"", req.path())));
    }
    Ok(reply)
}

/// The array form of a list: the slice's items as views, with `Link` to the next slice when more follow.
pub fn slice_reply<T, I: ToString, V: Serialize>(
    req: &HttpRequest,
    slice: &Slice<T>,
    id: impl FnOnce(&T) -> I,
    view: impl Fn(&T) -> V,
) -> Result<HttpResponse, ApiError> {
    Ok(ok_with_next(req, slice.next(id))?.json(Listing::<V>::All(slice.items.iter().map(view).collect())))
}

/// The numbered form of a list: the page's items as views, with the counts.
pub fn page_reply<T, V: Serialize>(page: &Page<T>, req: PageRequest, view: impl Fn(&T) -> V) -> HttpResponse {
    HttpResponse::Ok().json(Listing::Page(Paginated::new(
        page.items.iter().map(view).collect(),
        page.total,
        req.page,
        req.size,
    )))
}
