//! `/api/v1/nodes`: the node registry.
use actix_web::{HttpResponse, web};

use super::AppState;
use crate::error::ApiError;
use crate::wire::NodeView;

/// The server processes that use this database, newest first (at most 1,000): each start of `taskyard serve` is
/// a node with a new boot id. `up` nodes heart-beat; `gone` ones stopped heart-beating without shutting down
/// (their jobs are rescued when their leases expire); `stopped` ones shut down cleanly.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "nodes",
    responses((status = 200, description = "Nodes, newest first", body = Vec<NodeView>)))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let nodes = state.engine.nodes().await?;
    let views: Vec<NodeView> = nodes.iter().map(|(node, status)| NodeView::new(node, *status)).collect();
    Ok(HttpResponse::Ok().json(views))
}
