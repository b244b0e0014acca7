//! The registered-function routes: the registry, running a function by name, and a function job's result record.
use reqwest::Method;
use serde_json::{Map, Value};

use crate::wire::{ArtifactView, ExecuteFunction, ExecuteResponse, FunctionView};
use crate::{Client, Error, segment};

impl Client {
    /// The functions the live nodes register, by name.
    pub async fn functions(&self) -> Result<Vec<FunctionView>, Error> {
        self.all("/api/v1/functions").await
    }

    /// One registered function: its description, tags and the JSON Schema of its params.
    pub async fn function(&self, name: &str) -> Result<FunctionView, Error> {
        self.json::<(), _>(Method::GET, &format!("/api/v1/functions/{}", segment(name)), None).await
    }

    /// Runs a function by name with `params` (over its defaults): the queued job's id.
    pub async fn execute_function(&self, name: &str, params: Map<String, Value>) -> Result<ExecuteResponse, Error> {
        let path = format!("/api/v1/functions/{}/$execute", segment(name));
        self.json(Method::POST, &path, Some(&ExecuteFunction { params })).await
    }

    /// The result record of a finished function job, by the job's `artifact_id`.
    pub async fn artifact(&self, id: &str) -> Result<ArtifactView, Error> {
        self.json::<(), _>(Method::GET, &format!("/api/v1/artifacts/{}", segment(id)), None).await
    }
}
