//! The notification outbox's SQL. Messages are written in the transaction that ends their job (the job writer
//! calls [`enqueue_for_move`]) or records an overdue fire ([`OutboxStore::enqueue_overdue`]); the delivery worker
//! claims due rows ([`OutboxStore::claim`]), then writes each attempt's result back under its claim token, so a
//! worker whose claim ran out cannot overwrite the newer claimer's result. Which channels a message goes to is
//! decided here, from the rules the server was started with ([`Rules`]).
mod claim;
#[cfg(test)]
mod tests;

use std::sync::{Arc, RwLock};

use entity::{notification, task};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, Order, QueryFilter, QuerySelect};
use tokio::sync::Notify;

use super::convert::to_json;
use super::page::{self, Keyset, Slice};
use super::{Backend, Conns, StoreError, StoreResult};
use crate::domain::notify::{Attempt, MAX_HISTORY, channels_for};
use crate::domain::{Delivery, DeliveryStatus, Job, JobId, JobStatus, NotifyOn, Rule, TaskId};

/// The rules the server was started with, and whom to wake when a message is enqueued.
#[derive(Default)]
pub struct Rules {
    rules: RwLock<Arc<Vec<Rule>>>,
    /// Whether any channel is configured: without one, no message is enqueued and job ends read nothing more.
    active: std::sync::atomic::AtomicBool,
    /// Poked after a commit that enqueued messages.
    pub enqueued: Notify,
}

impl Rules {
    /// The server's rules; `any_channel`: whether a channel is configured (tasks' rules count only then).
    pub fn set(&self, rules: Vec<Rule>, any_channel: bool) {
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(rules);
        self.active.store(any_channel, std::sync::atomic::Ordering::SeqCst);
    }

    fn active(&self) -> bool {
        self.active.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn get(&self) -> Arc<Vec<Rule>> {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The task's name for the message (a task may be unnamed, or deleted since), and its own rules.
async fn task_info<C: ConnectionTrait>(db: &C, id: TaskId) -> StoreResult<(Option<String>, Vec<Rule>)> {
    let row = task::Entity::find_by_id(id)
        .select_only()
        .columns([task::Column::Name, task::Column::Notify])
        .into_tuple::<(Option<String>, Option<String>)>()
        .one(db)
        .await?;
    let Some((name, notify)) = row else { return Ok((None, Vec::new())) };
    let rules = notify.as_deref().map(serde_json::from_str).transpose();
    let rules = rules.map_err(|e| StoreError::Corrupt(format!("task {id}: notify: {e}")))?;
    Ok((name, rules.unwrap_or_default()))
}

/// The server's rules followed by the task's.
fn all_rules(server: &[Rule], task: Vec<Rule>) -> Vec<Rule> {
    server.iter().cloned().chain(task).collect()
}

/// What a message is about, before it is addressed to channels.
struct Message<'a> {
    trigger: NotifyOn,
    /// Unique per event; the channel's name is appended.
    key: String,
    job_id: Option<JobId>,
    task_id: TaskId,
    payload: &'a serde_json::Value,
}

/// Inserts one message per channel that `rules` name for its trigger; a message whose key is already there is
/// skipped. Returns how many were new.
async fn insert<C: ConnectionTrait>(db: &C, rules: &[Rule], m: Message<'_>, now: i64) -> StoreResult<usize> {
    let mut added = 0;
    for channel in channels_for(rules, m.trigger) {
        let row = notification::ActiveModel {
            id: Set(ulid::Ulid::generate().to_string()),
            dedupe_key: Set(format!("{}:{channel}", m.key)),
            job_id: Set(m.job_id),
            task_id: Set(m.task_id),
            outcome: Set(m.trigger.into()),
            channel: Set(channel.to_string()),
            status: Set(notification::Status::Pending),
            payload: Set(to_json(m.payload)?),
            attempts: Set(0),
            history: Set("[]".into()),
            last_error: Set(None),
            created_at: Set(now),
            next_attempt_at: Set(now),
            claim_token: Set(None),
            delivered_at: Set(None),
        };
        let res = notification::Entity::insert(row)
            .on_conflict(OnConflict::column(notification::Column::DedupeKey).do_nothing().to_owned())
            .exec_without_returning(db)
            .await?;
        added += res as usize;
    }
    Ok(added)
}

/// In the job writer's transaction: the messages a job write that moved the job from `before` to `job` calls for.
/// The key holds the attempt, so each retry and the end are messages of their own, and a write retried after a
/// lost answer adds none.
pub(crate) async fn enqueue_for_move<C: ConnectionTrait>(
    db: &C,
    rules: &Rules,
    before: JobStatus,
    job: &Job,
    now: i64,
) -> StoreResult<usize> {
    let Some(trigger) = NotifyOn::of_move(before, job).filter(|_| rules.active()) else { return Ok(0) };
    let (name, own) = task_info(db, job.task_id).await?;
    let rules = all_rules(&rules.get(), own);
    if channels_for(rules.iter(), trigger).is_empty() {
        return Ok(0);
    }
    // A retry is recorded with the next attempt's number: the attempt that failed is the one before.
    let attempt = if trigger == NotifyOn::Retrying { job.attempt - 1 } else { job.attempt };
    let payload = serde_json::json!({
        "job": crate::wire::JobView::from(job),
        "task": { "id": job.task_id.to_string(), "name": name },
    });
    let key = format!("job:{}:{attempt}:{}", job.id, trigger.as_str());
    let message = Message { trigger, key, job_id: Some(job.id), task_id: job.task_id, payload: &payload };
    insert(db, &rules, message, now).await
}

/// What a delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    /// Failed; try again at this time.
    Retry {
        error: String,
        at: i64,
    },
    /// Failed, and no more attempts are allowed.
    GaveUp {
        error: String,
    },
}

/// Which deliveries a list shows.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub job_id: Option<JobId>,
}

