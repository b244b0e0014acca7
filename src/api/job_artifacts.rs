//! `/api/v1/jobs/{id}/artifacts`: the files a job left in `$TASKYARD_ARTIFACTS_DIR`, listed and downloaded.
//! A download is never rendered as a page of ours: `X-Content-Type-Options: nosniff`, a sandboxing
//! `Content-Security-Policy`, and `Content-Disposition: attachment` for every type but plain text, JSON and common
//! images.
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use futures_util::TryStreamExt;

use super::query::{NoQuery, Query};
use super::{AppState, job_id};
use crate::domain::job_artifact::is_artifact_name;
use crate::domain::{JobArtifact, JobId};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::store::StoreError;
use crate::wire::JobArtifactView;

/// Types shown inline (they run nothing in a browser); everything else is an attachment.
const INLINE: &[&str] = &["text/plain", "application/json", "image/png", "image/jpeg", "image/gif", "image/webp"];

async fn job_exists(state: &AppState, id: JobId) -> Result<(), ApiError> {
    state.engine.store().jobs().get(id).await.map(|_| ()).map_err(|e| match e {
        StoreError::NotFound => ApiError::new(ErrorCode::JobNotFound, format!("no job with id {id}")),
        other => other.into(),
    })
}

/// The files each attempt of the job left in `$TASKYARD_ARTIFACTS_DIR`, by attempt and name: kept ones with their
/// size, content type and SHA-256; dropped ones with the reason.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/artifacts", operation_id = "list_job_artifacts", tag = "jobs",
    params(("id" = inline(JobId), Path, description = "Job id")),
    responses(
        (status = 200, description = "The job's files", body = Vec<JobArtifactView>),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    id: web::Path<String>,
    _query: Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&id)?;
    job_exists(&state, id).await?;
    let files = state.engine.store().job_artifacts().of_job(id).await?;
    Ok(HttpResponse::Ok().json(files.iter().map(JobArtifactView::from).collect::<Vec<_>>()))
}

/// Download a kept file (of the latest attempt that left one by that name). `name` is its path as listed, with
/// `/` between directories.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/artifacts/{name}", operation_id = "get_job_artifact", tag = "jobs",
    params(
        ("id" = inline(JobId), Path, description = "Job id"),
        ("name" = String, Path, description = "The file's name as listed (may hold `/`)"),
    ),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream", body = Vec<u8>,
            headers(
                ("Content-Disposition" = String, description = "`attachment` (or `inline` for plain text, JSON and images) with the file's name"),
                ("X-Content-Type-Options" = String, description = "`nosniff`"),
            )),
        (status = 400, description = "Not a job id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job or file", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The file was found but not kept (see its reason in the list)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The artifact store cannot be read", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn download(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    _query: Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let id = job_id(&id)?;
    job_exists(&state, id).await?;
    let missing = || ApiError::new(ErrorCode::JobArtifactNotFound, format!("job {id} has no file named '{name}'"));
    // A name no kept file can have (`..`, a backslash, a control character) is not looked up: it is not there.
    if !is_artifact_name(&name) {
        return Err(missing());
    }
    let file = state.engine.store().job_artifacts().latest(id, &name).await?.ok_or_else(missing)?;
    let (Some(key), None) = (&file.object_key, file.dropped) else {
        let why = file.dropped.map_or("not kept", |r| r.as_str());
        return Err(ApiError::new(ErrorCode::JobArtifactDropped, format!("'{name}' was not kept: {why}")));
    };
    let bytes = state.engine.job_artifacts().read(key).await.map_err(|e| {
        tracing::warn!(job = %id, artifact = %name, error = %e, "cannot read a job artifact");
        ApiError::new(ErrorCode::JobArtifactUnavailable, "the artifact store cannot give this file now")
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, file.content_type.as_str()))
        .insert_header((header::CONTENT_DISPOSITION, disposition(&file)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'"))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .no_chunking(file.size as u64)
        .streaming(bytes.map_err(std::io::Error::other)))
}

/// `attachment` (or `inline`) with the file's base name, as ASCII and as RFC 8187 UTF-8.
fn disposition(file: &JobArtifact) -> String {
    let base = file.name.rsplit('/').next().unwrap_or(&file.name);
    let kind = if INLINE.contains(&file.content_type.as_str()) { "inline" } else { "attachment" };
    let ascii: String =
        base.chars().map(|c| if c.is_ascii_alphanumeric() || "._- ".contains(c) { c } else { '_' }).collect();
    let mut encoded = String::new();
    for b in base.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}
