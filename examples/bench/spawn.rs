//! Step 1, the physical ceiling: the raw rate of spawning `/bin/true` from tokio.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use tokio::process::Command;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Spawns `/bin/true` `n` times with `in_flight` children alive at once and returns processes/s.
/// The spawn itself runs on the blocking pool: `posix_spawn` blocks its thread until the child execs.
pub(crate) async fn raw_spawn_rate(n: usize, in_flight: usize) -> Result<f64> {
    let slots = Arc::new(Semaphore::new(in_flight));
    let mut set = JoinSet::new();
    let start = Instant::now();
    for _ in 0..n {
        let slot = Arc::clone(&slots).acquire_owned().await?;
        set.spawn(async move {
            let _slot = slot;
            let mut child = tokio::task::spawn_blocking(|| {
                Command::new("/bin/true").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()
            })
            .await?
            .context("spawning /bin/true")?;
            let status = child.wait().await?;
            ensure!(status.success(), "/bin/true ended with {status}");
            Ok(())
        });
        while let Some(done) = set.try_join_next() {
            done??;
        }
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}
