//! The node registry: a server lists itself, with its clock's offset from the database's where there are two
//! clocks (PostgreSQL; tests/cluster/clock.rs sets one off).

use crate::helpers::{postgres_server, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_lists_itself_with_its_clock_offset() {
    let app = spawn_app().await;
    let nodes = app.get("/api/v1/nodes").await.expect(200, "GET /api/v1/nodes");
    let nodes = nodes.as_array().unwrap_or_else(|| panic!("an array: {nodes}"));
    assert_eq!(nodes.len(), 1, "{nodes:#?}");
    let node = &nodes[0];
    assert_eq!(node["status"], "up", "{node}");
    match postgres_server() {
        // One file, one machine, one clock.
        None => assert!(node["clock_offset_ms"].is_null(), "no offset on SQLite: {node}"),
        // The database runs on this machine: their clocks agree.
        Some(_) => {
            let offset = node["clock_offset_ms"].as_i64().unwrap_or_else(|| panic!("an offset on PostgreSQL: {node}"));
            assert!(offset.abs() < 1000, "{node}");
        }
    }
}
