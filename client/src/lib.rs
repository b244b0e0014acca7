//! A typed client of taskyard's HTTP API.
//!
//! Every route has a method here, reading and writing the server's own bodies from `taskyard-types`
//! ([`wire`] and [`domain`]); an error answer becomes [`Error::Api`] with the problem's stable `code`. Following a
//! job ([`Client::follow`]) yields its events once each, reconnecting with `Last-Event-ID` across dropped
//! connections and server restarts; [`Client::wait`] returns the finished job.
//!
//! ```no_run
//! # async fn run() -> Result<(), taskyard_client::Error> {
//! use taskyard_client::{Client, wire::ExecuteRequest};
//!
//! let client = Client::new("http://127.0.0.1:8000")?;
//! let submitted = client.execute("nightly", &ExecuteRequest::default()).await?;
//! let job = client.wait(&submitted.job_id).await?;
//! println!("{} ended {:?}", job.id, job.outcome);
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `lib.rs`: [`Client`], its construction and the plumbing every route shares; nodes, health and metrics.
//! - `tasks.rs`, `jobs.rs`, `functions.rs`, `operations.rs`: one method per route of each group.
//! - `follow.rs`: the event stream of a job, with reconnects.
//! - `error.rs`: [`Error`].
mod error;
mod follow;
mod functions;
mod jobs;
mod operations;
mod tasks;

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, LINK};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
pub use taskyard_types::{domain, wire};

pub use error::Error;
pub use follow::{Event, Follow, JobEvent};
pub use jobs::JobsQuery;
pub use operations::{AuditQuery, NotificationsQuery};

use wire::{Health, NodeView};

/// A client of one taskyard server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    reconnect_for: Duration,
}

