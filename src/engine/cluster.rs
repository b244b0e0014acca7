//! Being one node among several on one PostgreSQL: the node registry (register, heartbeat, stopped), and the
//! relay that turns the other nodes' notifications into wake-ups, stream pokes and cancels. On SQLite the
//! registry holds this process alone and there is nothing to relay.
use std::sync::Arc;
use std::time::Duration;

use super::{Inner, StopReason};
use crate::domain::{Node, now_ms};
use crate::store::{Heard, Notice};

/// Nodes not heard of for this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

pub(super) fn this_node(inner: &Inner, address: &str) -> Node {
    let now = now_ms();
    Node {
        id: inner.node_id.clone(),
        address: address.to_string(),
        hostname: hostname(),
        pid: std::process::id() as i32,
        started_at: now,
        heartbeat_at: now,
        stopped_at: None,
        running: 0,
        max_concurrency: inner.config.max_concurrency as i32,
    }
}

/// Registers this node (before it serves, so that it is listed as soon as it answers) and forgets long-gone ones.
pub(super) async fn register(inner: &Inner, node: &Node) {
    if let Err(err) = inner.store.nodes().register(node).await {
        tracing::warn!(error = %err, "cannot register this node; its heartbeat will retry");
    }
    let _ = inner.store.nodes().forget(now_ms() - FORGET_AFTER.as_millis() as i64).await;
}

/// Heart-beats until shutdown (registering again if its row went missing).
pub(super) async fn heartbeat(inner: Arc<Inner>, node: Node) {
    let nodes = || inner.store.nodes();
    let mut stopping = inner.stopping.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(inner.config.lease_tick()) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        let running = inner.running_count() as i32;
        match nodes().heartbeat(&node.id, now_ms(), running).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = nodes().register(&Node { heartbeat_at: now_ms(), running, ..node.clone() }).await;
            }
            Err(err) => tracing::warn!(error = %err, "cannot heart-beat; will retry"),
        }
    }
}

/// Listens to the other nodes (PostgreSQL) until shutdown, reconnecting as needed. After every (re)connection it
/// wakes the dispatcher and pokes every follower, since signals may have been missed meanwhile.
pub(super) async fn relay(inner: Arc<Inner>) {
    let mut stopping = inner.stopping.subscribe();
    loop {
        let mut listener = match inner.store.listen().await {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen to the other nodes; retrying (polling meanwhile)");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stopping.wait_for(|s| *s) => return,
                }
            }
        };
        caught_up(&inner);
        loop {
            let heard = tokio::select! {
                heard = listener.recv() => heard,
                _ = stopping.wait_for(|s| *s) => return,
            };
            match heard {
                Ok(Heard::Notice(Notice::Queue)) => {
                    inner.forget_next_due();
                    inner.wake.notify_one();
                }
                Ok(Heard::Notice(Notice::Events(job))) => {
                    if !inner.runs(job) {
                        inner.hub.poke(job);
                    }
                }
                Ok(Heard::Notice(Notice::Cancel(job))) => {
                    inner.stop_local(job, StopReason::Cancel);
                }
                Ok(Heard::Reconnected) => {
                    tracing::warn!("lost the notification connection; reconnecting");
                    caught_up(&inner);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "notification connection failed; reconnecting");
                    break;
                }
            }
        }
    }
}

fn caught_up(inner: &Inner) {
    inner.forget_next_due();
    inner.wake.notify_one();
    inner.hub.poke_all();
}
