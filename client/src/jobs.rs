//! The job routes: lists, one job, its actions, output, stream, files, and bulk actions.
use reqwest::Method;

use crate::domain::{JobStatus, TaskId};
use crate::wire::{BulkRequest, BulkResponse, JobArtifactView, JobView, Listing, OutputPage, StreamFilter};
use crate::{Client, Error, Follow, read, segment, wire_name};

/// Which jobs `GET /api/v1/jobs` lists.
#[derive(Debug, Clone, Default)]
pub struct JobsQuery {
    pub status: Option<JobStatus>,
    pub task_id: Option<TaskId>,
    /// Only jobs of tasks that have all of these tags.
    pub tags: Vec<String>,
    /// Only jobs submitted at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only jobs submitted before this time (RFC 3339).
    pub until: Option<String>,
    /// At most this many (the server's default: 1,000).
    pub size: Option<u64>,
}

impl Client {
    /// Jobs, newest first: one slice of at most `query.size` (default 1,000).
    pub async fn jobs(&self, query: &JobsQuery) -> Result<Vec<JobView>, Error> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(status) = query.status {
            params.push(("status", status.as_str().to_string()));
        }
        if let Some(task) = query.task_id {
            params.push(("task_id", task.to_string()));
        }
        if !query.tags.is_empty() {
            params.push(("tags", query.tags.join(",")));
        }
        for (name, time) in [("since", &query.since), ("until", &query.until)] {
            if let Some(time) = time {
                params.push((name, time.clone()));
            }
        }
        if let Some(size) = query.size {
            params.push(("size", size.to_string()));
        }
        let path = "/api/v1/jobs";
        let listing = read(self.send(self.request(Method::GET, path).query(&params), path).await?, path).await?;
        Ok(match listing {
            Listing::All(jobs) => jobs,
            Listing::Page(page) => page.items,
        })
    }

    pub async fn job(&self, id: &str) -> Result<JobView, Error> {
        self.json::<(), _>(Method::GET, &format!("/api/v1/jobs/{}", segment(id)), None).await
    }

    /// Cancels a pending or running job (`$cancel`): its record as the cancel left it.
    pub async fn cancel(&self, id: &str) -> Result<JobView, Error> {
        self.json::<(), _>(Method::POST, &format!("/api/v1/jobs/{}/$cancel", segment(id)), None).await
    }

    /// Runs a finished job again: the new job's record.
    pub async fn retry(&self, id: &str) -> Result<JobView, Error> {
        self.json::<(), _>(Method::POST, &format!("/api/v1/jobs/{}/$retry", segment(id)), None).await
    }

    /// Stored output lines after sequence number `after_seq`, at most `limit` (server default: 1,000).
    pub async fn output(
        &self,
        id: &str,
        stream: StreamFilter,
        after_seq: i64,
        limit: Option<u64>,
    ) -> Result<OutputPage, Error> {
        let path = format!("/api/v1/jobs/{}/output", segment(id));
        let mut params = vec![("after_seq", after_seq.to_string())];
        if stream != StreamFilter::Both {
            params.push(("stream", wire_name(stream)));
        }
        if let Some(limit) = limit {
            params.push(("limit", limit.to_string()));
        }
        read(self.send(self.request(Method::GET, &path).query(&params), &path).await?, &path).await
    }

    /// Follows a job from its first event. See [`Follow`].
    pub fn follow(&self, id: &str) -> Follow {
        Follow::new(self.clone(), id.to_string(), 0, self.reconnect_for)
    }

    /// Follows a job from the event after `seq` (an SSE id seen before).
    pub fn follow_after(&self, id: &str, seq: i64) -> Follow {
        Follow::new(self.clone(), id.to_string(), seq, self.reconnect_for)
    }

    /// Waits for a job to finish, following its stream: its final record.
    pub async fn wait(&self, id: &str) -> Result<JobView, Error> {
        self.follow(id).wait().await
    }

    /// Deletes a finished job with its output and files.
    pub async fn delete_job(&self, id: &str) -> Result<(), Error> {
        let path = format!("/api/v1/jobs/{}", segment(id));
        self.send(self.request(Method::DELETE, &path), &path).await.map(drop)
    }

    /// Retries or deletes many jobs at once (`$bulk`): one result per id.
    pub async fn bulk(&self, request: &BulkRequest) -> Result<BulkResponse, Error> {
        self.json(Method::POST, "/api/v1/jobs/$bulk", Some(request)).await
    }

    /// The files a job left behind.
    pub async fn job_artifacts(&self, id: &str) -> Result<Vec<JobArtifactView>, Error> {
        self.json::<(), _>(Method::GET, &format!("/api/v1/jobs/{}/artifacts", segment(id)), None).await
    }

    /// One of a job's files, by its listed name (which may hold `/`): its bytes.
    pub async fn job_artifact(&self, id: &str, name: &str) -> Result<Vec<u8>, Error> {
        let name = name.split('/').map(segment).collect::<Vec<_>>().join("/");
        let path = format!("/api/v1/jobs/{}/artifacts/{name}", segment(id));
        let response = self.send(self.request(Method::GET, &path), &path).await?;
        Ok(response.bytes().await.map_err(|e| Error::transport(self.base_url(), &e))?.to_vec())
    }
}
