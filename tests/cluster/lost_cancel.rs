//! A cancel must not be lost on its way to another node. `DELETE /api/v1/jobs/{id}` of a job running elsewhere
//! stores the request and notifies; the runner also finds the request when it renews its lease, and whoever rescues
//! the job of a dead node ends it canceled instead of retrying it. Both ways a notification alone would miss:
//!
//! - the runner's node has no `LISTEN` connection at that moment (a connection drop, a database restart);
//! - the runner's node is dead (its lease not yet expired): the rescue must not run the job again.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use serde_json::json;

use crate::harness::{Cluster, poll_until, serve_args};
use crate::helpers::{SseEvent, pids_with_cmdline, str_of, wait_for_processes};

/// Long enough that a cancel that never arrives shows; distinctive, for the cleanup.
const DEAF_SLEEPER: [&str; 2] = ["sleep", "521.3"];
/// How long a cancel may take to show on the job's stream (it takes milliseconds when it works).
const CANCEL_WITHIN: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_sent_while_the_runners_node_cannot_listen_is_not_lost() {
    let Some(mut cluster) = Cluster::start(2, &serve_args(4, &["sleep"], &[])).await else { return };
    cluster.kill_at_end(&DEAF_SLEEPER);
    let task = cluster.nodes[0].api.task(&DEAF_SLEEPER.join(" ")).await;
    let job = cluster.nodes[0].api.execute_ok(str_of(&task, "id"), None).await;
    let events = cluster.nodes[0].api.stream(&job, None).await.until_status("running").await;
    let a = cluster.index_of(str_of(&events.last().and_then(SseEvent::job).expect("running"), "node_id"));
    let b = &cluster.nodes[1 - a];
    let mut stream = b.api.stream(&job, None).await;
    stream.until_status("running").await;

    // Cut every node's LISTEN connection and keep them from reconnecting for a moment (the nodes keep their pooled
    // connections, so the API still works): a network blip or a database restart, as the nodes see it.
    let (admin, name) = connect_to(cluster.db.url()).await;
    let listeners = format!("SELECT pid FROM pg_stat_activity WHERE datname = '{name}' AND query ILIKE 'listen%'");
    admin.execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await.expect("lock out");
    let cut = admin
        .execute_unprepared(&format!("SELECT pg_terminate_backend(pid) FROM ({listeners}) AS l"))
        .await
        .expect("terminate the listeners");
    let canceled = b.api.cancel(&job).await;
    admin.execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await.expect("let in again");
    assert_eq!(cut.rows_affected(), 2, "both nodes' LISTEN connections were cut");
    canceled.expect(202, "cancel on B while A cannot listen");
    // Both nodes listen again (they retry every second).
    poll_until("both nodes to LISTEN again", Duration::from_secs(10), async || {
        let listening = admin.execute_unprepared(&listeners).await.map_err(|e| e.to_string())?.rows_affected();
        if listening == 2 { Ok(()) } else { Err(format!("{listening} LISTEN connections")) }
    })
    .await;

    // The nodes reconnect within a second; the cancel must still take effect.
    let end = tokio::time::timeout(CANCEL_WITHIN, stream.until_done()).await;
    let now = b.api.get_job_ok(&job).await;
    let Ok(events) = end else {
        let pids = pids_with_cmdline(&DEAF_SLEEPER);
        panic!(
            "DELETE answered 202, but {CANCEL_WITHIN:?} later (both nodes listening again) the job still runs, \
             its process alive (pids {pids:?}): {now}"
        );
    };
    let last = events.last().and_then(SseEvent::job).expect("the final record");
    assert_eq!(last["status"], "canceled", "{last}");
    let left = wait_for_processes(&DEAF_SLEEPER, Duration::from_secs(5), |p| p.is_empty()).await;
    assert!(left.is_empty(), "the canceled job's process outlived it: {left:?}");
}

const DEAD_SLEEPER: [&str; 2] = ["sleep", "59.1"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_canceled_while_its_node_is_dead_is_not_run_again() {
    let args = serve_args(4, &["sh", "sleep"], &["--lease-seconds", "2"]);
    let Some(mut cluster) = Cluster::start(1, &args).await else { return };
    cluster.kill_at_end(&DEAD_SLEEPER);
    let task = cluster.nodes[0]
        .api
        .create_task_ok(json!({
            "command": "sh -c 'echo attempt $TASKYARD_ATTEMPT; sleep 59.1'",
            "retry": {"max_attempts": 2, "on": ["lost"], "initial_delay_seconds": 0},
        }))
        .await;
    let job = cluster.nodes[0].api.execute_ok(str_of(&task, "id"), None).await;
    cluster.nodes[0].api.stream(&job, None).await.until("the first line", |e| e.data == "attempt 1").await;
    cluster.add_nodes(1, &args).await;
    let mut stream = cluster.nodes[1].api.stream(&job, None).await;
    stream.until("the first line", |e| e.data == "attempt 1").await;

    cluster.nodes[0].server.kill9().await;
    cluster.nodes[1].api.cancel(&job).await.expect(202, "cancel a job whose node just died");

    // The lease expires within 2 s; whatever the reaper does then, the job must end canceled, not run again.
    let next = stream.until("the end or a retry", |e| e.is_terminal() || e.event == "retry").await;
    let last = next.last().expect("an event");
    assert!(
        last.event != "retry",
        "DELETE answered 202, yet the job is being retried (it will run again as attempt 2): {next:#?}"
    );
    let record = last.job().expect("the final record");
    assert_eq!(record["status"], "canceled", "{record}");
    assert_eq!(record["attempt"], 1, "{record}");
}

/// A connection to the server's maintenance database `postgres` (a database's connections can only be refused
/// from another one), and the name of the test's database.
async fn connect_to(url: &str) -> (DatabaseConnection, String) {
    let mut admin = reqwest::Url::parse(url).expect("a URL");
    let name = admin.path().trim_start_matches('/').to_string();
    admin.set_path("/postgres");
    let mut options = ConnectOptions::new(admin.to_string());
    options.sqlx_logging(false).max_connections(1).min_connections(1);
    (Database::connect(options).await.expect("connect to the test database"), name)
}
