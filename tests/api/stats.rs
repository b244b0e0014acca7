//! `GET /api/v1/stats/finished`: jobs finished per minute by outcome, for the dashboard's chart.
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_are_counted_by_minute_and_outcome() {
    let app = spawn_app().await;
    let empty = app.get("/api/v1/stats/finished").await.expect(200, "before any job");
    assert_eq!(empty["minutes"], 60, "{empty}");
    assert_eq!(empty["counts"], serde_json::json!([]), "{empty}");

    for command in ["true", "true", "false"] {
        app.run(command).await;
    }
    let stats = app.get("/api/v1/stats/finished?minutes=5").await.expect(200, "after three jobs");
    assert_eq!(stats["minutes"], 5, "{stats}");
    let counts = stats["counts"].as_array().unwrap_or_else(|| panic!("counts: {stats}"));
    let total = |outcome: &str| -> i64 {
        counts.iter().filter(|c| c["outcome"] == outcome).map(|c| c["count"].as_i64().expect("count")).sum()
    };
    assert_eq!((total("success"), total("exit_code")), (2, 1), "{stats}");
    // Every minute lies in the window, on a minute boundary.
    let since = stats["since"].as_str().expect("since");
    for c in counts {
        let minute = c["minute"].as_str().expect("minute");
        assert!(minute >= since && minute.ends_with(":00.000Z"), "{c} since {since}");
    }
    assert!(since.ends_with(":00.000Z"), "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_outside_one_minute_to_a_day_is_refused() {
    let app = spawn_app().await;
    for query in ["minutes=0", "minutes=1441", "minutes=x", "minute=5"] {
        let reply = app.get(&format!("/api/v1/stats/finished?{query}")).await;
        let problem: Value = reply.expect_problem(400, "invalid_query", query);
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "{problem}");
    }
}
