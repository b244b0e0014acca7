//! Query strings: one type per route, each refusing the parameters it does not know (`deny_unknown_fields`; the
//! query error handler answers 400 `invalid_query` naming them), and the paging every list shares.
//!
//! A list answers in one of three forms:
//! - no paging parameter: a plain JSON array of the first [`UNPAGED_LIMIT`] items, with a
//!   `Link: <…>; rel="next"` header when more exist;
//! - `after=<id>` (and `size`): the same array form, the items that follow that id in the list's order (keyset:
//!   the ten thousandth slice costs what the first costs), with `Link` when more exist;
//! - `page` and/or `size`: one numbered page `{items, total, page, size, pages}` (servicekit's form).
use std::future::{Ready, ready};
use std::ops::Deref;
use std::str::FromStr;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::domain::task::OrphanReason;
use crate::domain::{IdError, JobStatus};
use crate::error::{ApiError, ErrorCode};
use crate::store::{Keyset, Page, PageRequest, Slice, TaskFilter};
use crate::wire::{Listing, Paginated, StreamFilter};

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

fn invalid(detail: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, detail)
}

/// At most `size` items (default [`UNPAGED_LIMIT`]) after the id `after`.
fn keyset<I: FromStr<Err = IdError>>(size: Option<u64>, after: Option<&str>) -> Result<Keyset<I>, ApiError> {
    let limit = size.unwrap_or(UNPAGED_LIMIT);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(invalid(format!("size must be between 1 and {MAX_PAGE_SIZE}")));
    }
    let after = after.map(str::parse::<I>).transpose().map_err(|e| invalid(format!("after: {e}")))?;
    Ok(Keyset { after, limit })
}

/// Which form `page`, `size` and `after` ask for, checked.
fn paging<I: FromStr<Err = IdError>>(
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

/// `GET /api/v1/tasks`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TasksQuery {
    /// Page number (numbered form).
    #[param(schema_with = super::schema::page_number)]
    pub page: Option<u64>,
    /// Items per page or slice (numbered form: default 50; keyset form: default 1000).
    #[param(schema_with = super::schema::page_size)]
    pub size: Option<u64>,
    /// Keyset form: the tasks after this task id (oldest first). Not with `page`.
    #[param(inline, value_type = Option<crate::domain::TaskId>)]
    pub after: Option<String>,
    /// Only enabled (`true`) or only disabled (`false`) tasks.
    pub enabled: Option<bool>,
    /// Only tasks that have all of these tags (comma-separated, e.g. `tags=nightly,db`).
    pub tags: Option<String>,
}

/// Tags a list may ask for at once (a task has at most 32).
const MAX_TAG_FILTERS: usize = 32;

impl TasksQuery {
    pub fn paging(&self) -> Result<Paging<crate::domain::TaskId>, ApiError> {
        paging(self.page, self.size, self.after.as_deref())
    }

    /// The tasks asked for.
    pub fn filter(&self) -> Result<TaskFilter, ApiError> {
        let tags: Vec<String> = match &self.tags {
            None => Vec::new(),
            Some(list) => list.split(',').map(|t| t.trim().to_string()).collect(),
        };
        if tags.iter().any(String::is_empty) {
            return Err(invalid("tags: a comma-separated list of tags, none of them empty".into()));
        }
        if tags.len() > MAX_TAG_FILTERS {
            return Err(invalid(format!("tags: at most {MAX_TAG_FILTERS} tags, got {}", tags.len())));
        }
        Ok(TaskFilter { enabled: self.enabled, tags })
    }
}

/// `GET /api/v1/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Page number (numbered form).
    #[param(schema_with = super::schema::page_number)]
    pub page: Option<u64>,
    /// Items per page or slice (numbered form: default 50; keyset form: default 1000).
    #[param(schema_with = super::schema::page_size)]
    pub size: Option<u64>,
    /// Keyset form: the jobs after this job id (newest first, so older ones). Not with `page`.
    #[param(inline, value_type = Option<crate::domain::JobId>)]
    pub after: Option<String>,
    /// Only jobs in this state.
    #[param(inline, value_type = Option<JobStatus>)]
    pub status: Option<String>,
    /// The same as `status` (servicekit's name); both given must agree.
    #[param(inline, value_type = Option<JobStatus>)]
    pub status_filter: Option<String>,
    /// Only jobs of this task.
    #[param(inline, value_type = Option<crate::domain::TaskId>)]
    pub task_id: Option<String>,
}

