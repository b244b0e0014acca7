//! A task's sandbox: the job runs in bubblewrap with no network, a read-only view of the file system except its
//! working directory and a private `/tmp`, and its own PID namespace (when the job's main process ends, the kernel
//! ends everything it started there, daemons included).
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a sandboxed job is confined; `{}` is the strictest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sandbox {
    /// Share the server's network (default false: the job sees only a loopback of its own).
    #[serde(default)]
    pub network: bool,
}
