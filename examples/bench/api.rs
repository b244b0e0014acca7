//! The HTTP API of the server under test, as far as the measurements use it.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
}

impl Api {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn health(&self) -> Result<()> {
        let resp = self.http.get(self.url("/health")).send().await?;
        expect(resp, StatusCode::OK, "GET /health").await?;
        Ok(())
    }

    pub(crate) async fn create_task(&self, body: &Value) -> Result<String> {
        let resp = self.http.post(self.url("/api/v1/tasks")).json(body).send().await?;
        let task = expect(resp, StatusCode::CREATED, "POST /api/v1/tasks").await?;
        string_field(&task, "id")
    }

    pub(crate) async fn execute(&self, task_id: &str) -> Result<String> {
        let resp =
            self.http.post(self.url(&format!("/api/v1/tasks/{task_id}/$execute"))).json(&json!({})).send().await?;
        let accepted = expect(resp, StatusCode::ACCEPTED, "POST /api/v1/tasks/{id}/$execute").await?;
        string_field(&accepted, "job_id")
    }

    /// GET /api/v1/nodes
    pub(crate) async fn nodes(&self) -> Result<Vec<Value>> {
        let resp = self.http.get(self.url("/api/v1/nodes")).send().await?;
        let nodes = expect(resp, StatusCode::OK, "GET /api/v1/nodes").await?;
        nodes.as_array().cloned().with_context(|| format!("GET /api/v1/nodes: not an array: {nodes}"))
    }

    pub(crate) async fn job(&self, job_id: &str) -> Result<Value> {
        let resp = self.http.get(self.url(&format!("/api/v1/jobs/{job_id}"))).send().await?;
        expect(resp, StatusCode::OK, "GET /api/v1/jobs/{id}").await
    }

    pub(crate) async fn cancel(&self, job_id: &str) -> Result<()> {
        let resp = self.http.delete(self.url(&format!("/api/v1/jobs/{job_id}"))).send().await?;
        expect(resp, StatusCode::ACCEPTED, "DELETE /api/v1/jobs/{id}").await?;
        Ok(())
    }

    /// `total` of GET /api/v1/jobs?task_id=..&status=..&page=1&size=1
    pub(crate) async fn count_jobs(&self, task_id: &str, status: &str) -> Result<(u64, Value)> {
        let url = self.url(&format!("/api/v1/jobs?task_id={task_id}&status={status}&page=1&size=1"));
        let resp = self.http.get(url).send().await?;
        let page = expect(resp, StatusCode::OK, "GET /api/v1/jobs?page=1&size=1").await?;
        let total = page["total"].as_u64().context("paginated job list without `total`")?;
        Ok((total, page["items"][0].clone()))
    }
}

pub(crate) async fn expect(resp: reqwest::Response, want: StatusCode, what: &str) -> Result<Value> {
    let status = resp.status();
    let body = resp.text().await?;
    ensure!(status == want, "{what}: expected {want}, got {status}: {body}");
    serde_json::from_str(&body).with_context(|| format!("{what}: body is not JSON: {body}"))
}

fn string_field(value: &Value, key: &str) -> Result<String> {
    value[key].as_str().map(str::to_owned).with_context(|| format!("no string `{key}` in {value}"))
}

pub(crate) fn is_terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "canceled")
}

/// GETs the job every `every` until `done` says so (the caller's timeout bounds it).
pub(crate) async fn poll_job_every(
    api: &Api,
    job_id: &str,
    every: Duration,
    done: impl Fn(&Value) -> bool,
) -> Result<Value> {
    loop {
        let job = api.job(job_id).await?;
        if done(&job) {
            return Ok(job);
        }
        tokio::time::sleep(every).await;
    }
}
