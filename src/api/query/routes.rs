//! The query type of each route: its parameters (documented for OpenAPI) and their checks.
use serde::Deserialize;
use utoipa::IntoParams;

use super::{DEFAULT_OUTPUT_LIMIT, MAX_OUTPUT_LIMIT, Paging, invalid, keyset, paging};
use crate::domain::JobStatus;
use crate::domain::task::OrphanReason;
use crate::error::{ApiError, ErrorCode};
use crate::store::{JobFilter, Keyset, TaskFilter};
use crate::wire::StreamFilter;

/// `GET /api/v1/tasks`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TasksQuery {
    /// Page number (numbered form).
    #[param(schema_with = super::super::schema::page_number)]
    pub page: Option<u64>,
    /// Items per page or slice (numbered form: default 50; keyset form: default 1000).
    #[param(schema_with = super::super::schema::page_size)]
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
        Ok(TaskFilter { enabled: self.enabled, tags: tag_list(&self.tags)? })
    }
}

/// A `tags` parameter: comma-separated, none empty, at most [`MAX_TAG_FILTERS`].
pub fn tag_list(tags: &Option<String>) -> Result<Vec<String>, ApiError> {
    let tags: Vec<String> = match tags {
        None => Vec::new(),
        Some(list) => list.split(',').map(|t| t.trim().to_string()).collect(),
    };
    if tags.iter().any(String::is_empty) {
        return Err(invalid("tags: a comma-separated list of tags, none of them empty".into()));
    }
    if tags.len() > MAX_TAG_FILTERS {
        return Err(invalid(format!("tags: at most {MAX_TAG_FILTERS} tags, got {}", tags.len())));
    }
    Ok(tags)
}

/// A time parameter (RFC 3339), in ms since the epoch.
pub fn time(name: &str, value: &Option<String>) -> Result<Option<i64>, ApiError> {
    value
        .as_deref()
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.timestamp_millis())
                .map_err(|e| invalid(format!("{name}: not an RFC 3339 time ({e})")))
        })
        .transpose()
}

/// `GET /api/v1/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Page number (numbered form).
    #[param(schema_with = super::super::schema::page_number)]
    pub page: Option<u64>,
    /// Items per page or slice (numbered form: default 50; keyset form: default 1000).
    #[param(schema_with = super::super::schema::page_size)]
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
    /// Only jobs of tasks that have all of these tags (comma-separated, e.g. `tags=nightly,db`).
    pub tags: Option<String>,
    /// Only jobs submitted at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Only jobs submitted before this time (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
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

    /// The jobs asked for.
    pub fn filter(&self) -> Result<JobFilter, ApiError> {
        Ok(JobFilter {
            status: self.status()?,
            task_id: self.task_id.as_deref().map(str::parse).transpose()?,
            tags: tag_list(&self.tags)?,
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
        })
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
    #[param(schema_with = super::super::schema::page_size)]
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
    #[param(schema_with = super::super::schema::page_size)]
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
    #[param(schema_with = super::super::schema::stats_minutes)]
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
    #[param(schema_with = super::super::schema::sequence_number)]
    pub after_seq: Option<i64>,
    /// At most this many lines (default 1000).
    #[param(schema_with = super::super::schema::output_limit)]
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
    #[param(schema_with = super::super::schema::page_size)]
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
    #[param(schema_with = super::super::schema::page_size)]
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