impl Client {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:8000`), without an API key.
    pub fn new(base_url: &str) -> Result<Client, Error> {
        Client::build(base_url, None)
    }

    /// A client that sends `key` as `X-API-Key` with every request.
    pub fn with_api_key(base_url: &str, key: &str) -> Result<Client, Error> {
        Client::build(base_url, Some(key))
    }

    fn build(base_url: &str, key: Option<&str>) -> Result<Client, Error> {
        let invalid = |reason: &str| Error::InvalidUrl { url: base_url.to_string(), reason: reason.to_string() };
        let base = base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(invalid("it must start with http:// or https://"));
        }
        // reqwest is built without a default crypto provider (no aws-lc); ring is this process's. Installing fails
        // only when a provider is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            let mut value = HeaderValue::from_str(key).map_err(|_| invalid("the API key is not a valid header"))?;
            value.set_sensitive(true);
            headers.insert("x-api-key", value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("taskyard-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(Client { http, base, reconnect_for: Duration::from_secs(300) })
    }

    /// How long [`Client::follow`] keeps trying to reconnect to a server that went away before it gives up
    /// (default: 5 minutes).
    pub fn reconnect_for(mut self, window: Duration) -> Client {
        self.reconnect_for = window;
        self
    }

    /// The server's base URL, as given.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    // Nodes

    /// Every node, newest first (following the `Link` header).
    pub async fn nodes(&self) -> Result<Vec<NodeView>, Error> {
        self.all("/api/v1/nodes").await
    }

    // Health and metrics

    /// The server's health: `ok`, `degraded` (with a reason), `unavailable` or `draining`. A 503 answer carries the
    /// same body, so it is returned as such, not as an error.
    pub async fn health(&self) -> Result<Health, Error> {
        let path = "/health";
        let response = self.request(Method::GET, path).send().await.map_err(|e| Error::transport(&self.base, &e))?;
        if response.status().is_success() || response.status() == StatusCode::SERVICE_UNAVAILABLE {
            read(response, path).await
        } else {
            Err(Error::from_response(&format!("{}{path}", self.base), response).await)
        }
    }

    /// The Prometheus metrics, as text.
    pub async fn metrics(&self) -> Result<String, Error> {
        let path = "/metrics";
        let response = self.send(self.request(Method::GET, path), path).await?;
        response.text().await.map_err(|e| Error::transport(&self.base, &e))
    }

    // Plumbing

    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    pub(crate) fn stream_request(&self, id: &str, after: i64) -> (RequestBuilder, String) {
        let path = format!("/api/v1/jobs/{}/$stream", segment(id));
        let mut builder = self.request(Method::GET, &path).header("Accept", "text/event-stream");
        if after > 0 {
            builder = builder.header("Last-Event-ID", after.to_string());
        }
        (builder, format!("{}{path}", self.base))
    }

    /// Sends; an answer that is not a success becomes its [`Error`].
    pub(crate) async fn send(&self, builder: RequestBuilder, path: &str) -> Result<Response, Error> {
        let url = format!("{}{path}", self.base);
        let response = builder.send().await.map_err(|e| Error::transport(&self.base, &e))?;
        if response.status().is_success() { Ok(response) } else { Err(Error::from_response(&url, response).await) }
    }

    pub(crate) async fn json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, Error> {
        let mut builder = self.request(method, path);
        if let Some(body) = body {
            builder = builder.json(body);
        }
        read(self.send(builder, path).await?, path).await
    }

    /// A list in its array form, page after page as the `Link` header says.
    pub(crate) async fn all<T: DeserializeOwned>(&self, first: &str) -> Result<Vec<T>, Error> {
        let mut path = first.to_string();
        let mut all = Vec::new();
        loop {
            let response = self.send(self.request(Method::GET, &path), &path).await?;
            let next = next_link(response.headers());
            let items: Vec<T> = read(response, &path).await?;
            all.extend(items);
            match next {
                Some(next) => path = next,
                None => return Ok(all),
            }
        }
    }
}

/// Reads a JSON body.
pub(crate) async fn read<T: DeserializeOwned>(response: Response, path: &str) -> Result<T, Error> {
    let status = response.status();
    let body = response.bytes().await.map_err(|e| Error::transport(path, &e))?;
    serde_json::from_slice(&body).map_err(|e| Error::Unexpected {
        url: path.to_string(),
        status: status.as_u16(),
        body: format!(
            "cannot read the body ({e}): {}",
            String::from_utf8_lossy(&body).chars().take(200).collect::<String>()
        ),
    })
}

/// The path and query of the `rel="next"` link, if any.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(LINK)?.to_str().ok()?;
    link.split(',').find(|l| l.contains("rel=\"next\"")).and_then(|l| {
        let target = l.trim().strip_prefix('<')?.split('>').next()?;
        // The server writes the path (and query) only; a full URL keeps its path.
        let at = target.find("/api/")?;
        Some(target[at..].to_string())
    })
}

/// A path segment: ids and task names need no escaping, but anything else given must not change the path.
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A unit enum's name as the API spells it (its serde name).
pub(crate) fn wire_name<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// 204 No Content.
pub(crate) fn is_no_content(status: StatusCode) -> bool {
    status == StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_segment_cannot_change_the_path() {
        assert_eq!(segment("nightly-db_1.2"), "nightly-db_1.2");
        assert_eq!(segment("../jobs?x=1"), "..%2Fjobs%3Fx%3D1");
    }

    #[test]
    fn the_next_link_keeps_its_path_and_query() {
        let next = |link: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(LINK, HeaderValue::from_str(link).expect("a header value"));
            next_link(&headers)
        };
        assert_eq!(
            next(r#"</api/v1/tasks?after=01J&size=2>; rel="next""#).as_deref(),
            Some("/api/v1/tasks?after=01J&size=2")
        );
        assert_eq!(
            next(r#"<http://h:8000/api/v1/nodes?after=X>; rel="next""#).as_deref(),
            Some("/api/v1/nodes?after=X")
        );
        assert_eq!(next(r#"</api/v1/tasks?page=1>; rel="prev""#), None);
    }
}
