//! Nodes on the wire.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Node, NodeStatus, format_ms};

/// A node as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    /// Boot id (ULID): new at every start; the `node_id` of the jobs it ran.
    pub id: String,
    pub status: NodeStatus,
    /// Where it serves the API.
    pub address: String,
    pub hostname: String,
    pub pid: i32,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub last_heartbeat_at: String,
    #[schema(format = DateTime)]
    pub stopped_at: Option<String>,
    /// Jobs running on it at its last heartbeat.
    pub running_jobs: i32,
    pub max_concurrency: i32,
    /// Its wall clock minus the database's, in milliseconds, as measured at its last heartbeat (PostgreSQL; null
    /// on SQLite, where the machine's clock is the only one). Leases and due times follow the database's clock
    /// whatever this says; a node more than a second off logs a warning at start.
    pub clock_offset_ms: Option<i64>,
}

impl NodeView {
    pub fn new(node: &Node, status: NodeStatus) -> NodeView {
        NodeView {
            id: node.id.clone(),
            status,
            address: node.address.clone(),
            hostname: node.hostname.clone(),
            pid: node.pid,
            started_at: format_ms(node.started_at),
            last_heartbeat_at: format_ms(node.heartbeat_at),
            stopped_at: node.stopped_at.map(format_ms),
            running_jobs: if status == NodeStatus::Up { node.running } else { 0 },
            max_concurrency: node.max_concurrency,
            clock_offset_ms: node.clock_offset_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_that_is_not_up_shows_no_running_jobs() {
        let node = Node { stopped_at: Some(1_200), ..crate::domain::testing::node() };
        assert_eq!(NodeView::new(&node, NodeStatus::Up).running_jobs, 2);
        assert_eq!(NodeView::new(&node, NodeStatus::Stopped).running_jobs, 0);
        assert_eq!(NodeView::new(&node, NodeStatus::Gone).running_jobs, 0);
    }
}
