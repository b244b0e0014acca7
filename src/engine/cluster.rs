//! Being one node among several on one PostgreSQL: the node registry (register, heartbeat, stopped), the reading
//! of the database's clock that goes with them, and the relay that turns the other nodes' notifications into
//! wake-ups, stream pokes and cancels. On SQLite the registry holds this process alone and there is nothing to
//! relay.
use std::sync::Arc;
use std::time::Duration;

use super::clock::WARN_OFFSET_MS;
use super::{Inner, StopReason};
use crate::domain::Node;
use crate::store::{Heard, Notice};

/// Nodes not heard of for this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

pub(super) fn this_node(inner: &Inner, address: &str) -> Node {
    let now = inner.now();
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
        clock_offset_ms: inner.clock.offset_ms(),
        functions: inner.functions.names().map(str::to_string).collect(),
    }
}

/// Before anything is decided: takes the database's clock (PostgreSQL), and says so when this machine's is off by
/// more than a second. A database that cannot tell its time now (it answered a moment ago) fails the start,
/// rather than leave this node judging other nodes' leases by its own clock.
pub(super) async fn sync_clock_at_start(inner: &Inner) -> anyhow::Result<()> {
    let offset = inner
        .clock
        .sync_at_start(&inner.store)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the database's clock: {e}"))?;
    if let Some(offset) = offset.filter(|o| o.abs() > WARN_OFFSET_MS) {
        tracing::warn!(
            clock_offset_ms = offset,
            "this machine's clock differs from the database's by {:.1} s; leases, due times and node heartbeats \
             follow the database's clock (fix the machine's time, e.g. with NTP)",
            offset as f64 / 1000.0
        );
    }
    Ok(())
}

/// Registers this node (before it serves, so that it is listed as soon as it answers) and forgets long-gone ones.
pub(super) async fn register(inner: &Inner, node: &Node) {
    if let Err(err) = inner.store.nodes().register(node).await {
        tracing::warn!(error = %err, "cannot register this node; its heartbeat will retry");
    }
    let _ = inner.store.nodes().forget(inner.now() - FORGET_AFTER.as_millis() as i64).await;
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
        if let Err(err) = inner.clock.sync(&inner.store).await {
            tracing::warn!(error = %err, "cannot read the database's clock; will retry");
        }
        let running = inner.running.count() as i32;
        let offset = inner.clock.offset_ms();
        match nodes().heartbeat(&node.id, inner.now(), running, offset).await {
            Ok(true) => {}
            Ok(false) => {
                let again = Node { heartbeat_at: inner.now(), running, clock_offset_ms: offset, ..node.clone() };
                let _ = nodes().register(&again).await;
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
                Ok(Heard::Notice(Notice::Queue)) => inner.queue.changed_elsewhere(),
                Ok(Heard::Notice(Notice::Events(job))) => {
                    if !inner.running.runs(job) {
                        inner.hub.poke(job);
                    }
                }
                Ok(Heard::Notice(Notice::Cancel(job))) => {
                    // A job this node just claimed has its runner registered once claims are settled; one that
                    // is not ours is none of this node's business (its own runner reads the stored request).
                    let _settled = inner.queue.claims_settled().await;
                    inner.running.stop(job, StopReason::Cancel);
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
    inner.queue.changed_elsewhere();
    inner.hub.poke_all();
}
