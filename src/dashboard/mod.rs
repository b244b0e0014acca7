//! The dashboard: a small static app (Preact + htm, vendored) that is a client of the public JSON API and its
//! SSE streams. Every asset is compiled into the binary; nothing is fetched from elsewhere at run time.
//!
//! An embedding app mounts it with `App::new().configure(taskyard::dashboard::configure)`; `taskyard serve` also
//! sends `/` there ([`redirect_root`]).
use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::error::{ApiError, ErrorCode};

/// Where the dashboard lives.
pub const PATH: &str = "/dashboard/";

/// The embedded files: name under `/dashboard/`, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("assets/index.html")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("assets/style.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("assets/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_bytes!("assets/api.js")),
    ("ui.js", "text/javascript; charset=utf-8", include_bytes!("assets/ui.js")),
    ("ansi.js", "text/javascript; charset=utf-8", include_bytes!("assets/ansi.js")),
    ("overview.js", "text/javascript; charset=utf-8", include_bytes!("assets/overview.js")),
    ("jobs.js", "text/javascript; charset=utf-8", include_bytes!("assets/jobs.js")),
    ("job.js", "text/javascript; charset=utf-8", include_bytes!("assets/job.js")),
    ("tasks.js", "text/javascript; charset=utf-8", include_bytes!("assets/tasks.js")),
    ("runform.js", "text/javascript; charset=utf-8", include_bytes!("assets/runform.js")),
    ("vendor/htm-preact.js", "text/javascript; charset=utf-8", include_bytes!("assets/vendor/htm-preact.js")),
    ("vendor/LICENSE.txt", "text/plain; charset=utf-8", include_bytes!("assets/vendor/LICENSE.txt")),
];

/// The pages allow only their own scripts, styles and API calls: job output can never run as code.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Registers `/dashboard` (redirect), `/dashboard/` and `/dashboard/{file}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/dashboard").get(|| async { see_other(PATH) }))
        .service(web::resource("/dashboard/").get(|| async { asset("index.html") }))
        .service(web::resource("/dashboard/{file:.+}").get(|file: web::Path<String>| async move { asset(&file) }));
}

/// `GET /` → `/dashboard/`, for a server whose root is the dashboard's.
pub fn redirect_root(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").get(|| async { see_other(PATH) }));
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::Found().insert_header((header::LOCATION, to)).finish()
}

fn asset(name: &str) -> Result<HttpResponse, ApiError> {
    let Some((_, kind, bytes)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return Err(ApiError::new(ErrorCode::NotFound, format!("the dashboard has no file '{}'", name.escape_debug())));
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, *kind))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(*bytes))
}
