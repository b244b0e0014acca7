//! A job runs on node A; a client follows it on node B, drops the connection after about 50 lines and reconnects to
//! node C with `Last-Event-ID`: it gets every line exactly once, in order, and the final record.

use crate::harness::{Cluster, serve_args};
use crate::helpers::{SseEvent, assert_consecutive_ids, lines_of, str_of};

const LINES: usize = 200;
const FIRST_PART: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_resumed_on_another_node_misses_and_repeats_nothing() {
    let Some(cluster) = Cluster::start(3, &serve_args(4, &["sh", "sleep", "echo", "true"], &[])).await else {
        return;
    };
    // The job waits for a gate file before printing, so that every line is printed while the client follows.
    let gate = cluster.dir.path().join("gate");
    let command = format!(
        "sh -c 'while [ ! -e {gate} ]; do sleep 0.01; done; \
         i=0; while [ $i -lt {LINES} ]; do echo $i; i=$((i+1)); sleep 0.01; done'",
        gate = gate.display()
    );
    let submitter = &cluster.nodes[0].api;
    let task = submitter.task(&command).await;
    let job = submitter.execute_ok(str_of(&task, "id"), None).await;

    // Whichever node claimed it is A; the client uses the two others.
    let events = submitter.stream(&job, None).await.until_status("running").await;
    let running = events.last().and_then(SseEvent::job).expect("the running record");
    let a = cluster.index_of(str_of(&running, "node_id"));
    let (b, c) = ((a + 1) % 3, (a + 2) % 3);

    let mut on_b = cluster.nodes[b].api.stream(&job, None).await;
    std::fs::write(&gate, b"").expect("open the gate");
    let first = on_b.until("line 49", |e| e.event == "stdout" && e.data == (FIRST_PART - 1).to_string()).await;
    drop(on_b);
    let resume_after = first.last().expect("events").id;

    let now = cluster.nodes[c].api.get_job_ok(&job).await;
    assert_eq!(now["status"], "running", "the job still runs when the client comes back: {now}");
    let mut on_c = cluster.nodes[c].api.stream(&job, Some(resume_after)).await;
    let rest = on_c.read_to_end().await;

    let all: Vec<SseEvent> = first.into_iter().chain(rest).collect();
    assert_consecutive_ids(&all, 1);
    let expected: Vec<String> = (0..LINES).map(|i| i.to_string()).collect();
    assert_eq!(lines_of(&all, "stdout"), expected, "every line once, in order");
    let last = all.last().and_then(SseEvent::job).expect("the stream ends with the final record");
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["stdout_lines"], LINES, "{last}");
    assert_eq!(last["node_id"], cluster.nodes[a].id.as_str(), "it ran on A: {last}");
    assert_eq!(all.iter().filter(|e| e.is_terminal()).count(), 1, "one final record: {all:#?}");
}
