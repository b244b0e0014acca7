//! `GET /health`.

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_ok_with_the_version() {
    let app = spawn_app().await;
    let reply = app.health().await;
    let body = reply.expect(200, "health");
    assert!(reply.content_type().starts_with("application/json"), "content type {:?}", reply.content_type());
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["database"], "ok", "{body}");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"), "{body}");
}
