//! The task routes: CRUD, `$execute`, `$orphaned` and the schedule previews.
use reqwest::Method;

use crate::domain::ScheduleSpec;
use crate::domain::task::OrphanReason;
use crate::wire::{
    CreateTask, ExecuteRequest, ExecuteResponse, OrphanedTask, OrphansResponse, SchedulePreview, TaskView, UpdateTask,
};
use crate::{Client, Error, next_link, read, segment, wire_name};

impl Client {
    /// Every task, oldest first (following the `Link` header past the first 1,000).
    pub async fn tasks(&self) -> Result<Vec<TaskView>, Error> {
        self.all("/api/v1/tasks").await
    }

    pub async fn create_task(&self, task: &CreateTask) -> Result<TaskView, Error> {
        self.json(Method::POST, "/api/v1/tasks", Some(task)).await
    }

    /// A task, by id or unique name.
    pub async fn task(&self, id_or_name: &str) -> Result<TaskView, Error> {
        self.json::<(), _>(Method::GET, &format!("/api/v1/tasks/{}", segment(id_or_name)), None).await
    }

    /// Changes the fields `update` has (PATCH semantics: the others keep their values).
    pub async fn update_task(&self, id_or_name: &str, update: &UpdateTask) -> Result<TaskView, Error> {
        self.json(Method::PATCH, &format!("/api/v1/tasks/{}", segment(id_or_name)), Some(update)).await
    }

    pub async fn delete_task(&self, id_or_name: &str) -> Result<(), Error> {
        let path = format!("/api/v1/tasks/{}", segment(id_or_name));
        self.send(self.request(Method::DELETE, &path), &path).await.map(drop)
    }

    /// Runs a task: the queued job's id.
    pub async fn execute(&self, id_or_name: &str, request: &ExecuteRequest) -> Result<ExecuteResponse, Error> {
        self.json(Method::POST, &format!("/api/v1/tasks/{}/$execute", segment(id_or_name)), Some(request)).await
    }

    /// Runs a task with an `Idempotency-Key`: a repeat within 24 h answers with the job queued the first time.
    pub async fn execute_once(
        &self,
        id_or_name: &str,
        request: &ExecuteRequest,
        idempotency_key: &str,
    ) -> Result<ExecuteResponse, Error> {
        let path = format!("/api/v1/tasks/{}/$execute", segment(id_or_name));
        let builder = self.request(Method::POST, &path).header("Idempotency-Key", idempotency_key).json(request);
        read(self.send(builder, &path).await?, &path).await
    }

    /// Every orphaned task (following the `Link` header), optionally of one reason only.
    pub async fn orphans(&self, reason: Option<OrphanReason>) -> Result<Vec<OrphanedTask>, Error> {
        let mut path = match reason {
            Some(r) => format!("/api/v1/tasks/$orphaned?reason={}", wire_name(r)),
            None => "/api/v1/tasks/$orphaned".to_string(),
        };
        let mut all = Vec::new();
        loop {
            let response = self.send(self.request(Method::GET, &path), &path).await?;
            let next = next_link(response.headers());
            let page: OrphansResponse = read(response, &path).await?;
            all.extend(page.orphaned_tasks);
            match next {
                Some(next) => path = next,
                None => return Ok(all),
            }
        }
    }

    /// The next `count` fires (1 to 100; server default 5) of a task's schedule.
    pub async fn task_schedule(&self, id_or_name: &str, count: Option<u32>) -> Result<SchedulePreview, Error> {
        let path = format!("/api/v1/tasks/{}/$schedule", segment(id_or_name));
        let params: Vec<(&str, String)> = count.map(|c| ("count", c.to_string())).into_iter().collect();
        read(self.send(self.request(Method::GET, &path).query(&params), &path).await?, &path).await
    }

    /// The next `count` fires of a schedule that is not stored: checks an expression and its time zone.
    pub async fn preview_schedule(&self, spec: &ScheduleSpec, count: Option<u32>) -> Result<SchedulePreview, Error> {
        let path = "/api/v1/schedules/$preview";
        let params: Vec<(&str, String)> = count.map(|c| ("count", c.to_string())).into_iter().collect();
        read(self.send(self.request(Method::POST, path).query(&params).json(spec), path).await?, path).await
    }
}
