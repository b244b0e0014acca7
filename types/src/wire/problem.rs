//! The error body every API error answers with.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An RFC 9457 problem details body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:taskyard:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What went wrong in this case, in words a user can act on.
    pub detail: String,
    /// Stable snake_case error code.
    pub code: String,
}
