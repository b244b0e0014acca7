//! `/api/v1/nodes`: the node registry.
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::query::{NodesQuery, Query, slice_reply};
use crate::error::ApiError;
use crate::wire::NodeView;

/// The server processes that use this database, newest first, at most `size` (default 1,000; `after` for the next
/// ones, as the `Link` header says): each start of `taskyard serve` is
/// a node with a new boot id. `up` nodes heart-beat; `gone` ones stopped heart-beating without shutting down
/// (their jobs are rescued when their leases expire); `stopped` ones shut down cleanly.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "nodes", operation_id = "list_nodes", params(NodesQuery),
    responses((status = 200, description = "Nodes, newest first", body = Vec<NodeView>,
        headers(("Link" = String, description = "`<…?after=ID>; rel=\"next\"` when more nodes follow")))))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: Query<NodesQuery>,
) -> Result<HttpResponse, ApiError> {
    let nodes = state.engine.nodes(query.keyset()?).await?;
    slice_reply(&req, &nodes, |(node, _)| node.id.clone(), |(node, status)| NodeView::new(node, *status))
}