pub struct OutboxStore<'a> {
    db: Conns<'a>,
    backend: Backend,
    rules: &'a Rules,
}

impl<'a> OutboxStore<'a> {
    pub(in crate::store) fn new(db: Conns<'a>, backend: Backend, rules: &'a Rules) -> Self {
        OutboxStore { db, backend, rules }
    }

    /// Enqueues the `overdue` messages of the scheduled fire of `task` due at `scheduled_for` (Unix ms), once: the
    /// same fire enqueued again adds nothing. Returns how many messages were new.
    pub async fn enqueue_overdue(&self, task: TaskId, scheduled_for: i64, now: i64) -> StoreResult<usize> {
        if !self.rules.active() {
            return Ok(0);
        }
        let (name, own) = task_info(self.db.read, task).await?;
        let rules = all_rules(&self.rules.get(), own);
        if channels_for(rules.iter(), NotifyOn::Overdue).is_empty() {
            return Ok(0);
        }
        let payload = serde_json::json!({
            "task": { "id": task.to_string(), "name": name },
            "scheduled_for": crate::domain::format_ms(scheduled_for),
        });
        let key = format!("overdue:{task}:{scheduled_for}");
        let message = Message { trigger: NotifyOn::Overdue, key, job_id: None, task_id: task, payload: &payload };
        let added = self.db.wrote(insert(self.db.write, &rules, message, now).await)?;
        if added > 0 {
            self.rules.enqueued.notify_one();
        }
        Ok(added)
    }

    /// Claims up to `limit` messages due at `now` for this worker until `until`, stamped with `token`.
    pub async fn claim(&self, token: &str, now: i64, until: i64, limit: usize) -> StoreResult<Vec<Delivery>> {
        let stmt = claim::statement(self.backend, token, now, until, limit);
        let rows = notification::Entity::find().from_raw_sql(stmt).all(self.db.write).await;
        self.db.wrote(rows)?.into_iter().map(from_row).collect()
    }

    /// When the next pending message is due, if any is.
    pub async fn next_due(&self) -> StoreResult<Option<i64>> {
        let next = notification::Entity::find()
            .select_only()
            .column_as(notification::Column::NextAttemptAt.min(), "next")
            .filter(notification::Column::Status.eq(notification::Status::Pending))
            .into_tuple::<Option<i64>>()
            .one(self.db.read)
            .await?;
        Ok(next.flatten())
    }

