//! A job's process tree that tries to outlive its job: a background child in the job's process group, and a
//! `setsid` daemon with its output closed, beside the main process.

use std::time::Duration;

use super::{proc_state, wait_for_processes};

/// How long after its server (or supervisor) died a job's process may still be seen.
pub const GONE_WITHIN: Duration = Duration::from_secs(2);

/// A job whose shell leaves a background `sleep` (same group), a `setsid` daemon with its output closed (own
/// session, beyond the group), and runs a third `sleep` itself; `tag` makes the durations this test's own.
pub struct Tree {
    pub background: [String; 2],
    pub daemon: [String; 2],
    pub main: [String; 2],
}

impl Tree {
    pub fn new(tag: &str) -> Tree {
        let argv = |n: u32| ["sleep".to_string(), format!("{tag}.{n}")];
        Tree { background: argv(1), daemon: argv(2), main: argv(3) }
    }

    pub fn command(&self) -> String {
        format!(
            "sh -c 'sleep {} & setsid sleep {} </dev/null >/dev/null 2>&1 & sleep {}'",
            self.background[1], self.daemon[1], self.main[1]
        )
    }

    pub fn members(&self) -> [Vec<&str>; 3] {
        [&self.background, &self.daemon, &self.main].map(|argv| argv.iter().map(String::as_str).collect())
    }

    /// Waits until every member runs; their pids.
    pub async fn running(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for argv in self.members() {
            let found = wait_for_processes(&argv, Duration::from_secs(10), |p| !p.is_empty()).await;
            assert_eq!(found.len(), 1, "one `{}` of the job: {found:?}", argv.join(" "));
            pids.extend(found);
        }
        pids
    }

    /// Waits (bounded by [`GONE_WITHIN`]) until no member is alive; those that still are.
    pub async fn survivors(&self) -> Vec<String> {
        let mut left = Vec::new();
        let start = std::time::Instant::now();
        for argv in self.members() {
            let wait = GONE_WITHIN.saturating_sub(start.elapsed());
            let pids = wait_for_processes(&argv, wait, |p| p.is_empty()).await;
            left.extend(pids.iter().map(|pid| format!("{} (pid {pid}, {:?})", argv.join(" "), proc_state(*pid))));
        }
        left
    }
}
