//! The server's Prometheus metrics: one registry per application, its instruments, and the text it is scraped as.
//! The store records its writer's groups, the engine its jobs, the HTTP layer its requests and SSE clients; the
//! figures read at scrape time (pending jobs, running jobs) are set by whoever answers the scrape, just before
//! [`Metrics::encode`]. Label values come from closed sets (outcomes, route templates, methods, statuses), so no
//! id or raw path ever becomes a label. Of ours it imports only `domain`.
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::domain::Outcome;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    channel: String,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every instrument; cheap to clone (each is shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    jobs_started: Counter,
    jobs_finished: Family<OutcomeLabel, Counter>,
    job_duration: Histogram,
    queue_wait: Histogram,
    retries: Counter,
    rescued: Counter,
    pending_due: Gauge,
    oldest_pending: Gauge<f64, AtomicU64>,
    running: Gauge,
    sse_clients: Gauge,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<RouteLabels>,
    write_batch: Histogram,
    commit_duration: Histogram,
    notifications: Family<DeliveryLabels, Counter>,
}

/// From 1 ms to about 4.6 h, for jobs and their queue wait.
fn job_seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 4.0, 13))
}

/// From 0.1 ms to about 6.6 s, for requests and commits.
fn short_seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 4.0, 9))
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Arc::new(Registry::default()),
            jobs_started: Counter::default(),
            jobs_finished: Family::default(),
            job_duration: job_seconds(),
            queue_wait: job_seconds(),
            retries: Counter::default(),
            rescued: Counter::default(),
            pending_due: Gauge::default(),
            oldest_pending: Gauge::default(),
            running: Gauge::default(),
            sse_clients: Gauge::default(),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(short_seconds),
            write_batch: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            commit_duration: short_seconds(),
            notifications: Family::default(),
        };
        let mut r = Registry::with_prefix("taskyard");
        let sec = || Unit::Seconds;
        r.register("jobs_started", "Attempts started on this node", m.jobs_started.clone());
        r.register("jobs_finished", "Jobs that reached a final state, by outcome", m.jobs_finished.clone());
        r.register_with_unit("job_duration", "Final attempt's run time", sec(), m.job_duration.clone());
        r.register_with_unit("job_queue_wait", "From due (run_at) to started", sec(), m.queue_wait.clone());
        r.register("job_retries", "Attempts handed back for another try", m.retries.clone());
        r.register("jobs_rescued", "Running jobs rescued after their runner was lost", m.rescued.clone());
        r.register("jobs_pending_due", "Pending jobs due now (all nodes)", m.pending_due.clone());
        let oldest = "Age of the oldest pending job that is due (0 if none)";
        r.register_with_unit("oldest_pending_age", oldest, sec(), m.oldest_pending.clone());
        r.register("jobs_running", "Jobs running on this node", m.running.clone());
        r.register("sse_clients", "Event streams open on this node", m.sse_clients.clone());
        r.register("http_requests", "HTTP requests by route template and status", m.requests.clone());
        let latency = "HTTP request latency by route template";
        r.register_with_unit("http_request_duration", latency, sec(), m.request_duration.clone());
        r.register("db_write_batch_size", "Job writes committed together", m.write_batch.clone());
        let commit = "Time to commit one group of job writes";
        r.register_with_unit("db_commit_duration", commit, sec(), m.commit_duration.clone());
        let deliveries = "Notification delivery attempts, by channel and result (delivered, failed, dead)";
        r.register("notification_deliveries", deliveries, m.notifications.clone());
        Metrics { registry: Arc::new(r), ..m }
    }
}

impl Metrics {
    /// An attempt started, `waited` after it was due.
    pub fn job_started(&self, waited: Duration) {
        self.jobs_started.inc();
        self.queue_wait.observe(waited.as_secs_f64());
    }

    /// A job reached a final state with `outcome`; `ran` is its last attempt's run time, if it ran.
    pub fn job_finished(&self, outcome: Outcome, ran: Option<Duration>) {
        self.jobs_finished.get_or_create(&OutcomeLabel { outcome: outcome.as_str() }).inc();
        if let Some(ran) = ran {
            self.job_duration.observe(ran.as_secs_f64());
        }
    }

    pub fn job_retried(&self) {
        self.retries.inc();
    }

    pub fn job_rescued(&self) {
        self.rescued.inc();
    }

    /// An open event stream, counted until the guard is dropped.
    pub fn sse_client(&self) -> SseClient {
        self.sse_clients.inc();
        SseClient(self.sse_clients.clone())
    }

    /// One answered request; `route` is the matched route's template (never the raw path).
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let (method, route) = (method.to_string(), route.to_string());
        let labels = RouteLabels { method: method.clone(), route: route.clone() };
        self.request_duration.get_or_create(&labels).observe(took.as_secs_f64());
        self.requests.get_or_create(&RequestLabels { method, route, status }).inc();
    }

    /// One group of job writes committed (or tried) together.
    pub fn write_group(&self, writes: usize, took: Duration) {
        self.write_batch.observe(writes as f64);
        self.commit_duration.observe(took.as_secs_f64());
    }

    /// One notification delivery attempt to `channel` (a configured name) came to `result`.
    pub fn notification_delivery(&self, channel: &str, result: &'static str) {
        self.notifications.get_or_create(&DeliveryLabels { channel: channel.to_string(), result }).inc();
    }

    /// The figures read at scrape time, then everything in the text format.
    pub fn encode(&self, now: Scraped) -> Result<String, std::fmt::Error> {
        self.pending_due.set(now.pending_due);
        self.oldest_pending.set(now.oldest_pending.as_secs_f64());
        self.running.set(now.running);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// What a scrape reads from the store and the engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scraped {
    pub pending_due: i64,
    pub oldest_pending: Duration,
    pub running: i64,
}

/// Counts one open event stream while it lives.
pub struct SseClient(Gauge);

impl Drop for SseClient {
    fn drop(&mut self) {
        self.0.dec();
    }
}