    /// Records an attempt of a claimed message that started at `attempt.at`; false when the claim was lost (another
    /// worker claimed it since), and nothing was written.
    pub async fn record(
        &self,
        claimed: &Delivery,
        token: &str,
        attempt: Attempt,
        result: AttemptResult,
    ) -> StoreResult<bool> {
        let mut history = claimed.history.clone();
        history.push(attempt.clone());
        let drop = history.len().saturating_sub(MAX_HISTORY);
        history.drain(..drop);
        let done = attempt.at + attempt.took_ms;
        let (status, next_at, error, delivered_at) = match result {
            AttemptResult::Delivered => (DeliveryStatus::Delivered, claimed.next_attempt_at, None, Some(done)),
            AttemptResult::Retry { error, at } => (DeliveryStatus::Pending, at, Some(error), None),
            AttemptResult::GaveUp { error } => (DeliveryStatus::Dead, claimed.next_attempt_at, Some(error), None),
        };
        let res = notification::Entity::update_many()
            .col_expr(notification::Column::Status, notification::Status::from(status).into())
            .col_expr(notification::Column::Attempts, (claimed.attempts + 1).into())
            .col_expr(notification::Column::History, to_json(&history)?.into())
            .col_expr(notification::Column::LastError, error.or(claimed.last_error.clone()).into())
            .col_expr(notification::Column::NextAttemptAt, next_at.into())
            .col_expr(notification::Column::DeliveredAt, delivered_at.into())
            .col_expr(notification::Column::ClaimToken, Option::<String>::None.into())
            .filter(notification::Column::Id.eq(&claimed.id))
            .filter(notification::Column::ClaimToken.eq(token))
            .exec(self.db.write)
            .await;
        Ok(self.db.wrote(res)?.rows_affected == 1)
    }

    /// Deliveries, newest first, after (older than) the delivery `req.after`.
    pub async fn list(&self, filter: &DeliveryFilter, req: Keyset<String>) -> StoreResult<Slice<Delivery>> {
        let mut select = notification::Entity::find();
        if let Some(status) = filter.status {
            select = select.filter(notification::Column::Status.eq(notification::Status::from(status)));
        }
        if let Some(job) = filter.job_id {
            select = select.filter(notification::Column::JobId.eq(job));
        }
        let rows = page::keyset(select, notification::Column::Id, Order::Desc, req, self.db.read).await?;
        rows.try_map(from_row)
    }

    pub async fn get(&self, id: &str) -> StoreResult<Delivery> {
        let row = notification::Entity::find_by_id(id.to_string()).one(self.db.read).await?;
        from_row(row.ok_or(StoreError::NotFound)?)
    }

    /// Deletes the notifications created before `before` that are done with (delivered or dead); pending ones stay
    /// until they are delivered or given up. Returns how many were deleted.
    pub async fn forget(&self, before: i64) -> StoreResult<u64> {
        let res = notification::Entity::delete_many()
            .filter(notification::Column::CreatedAt.lt(before))
            .filter(notification::Column::Status.ne(notification::Status::Pending))
            .exec(self.db.write)
            .await;
        Ok(self.db.wrote(res)?.rows_affected)
    }
}

fn from_row(m: notification::Model) -> StoreResult<Delivery> {
    let corrupt = |what: &str, e: serde_json::Error| StoreError::Corrupt(format!("notification {}: {what}: {e}", m.id));
    Ok(Delivery {
        payload: serde_json::from_str(&m.payload).map_err(|e| corrupt("payload", e))?,
        history: serde_json::from_str(&m.history).map_err(|e| corrupt("history", e))?,
        id: m.id.clone(),
        job_id: m.job_id,
        task_id: m.task_id,
        trigger: m.outcome.into(),
        channel: m.channel,
        status: m.status.into(),
        attempts: m.attempts,
        last_error: m.last_error,
        created_at: m.created_at,
        next_attempt_at: m.next_attempt_at,
        delivered_at: m.delivered_at,
    })
}