impl JobsQuery {
    pub fn paging(&self) -> Result<Paging<crate::domain::JobId>, ApiError> {
        paging(self.page, self.size, self.after.as_deref())
    }

    pub fn status(&self) -> Result<Option<JobStatus>, ApiError> {
        let parse = |name: &str, v: &Option<String>| {
            v.as_deref().map(str::parse::<JobStatus>).transpose().map_err(|e| invalid(format!("{name}: {e}")))
        };
        match (parse("status", &self.status)?, parse("status_filter", &self.status_filter)?) {
            (Some(a), Some(b)) if a != b => {
                Err(invalid(format!("status ({a}) and status_filter ({b}) disagree: give one of them")))
            }
            (a, b) => Ok(a.or(b)),
        }
    }

    pub fn task_id(&self) -> Result<Option<crate::domain::TaskId>, ApiError> {
        Ok(self.task_id.as_deref().map(str::parse).transpose()?)
    }
}

/// `GET /api/v1/tasks/$orphaned`: keyset form only.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrphansQuery {
    /// Only this reason.
    pub reason: Option<OrphanReason>,
    /// Orphaned tasks at most (default 1000).
    #[param(schema_with = super::schema::page_size)]
    pub size: Option<u64>,
    /// The orphaned tasks after this task id (oldest first).
    #[param(inline, value_type = Option<crate::domain::TaskId>)]
    pub after: Option<String>,
}

impl OrphansQuery {
    pub fn keyset(&self) -> Result<Keyset<crate::domain::TaskId>, ApiError> {
        keyset(self.size, self.after.as_deref())
    }
}

/// `GET /api/v1/nodes`: keyset form only.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NodesQuery {
    /// Nodes at most (default 1000).
    #[param(schema_with = super::schema::page_size)]
    pub size: Option<u64>,
    /// The nodes after this node id (newest first, so older ones).
    #[param(inline, value_type = Option<crate::domain::NodeId>)]
    pub after: Option<String>,
}

impl NodesQuery {
    pub fn keyset(&self) -> Result<Keyset<String>, ApiError> {
        let k = keyset::<crate::domain::NodeId>(self.size, self.after.as_deref())?;
        Ok(Keyset { after: k.after.map(|id| id.to_string()), limit: k.limit })
    }
}

/// `GET /api/v1/stats/finished`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FinishedQuery {
    /// The window in minutes, ending now (default 60, at most 1440).
    #[param(schema_with = super::schema::stats_minutes)]
    pub minutes: Option<u32>,
}

/// The longest window `GET /api/v1/stats/finished` counts: a day.
pub const MAX_STATS_MINUTES: u32 = 1440;

impl FinishedQuery {
    pub fn minutes(&self) -> Result<u32, ApiError> {
        match self.minutes.unwrap_or(60) {
            m @ 1..=MAX_STATS_MINUTES => Ok(m),
            m => Err(invalid(format!("minutes must be between 1 and {MAX_STATS_MINUTES}, got {m}"))),
        }
    }
}

/// `GET /api/v1/jobs/{id}/output`: keyset paging on the line's sequence number.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutputQuery {
    /// stdout, stderr or both (default).
    #[param(inline)]
    pub stream: Option<StreamFilter>,
    /// Only lines with a sequence number above this (default 0).
    #[param(schema_with = super::schema::sequence_number)]
    pub after_seq: Option<i64>,
    /// At most this many lines (default 1000).
    #[param(schema_with = super::schema::output_limit)]
    pub limit: Option<u64>,
}

impl OutputQuery {
    /// The lines asked for: `(after_seq, limit)`.
    pub fn range(&self) -> Result<(i64, u64), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_OUTPUT_LIMIT);
        if !(1..=MAX_OUTPUT_LIMIT).contains(&limit) {
            return Err(invalid(format!("limit must be between 1 and {MAX_OUTPUT_LIMIT}")));
        }
        let after_seq = self.after_seq.unwrap_or(0);
        if after_seq < 0 {
            return Err(invalid(format!("after_seq must be 0 or more, got {after_seq}")));
        }
        Ok((after_seq, limit))
    }
}

