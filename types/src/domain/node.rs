//! Nodes: the server processes sharing one database. Each start is a new node (a boot id), so a restarted server
//! never mistakes its predecessor's jobs for its own.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub address: String,
    pub hostname: String,
    pub pid: i32,
    pub started_at: i64,
    pub heartbeat_at: i64,
    pub stopped_at: Option<i64>,
    pub running: i32,
    pub max_concurrency: i32,
    /// Its wall clock minus the database's, in ms, as it last measured (`None` where they are one clock).
    pub clock_offset_ms: Option<i64>,
    /// The names of the functions it registers.
    pub functions: Vec<String>,
}

/// Whether a node is serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Heart-beating.
    Up,
    /// Shut down cleanly.
    Stopped,
    /// Stopped heart-beating without shutting down (killed, crashed, cut off from the database); its jobs are
    /// rescued when their leases expire.
    Gone,
}

impl Node {
    /// The node's status at `now`, if a live node heart-beats at least every `gone_after` milliseconds.
    pub fn status(&self, now: i64, gone_after: i64) -> NodeStatus {
        if self.stopped_at.is_some() {
            NodeStatus::Stopped
        } else if now - self.heartbeat_at > gone_after {
            NodeStatus::Gone
        } else {
            NodeStatus::Up
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_heartbeat_and_shutdown() {
        let mut node = crate::domain::testing::node();
        assert_eq!(node.status(1_500, 1_000), NodeStatus::Up);
        assert_eq!(node.status(2_001, 1_000), NodeStatus::Gone);
        node.stopped_at = Some(1_200);
        assert_eq!(node.status(1_500, 1_000), NodeStatus::Stopped);
    }
}
