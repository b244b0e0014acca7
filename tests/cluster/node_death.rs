//! A node is killed (-9) while it runs jobs. When their leases expire, the other nodes rescue them: the ones whose
//! retry policy retries `lost` run again elsewhere (attempt 2) and complete, the others end `failed`/`lost`. A client
//! following one of them on a third node sees the whole story, and the registry shows the dead node `gone`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Cluster, nodes_seen_by, poll_until, serve_args};
use crate::helpers::{JobStream, SseEvent, assert_consecutive_ids, lines_of, str_of, wait_for_processes};

const LEASE_SECONDS: u64 = 2;
/// The sleep of a first attempt, a duration no other test uses. It is the shell's child: both die with the killed
/// server (its job supervisor kills the whole tree); were one left, the rescuer would find it by its TASKYARD_JOB_ID.
const SLEEPER: [&str; 2] = ["sleep", "47.3"];
/// The first attempt prints and then hangs; a later one prints and completes.
const SCRIPT: &str = "sh -c 'echo attempt $TASKYARD_ATTEMPT; if [ $TASKYARD_ATTEMPT = 1 ]; then sleep 47.3; fi; \
                      echo done $TASKYARD_ATTEMPT'";
/// Jobs of each kind (retrying / not) on the node that dies.
const EACH: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_jobs_are_rescued_by_the_others_within_a_lease() {
    let lease = Duration::from_secs(LEASE_SECONDS);
    let args = serve_args(8, &["sh", "sleep", "echo", "true"], &["--lease-seconds", &LEASE_SECONDS.to_string()]);
    // The victim starts alone and claims every job; the others join once it runs them.
    let Some(mut cluster) = Cluster::start(1, &args).await else { return };
    cluster.kill_at_end(&SLEEPER);
    let victim = &cluster.nodes[0];
    let retrying = victim
        .api
        .create_task_ok(json!({
            "command": SCRIPT,
            "retry": {"max_attempts": 2, "on": ["lost"], "initial_delay_seconds": 0},
        }))
        .await;
    let once = victim.api.create_task_ok(json!({ "command": SCRIPT })).await;
    let mut jobs: Vec<(String, bool)> = Vec::new();
    for _ in 0..EACH {
        jobs.push((victim.api.execute_ok(str_of(&retrying, "id"), None).await, true));
        jobs.push((victim.api.execute_ok(str_of(&once, "id"), None).await, false));
    }
    for (job, _) in &jobs {
        let events = victim.api.stream(job, None).await.until("the first line", is_line("attempt 1")).await;
        let running = events.iter().filter_map(SseEvent::job).find(|j| j["status"] == "running").expect("running");
        assert_eq!(running["node_id"], victim.id.as_str(), "the victim runs every job: {running}");
    }
    let sleepers = wait_for_processes(&SLEEPER, Duration::from_secs(5), |p| p.len() == 2 * EACH).await;
    assert_eq!(sleepers.len(), 2 * EACH, "every first attempt sleeps");

    cluster.add_nodes(2, &args).await;
    let victim_id = cluster.nodes[0].id.clone();
    let rescuer_ids: Vec<String> = cluster.nodes[1..].iter().map(|n| n.id.clone()).collect();
    // Followers on the survivors, caught up with the first attempt before the kill. The first job's follower is
    // on the node that joined last, whichever survivor rescues the job.
    let mut streams: Vec<JobStream> = Vec::new();
    let mut stories: Vec<Vec<SseEvent>> = Vec::new();
    for (i, (job, _)) in jobs.iter().enumerate() {
        let follower = &cluster.nodes[2 - i % 2].api;
        let mut stream = follower.stream(job, None).await;
        stories.push(stream.until("the first line", is_line("attempt 1")).await);
        streams.push(stream);
    }

    let mut victim = cluster.nodes.remove(0);
    let killed_at = Instant::now();
    victim.server.kill9().await;

    // Each follower sees its job rescued: a retry event, or the final failed record.
    let rescues = futures_util::future::join_all(streams.iter_mut().map(|stream| async move {
        let events = stream.until("the rescue", |e| e.event == "retry" || e.is_terminal()).await;
        (killed_at.elapsed(), events)
    }))
    .await;
    let times: Vec<Duration> = rescues.iter().map(|(t, _)| *t).collect();
    let (first, last) = (times.iter().min().copied().expect("jobs"), times.iter().max().copied().expect("jobs"));
    eprintln!("rescue after kill -9 (lease {LEASE_SECONDS} s): first {first:.2?}, last {last:.2?}, each {times:.2?}");
    let bound = lease + lease / 3 + Duration::from_millis(1500);
    assert!(last <= bound, "jobs rescued {last:?} after the kill; expected about lease + lease/3 (at most {bound:?})");
    assert!(first >= lease / 4, "a job was rescued {first:?} after the kill, before its lease could expire");

    // No sleep of the dead node's jobs is left (its supervisor killed them; the rescuer would too, on this host).
    let left = wait_for_processes(&SLEEPER, Duration::from_secs(5), |p| p.is_empty()).await;
    assert!(left.is_empty(), "processes of the dead node's jobs outlived the rescue: {left:?}");

    // How each job ends, read to the end on the same follower.
    for (((stream, story), (_, rescue)), (job, retries)) in streams.iter_mut().zip(&mut stories).zip(rescues).zip(&jobs)
    {
        story.extend(rescue);
        if !story.last().is_some_and(SseEvent::is_terminal) {
            story.extend(stream.until_done().await);
        }
        stream.assert_ends().await;
        let last = story.last().and_then(SseEvent::job).expect("a final record");
        if *retries {
            assert_eq!(last["status"], "completed", "a retrying job completes on a survivor: {last}");
            assert_eq!(last["attempt"], 2, "{last}");
            assert!(rescuer_ids.iter().any(|id| last["node_id"] == id.as_str()), "attempt 2 ran on a survivor: {last}");
            assert_eq!(lines_of(story, "stdout"), ["attempt 1", "attempt 2", "done 2"], "{job}: {story:#?}");
        } else {
            assert_eq!(last["status"], "failed", "{last}");
            assert_eq!(last["outcome"], "lost", "{last}");
            assert_eq!(last["attempt"], 1, "{last}");
            assert!(str_of(&last, "error").starts_with("runner lost"), "{last}");
            assert_eq!(lines_of(story, "stdout"), ["attempt 1"], "{job}: {story:#?}");
        }
        assert_consecutive_ids(story, 1);
    }

    // The whole story of the first retrying job, as its follower on the third node saw it.
    let story = &stories[0];
    let kinds: Vec<String> = story
        .iter()
        .map(|e| match e.job() {
            Some(job) => format!("{} {}", job["status"].as_str().unwrap_or("?"), job["attempt"]),
            None => format!("{} {}", e.event, if e.event == "retry" { "" } else { e.data.as_str() }),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "pending 1",
            "running 1",
            "stdout attempt 1",
            "retry ",
            "pending 2",
            "running 2",
            "stdout attempt 2",
            "stdout done 2",
            "completed 2"
        ],
        "{story:#?}"
    );
    let retry: Value = serde_json::from_str(&story[3].data).expect("retry data is JSON");
    assert_eq!(retry["attempt"], 1, "{retry}");
    assert_eq!(retry["next_attempt"], 2, "{retry}");
    assert_eq!(retry["outcome"], "lost", "{retry}");
    assert_eq!(retry["delay_ms"], 0, "{retry}");
    let running = [&story[1], &story[5]].map(|e| e.job().expect("a record")["node_id"].clone());
    assert_eq!(running[0], victim_id.as_str(), "attempt 1 ran on the victim");
    assert!(rescuer_ids.iter().any(|id| running[1] == id.as_str()), "attempt 2 ran on a survivor: {story:#?}");

    // The registry, on both survivors: the dead node is gone (a lease after its last heartbeat), the others up.
    for survivor in &cluster.nodes {
        let registry = poll_until("the dead node to show gone", lease * 3, async || {
            let nodes = nodes_seen_by(&survivor.api).await;
            let dead = nodes.iter().find(|n| n["id"] == victim_id.as_str()).cloned();
            match dead {
                Some(node) if node["status"] == "gone" => Ok(nodes),
                _ => Err(format!("{nodes:#?}")),
            }
        })
        .await;
        assert_eq!(registry.len(), 3, "{registry:#?}");
        for node in &cluster.nodes {
            let entry = registry.iter().find(|n| n["id"] == node.id.as_str()).expect("listed");
            assert_eq!(entry["status"], "up", "{entry}");
        }
        let dead = registry.iter().find(|n| n["id"] == victim_id.as_str()).expect("listed");
        assert_eq!(dead["running_jobs"], 0, "{dead}");
        assert!(dead["stopped_at"].is_null(), "a killed node did not stop cleanly: {dead}");
    }
}

fn is_line(text: &'static str) -> impl Fn(&SseEvent) -> bool {
    move |e| e.event == "stdout" && e.data == text
}