/// `GET /api/v1/audit`: keyset form only, newest first; every filter given must hold.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only requests made with the key of this name.
    pub key: Option<String>,
    /// Only requests to this route template, e.g. `/api/v1/tasks/{id}/$execute`.
    pub route: Option<String>,
    /// Only answers with this HTTP status.
    #[param(minimum = 100, maximum = 599)]
    pub status: Option<u16>,
    /// Only entries at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Only entries before this time (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// Entries at most (default 1000).
    #[param(schema_with = super::schema::page_size)]
    pub size: Option<u64>,
    /// The entries after this entry id (newest first, so older ones).
    #[param(inline, value_type = Option<crate::domain::AuditId>)]
    pub after: Option<String>,
}

impl AuditQuery {
    pub fn keyset(&self) -> Result<Keyset<String>, ApiError> {
        let k = keyset::<crate::domain::AuditId>(self.size, self.after.as_deref())?;
        Ok(Keyset { after: k.after.map(|id| id.to_string()), limit: k.limit })
    }

    pub fn filter(&self) -> Result<crate::domain::AuditFilter, ApiError> {
        let time = |name: &str, value: &Option<String>| -> Result<Option<i64>, ApiError> {
            value
                .as_deref()
                .map(|v| {
                    chrono::DateTime::parse_from_rfc3339(v)
                        .map(|t| t.timestamp_millis())
                        .map_err(|e| invalid(format!("{name}: not an RFC 3339 time ({e})")))
                })
                .transpose()
        };
        if self.status.is_some_and(|s| !(100..=599).contains(&s)) {
            return Err(invalid("status must be between 100 and 599".to_string()));
        }
        Ok(crate::domain::AuditFilter {
            key_name: self.key.clone(),
            route: self.route.clone(),
            status: self.status,
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
        })
    }
}

/// `GET /api/v1/tasks/{id}/$schedule` and `POST /api/v1/schedules/$preview`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// How many fires to show (1 to 100, default 5).
    #[param(minimum = 1, maximum = 100)]
    pub count: Option<u32>,
}

impl PreviewQuery {
    pub fn count(&self) -> Result<usize, ApiError> {
        match self.count.unwrap_or(5) {
            n @ 1..=100 => Ok(n as usize),
            n => Err(ApiError::new(ErrorCode::InvalidQuery, format!("count must be between 1 and 100, got {n}"))),
        }
    }
}
/// `GET /api/v1/notifications`: keyset form only, newest first.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationsQuery {
    /// Notifications at most (default 1000).
    #[param(schema_with = super::schema::page_size)]
    pub size: Option<u64>,
    /// The notifications after this delivery id, a ULID (newest first, so older ones).
    #[param(value_type = Option<String>, pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")]
    pub after: Option<String>,
    /// Only notifications in this state.
    #[param(inline, value_type = Option<crate::domain::DeliveryStatus>)]
    pub status: Option<String>,
    /// Only notifications about this job.
    #[param(inline, value_type = Option<crate::domain::JobId>)]
    pub job_id: Option<String>,
}

impl NotificationsQuery {
    pub fn keyset(&self) -> Result<Keyset<String>, ApiError> {
        let k = keyset::<crate::domain::JobId>(self.size, None)?;
        let after = self.after.as_deref().map(|a| {
            ulid::Ulid::from_string(a)
                .map(|u| u.to_string())
                .map_err(|_| invalid(format!("after: '{a}' is not a delivery id")))
        });
        Ok(Keyset { after: after.transpose()?, limit: k.limit })
    }

    pub fn filter(&self) -> Result<crate::store::DeliveryFilter, ApiError> {
        let status = self.status.as_deref().map(|s| {
            crate::domain::DeliveryStatus::parse(s)
                .ok_or_else(|| invalid(format!("status: '{s}' is not one of pending, delivered, dead")))
        });
        Ok(crate::store::DeliveryFilter {
            status: status.transpose()?,
            job_id: self.job_id.as_deref().map(str::parse).transpose()?,
        })
    }
}
