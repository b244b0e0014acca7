//! The outbox on a real SQLite file: an overdue fire enqueued twice is one message; a claim is exclusive and
//! fences the result of a worker whose claim was taken over.
use crate::domain::notify::Attempt;
use crate::domain::{DeliveryStatus, NotifyOn, Rule, TaskId, now_ms};
use crate::store::fault_tests::sqlite_store;
use crate::store::{AttemptResult, DeliveryFilter, Keyset};

fn rules() -> Vec<Rule> {
    vec![Rule { on: vec![NotifyOn::Overdue], channels: vec!["ops".into(), "mail".into()] }]
}

#[tokio::test]
async fn the_same_overdue_fire_enqueued_twice_is_one_message_per_channel() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    let task = TaskId::generate();
    assert_eq!(store.outbox().enqueue_overdue(task, 1_000, now_ms()).await.unwrap(), 0, "no rules, no message");
    store.notify_rules().set(rules(), true);
    assert_eq!(store.outbox().enqueue_overdue(task, 1_000, now_ms()).await.unwrap(), 2);
    assert_eq!(store.outbox().enqueue_overdue(task, 1_000, now_ms()).await.unwrap(), 0, "the same fire again");
    assert_eq!(store.outbox().enqueue_overdue(task, 2_000, now_ms()).await.unwrap(), 2, "the next fire");
    let all = store.outbox().list(&DeliveryFilter::default(), Keyset { after: None, limit: 10 }).await.unwrap();
    assert_eq!(all.items.len(), 4);
    assert!(all.items.iter().all(|d| d.trigger == NotifyOn::Overdue && d.job_id.is_none() && d.task_id == task));
}

#[tokio::test]
async fn a_claim_is_exclusive_and_a_superseded_claimer_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    store.notify_rules().set(rules(), true);
    store.outbox().enqueue_overdue(TaskId::generate(), 1_000, 0).await.unwrap();
    let outbox = store.outbox();
    let first = outbox.claim("a", 10, 100, 16).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(outbox.claim("b", 50, 150, 16).await.unwrap().is_empty(), "claimed rows are not due again before 100");
    // Claim "a" ran out: "b" takes the rows over, and "a"'s late answer is not written.
    let second = outbox.claim("b", 100, 200, 16).await.unwrap();
    assert_eq!(second.len(), 2);
    let attempt = Attempt { at: 100, took_ms: 1, error: None };
    assert!(!outbox.record(&first[0], "a", attempt.clone(), AttemptResult::Delivered).await.unwrap());
    let retry = AttemptResult::Retry { error: "down".into(), at: 500 };
    assert!(outbox.record(&second[0], "b", attempt, retry).await.unwrap());
    let shown = outbox.get(&second[0].id).await.unwrap();
    assert_eq!((shown.status, shown.attempts, shown.next_attempt_at), (DeliveryStatus::Pending, 1, 500));
    assert_eq!(shown.last_error.as_deref(), Some("down"));
    assert_eq!(outbox.next_due().await.unwrap(), Some(200), "the other row is due when its claim runs out");
}
