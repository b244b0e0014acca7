//! Notifications, the engine side: the delivery worker and its channels (webhook, email). Messages are enqueued
//! by the store in the transaction that ends a job (so a crash between a job's end and its delivery loses
//! nothing); the worker claims due ones, sends each with a time limit, and writes the result back: delivered, or
//! another attempt after an exponential backoff, or given up after `max_attempts`. Delivery is at least once: a
//! worker that dies mid-send leaves its claim to expire and the message is sent again, with the same delivery id
//! for the receiver to deduplicate on. On PostgreSQL every node runs a worker over the shared outbox.
pub mod email;
pub mod settings;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use crate::domain::notify::Attempt;
use crate::domain::{Delivery, NotifyOn, TaskId, now_ms};
use crate::metrics::Metrics;
use crate::store::{AttemptResult, Store, StoreResult};
pub use settings::{Channel, NotifyConfig, NotifySettings, Secret};

/// Messages claimed at once.
const BATCH: usize = 16;

/// Starts the delivery worker, unless no channel is configured. Call after the store has its rules.
pub fn start(store: Store, config: NotifyConfig) {
    if config.channels.is_empty() {
        return;
    }
    // reqwest is built without a default TLS provider; the process-wide one is ring (already set: fine).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder().build() {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "cannot build the webhook client; notifications are not delivered");
            return;
        }
    };
    let metrics = store.metrics().clone();
    tokio::spawn(run(Arc::new(Worker { store, config, client, metrics })));
}

/// Enqueues the `overdue` notifications of the fire of `task` scheduled for `scheduled_for` (Unix ms), once per
/// fire however often it is called. Returns how many messages were new.
pub async fn enqueue_overdue(store: &Store, task: TaskId, scheduled_for: i64) -> StoreResult<usize> {
    store.outbox().enqueue_overdue(task, scheduled_for, now_ms()).await
}

struct Worker {
    store: Store,
    config: NotifyConfig,
    client: reqwest::Client,
    metrics: Metrics,
}

async fn run(worker: Arc<Worker>) {
    let rules = worker.store.notify_rules();
    loop {
        let token = ulid::Ulid::generate().to_string();
        let now = now_ms();
        // A claim outlasts every attempt of the batch (they run side by side) by a margin.
        let until = now + (worker.config.timeout * 5).as_millis() as i64 + 5_000;
        let claimed = match worker.store.outbox().claim(&token, now, until, BATCH).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = %err, "cannot claim notifications; trying again");
                Vec::new()
            }
        };
        let full = claimed.len() == BATCH;
        join_all(claimed.iter().map(|d| worker.attempt(d, &token))).await;
        if full {
            continue;
        }
        let wait = match worker.store.outbox().next_due().await {
            Ok(Some(due)) => Duration::from_millis((due - now_ms()).max(0) as u64).min(worker.config.poll),
            _ => worker.config.poll,
        };
        tokio::select! {
            _ = rules.enqueued.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

impl Worker {
    async fn attempt(&self, delivery: &Delivery, token: &str) {
        let started = now_ms();
        let sent = self.send(delivery).await;
        let took_ms = now_ms() - started;
        let attempts = delivery.attempts as u32 + 1;
        let (result, label) = match &sent {
            Ok(()) => (AttemptResult::Delivered, "delivered"),
            Err(error) if attempts >= self.config.max_attempts => {
                (AttemptResult::GaveUp { error: error.clone() }, "dead")
            }
            Err(error) => {
                let at = now_ms() + self.config.backoff(attempts).as_millis() as i64;
                (AttemptResult::Retry { error: error.clone(), at }, "failed")
            }
        };
        self.metrics.notification_delivery(&delivery.channel, label);
        let attempt = Attempt { at: started, took_ms, error: sent.err() };
        match self.store.outbox().record(delivery, token, attempt, result).await {
            Ok(true) => {
                tracing::info!(delivery_id = %delivery.id, channel = %delivery.channel, result = label, attempts, "notification attempt")
            }
            Ok(false) => {
                tracing::warn!(delivery_id = %delivery.id, "a notification's claim expired during its attempt; the newer claim decides")
            }
            Err(err) => {
                tracing::warn!(delivery_id = %delivery.id, error = %err, "cannot record a notification attempt; it will be sent again")
            }
        }
    }

    async fn send(&self, d: &Delivery) -> Result<(), String> {
        let Some(channel) = self.config.channels.get(&d.channel) else {
            return Err(format!("no channel named '{}' is configured", d.channel));
        };
        let message = message(d, &self.config.public_url);
        match channel {
            Channel::Webhook { url, secret } => {
                let body = serde_json::to_vec(&message).map_err(|e| e.to_string())?;
                webhook::send(&self.client, url, secret, &d.id, body, self.config.timeout).await
            }
            Channel::Email { settings, password } => {
                let subject = subject(d);
                let text = format!(
                    "{subject}\n\n{}\n\nDelivery id: {}\n\n{}\n",
                    message["link"].as_str().unwrap_or_default(),
                    d.id,
                    serde_json::to_string_pretty(&message).unwrap_or_default()
                );
                email::send(settings, password.as_ref(), &d.id, &subject, text, self.config.timeout).await
            }
        }
    }
}

/// What a receiver gets: the delivery id, the trigger, a link to the job (or the task, for an overdue fire), and
/// the stored payload (the job and the task, or the fire).
pub fn message(d: &Delivery, public_url: &str) -> serde_json::Value {
    let link = match d.job_id {
        Some(job) => format!("{public_url}/api/v1/jobs/{job}"),
        None => format!("{public_url}/api/v1/tasks/{}", d.task_id),
    };
    let mut message = serde_json::json!({
        "delivery_id": d.id,
        "trigger": d.trigger,
        "created_at": crate::domain::format_ms(d.created_at),
        "link": link,
    });
    if let (Some(out), Some(payload)) = (message.as_object_mut(), d.payload.as_object()) {
        out.extend(payload.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    message
}

fn subject(d: &Delivery) -> String {
    let task = d.payload["task"]["name"].as_str().map(str::to_string).unwrap_or_else(|| d.task_id.to_string());
    match (d.trigger, d.job_id) {
        (NotifyOn::Overdue, _) | (_, None) => format!("taskyard: task {task} is overdue"),
        (trigger, Some(job)) => format!("taskyard: job {job} of task {task}: {}", trigger.as_str()),
    }
}
