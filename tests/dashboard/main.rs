//! Browser tests of the dashboard: the real server, headless Chromium over WebDriver, the pages used as a person
//! uses them. Every wait is for an element that shows the awaited state; nothing sleeps.
mod browser;

use browser::{Step, browser, server};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_task_made_in_the_form_runs_from_its_generated_form_shows_lines_live_and_cancels() {
    let app = server(|_| {}).await;
    let Some(b) = browser("create_run_cancel").await else { return };
    let outcome = async {
        b.client.goto(&format!("{}/dashboard/#/tasks/new", app.base)).await?;
        b.type_into("#task-form input[name=name]", "ticker").await?;
        b.type_into("#task-form input[name=command]", r#"sh -c 'echo "$1"; exec sleep 60' sh {word}"#).await?;
        b.type_into("#task-form textarea[name=params]", r#"{"word": "hello"}"#).await?;
        b.type_into("#task-form input[name=tags]", "demo, slow").await?;
        b.click("#save-task").await?;
        // The run form comes from the task's placeholder, with its default shown.
        let field = b.wait_for("#run-form #param-word").await?;
        assert_eq!(field.attr("placeholder").await?.as_deref(), Some("hello"));
        b.picture("run").await?;
        b.type_into("#param-word", "a-live-line").await?;
        b.click("#run").await?;
        // The line arrives while the job still runs.
        let line = b.wait_for("#output .line.stdout").await?;
        assert_eq!(line.text().await?, "a-live-line");
        b.wait_for("#job-status .s-running").await?;
        b.picture("job").await?;
        b.click("#cancel").await?;
        b.wait_for("#job-status .s-canceled").await?;
        b.client.goto(&format!("{}/dashboard/#/tasks", app.base)).await?;
        b.wait_for("#tasks tr[data-task=ticker]").await?;
        b.picture("tasks").await?;
        // The jobs list filtered by a tag typed into its filter (Enter applies it), then by a time to come.
        b.client.goto(&format!("{}/dashboard/#/jobs", app.base)).await?;
        b.wait_for("#jobs tbody tr[data-status=canceled]").await?;
        b.type_into("#filter-tags", "nomatch\n").await?;
        b.wait_for("#no-jobs").await?;
        assert!(b.client.current_url().await?.as_str().ends_with("#/jobs?tags=nomatch"));
        b.client.goto(&format!("{}/dashboard/#/jobs?tags=slow", app.base)).await?;
        b.wait_for("#jobs tbody tr[data-status=canceled]").await?;
        b.client.goto(&format!("{}/dashboard/#/jobs?tags=slow&since=2099-01-01T00:00:00.000Z", app.base)).await?;
        b.wait_for("#no-jobs").await?;
        let since = b.wait_for("#filter-since").await?.prop("value").await?.unwrap_or_default();
        assert!(since.starts_with("2099-01-01") || since.starts_with("2098-12-31"), "{since:?}");
        Step::Ok(())
    }
    .await;
    b.finish("create_run_cancel", outcome).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_job_is_retried_from_its_page_and_failed_jobs_retried_and_deleted_together_from_the_list() {
    let app = server(|_| {}).await;
    let Some(b) = browser("retry").await else { return };
    let task = app
        .api(Method::POST, "/api/v1/tasks", json!({"name": "fails", "command": r#"sh -c 'printf "\033[31mno\033[0m\n" >&2; echo "<img src=x id=injected>"; exit 3'"#}))
        .await;
    for _ in 0..2 {
        app.api(Method::POST, &format!("/api/v1/tasks/{}/$execute", task["id"].as_str().unwrap()), json!({})).await;
    }
    let outcome = async {
        b.client.goto(&format!("{}/dashboard/#/jobs?status=failed", app.base)).await?;
        // Both failed (the list follows new jobs while open).
        b.wait_for("#jobs tbody tr:nth-child(2)[data-status=failed]").await?;
        b.picture("jobs").await?;
        b.click("#jobs tbody tr:nth-child(1) a").await?;
        // The red of the ANSI escape is a class on a text span; markup in output is text, never HTML.
        let err = b.wait_for("#output .line.stderr span.fg31").await?;
        assert_eq!(err.text().await?, "no");
        let out = b.wait_for("#output .line.stdout").await?;
        assert_eq!(out.text().await?, "<img src=x id=injected>");
        assert!(b.client.find(fantoccini::Locator::Css("#injected")).await.is_err(), "output became an element");
        b.wait_for("#job-status .s-failed").await?;
        let first = b.client.current_url().await?;
        b.click("#retry").await?;
        // The retry is a new job: its page opens (the address changes; the old page still shows `failed` until
        // then) and follows it to its end.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while b.client.current_url().await? == first && std::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert_ne!(b.client.current_url().await?, first, "the retry's page opened");
        b.wait_for("#job-status .s-failed").await?;
        b.client.goto(&format!("{}/dashboard/#/jobs?status=failed", app.base)).await?;
        b.wait_for("#jobs tbody tr:nth-child(3)[data-status=failed]").await?;
        b.click("#jobs tbody tr:nth-child(2) input.select").await?;
        b.click("#jobs tbody tr:nth-child(3) input.select").await?;
        b.click("#bulk-retry").await?;
        b.wait_for("#bulk-results[data-action=retry] li.ok:nth-child(2)").await?;
        // The two retries fail too; delete two failed jobs together.
        b.wait_for("#jobs tbody tr:nth-child(5)[data-status=failed]").await?;
        b.click("#jobs tbody tr:nth-child(1) input.select").await?;
        b.click("#jobs tbody tr:nth-child(2) input.select").await?;
        b.click("#bulk-delete").await?;
        b.wait_for("#bulk-results[data-action=delete] li.ok:nth-child(2)").await?;
        b.client.goto(&format!("{}/dashboard/#/", app.base)).await?;
        b.wait_for("#counts .count[data-status=failed]").await?;
        // The failures of this minute: the chart has a bar for them.
        b.wait_for("#finished-chart rect.failure").await?;
        b.picture("overview").await?;
        b.client.goto(&format!("{}/dashboard/#/orphans", app.base)).await?;
        b.wait_for("#orphan-count").await?;
        b.picture("orphans").await?;
        Step::Ok(())
    }
    .await;
    b.finish("retry", outcome).await;
    let jobs = app.api(Method::GET, "/api/v1/jobs", json!(null)).await;
    assert_eq!(
        jobs.as_array().map(Vec::len),
        Some(3),
        "2 jobs, 1 retried from its page, 2 retried together, 2 deleted: {jobs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_api_keys_on_the_dashboard_asks_for_one_and_keeps_it_for_the_tab_only() {
    let app = server(|s| s.api_keys = vec!["dashboard-test-key-0123456789".into()]).await;
    app.api(Method::POST, "/api/v1/tasks", json!({"name": "guarded", "command": "sh -c true"})).await;
    let Some(b) = browser("key_prompt").await else { return };
    let outcome = async {
        b.client.goto(&format!("{}/dashboard/#/tasks", app.base)).await?;
        b.type_into("#key-form[data-ask='1'] #api-key", "wrong").await?;
        b.click("#key-form button").await?;
        // A wrong key is asked for again; the right one shows the page.
        let prompt = b.wait_for("#key-form[data-ask='2'] p").await?;
        assert!(prompt.text().await?.contains("not valid"), "{}", prompt.text().await?);
        b.type_into("#api-key", "dashboard-test-key-0123456789").await?;
        b.click("#key-form button").await?;
        b.wait_for("#tasks tr[data-task=guarded]").await?;
        let stored = b.client.execute("return sessionStorage.getItem('taskyard.apiKey')", vec![]).await?;
        assert_eq!(stored, json!("dashboard-test-key-0123456789"));
        let local = b.client.execute("return localStorage.length", vec![]).await?;
        assert_eq!(local, json!(0), "the key is never kept beyond the tab");
        assert!(!b.client.current_url().await?.as_str().contains("dashboard-test-key"));
        Step::Ok(())
    }
    .await;
    b.finish("key_prompt", outcome).await;
}
