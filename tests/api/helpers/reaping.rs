//! Process trees in `/proc`: whether a job's processes are gone for good, zombies included, and a guard that kills
//! a test's workload processes whatever happens.

use std::time::{Duration, Instant};

use super::{kill_pids, pids_with_cmdline};

/// The state letter (`R`, `S`, `Z`, ...) and the parent pid of a process; `None` once it no longer exists.
pub fn proc_state(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces and parentheses: the fields that follow start after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Of `pids`, those still there as a live process, or as a zombie that `parent` has not reaped; as (pid, state,
/// parent). A zombie of another parent (e.g. an orphan handed to PID 1) is that parent's business, not ours.
pub fn unreaped(pids: &[u32], parent: u32) -> Vec<(u32, char, u32)> {
    pids.iter()
        .filter_map(|&pid| proc_state(pid).map(|(state, ppid)| (pid, state, ppid)))
        .filter(|&(_, state, ppid)| state != 'Z' || ppid == parent)
        .collect()
}

/// Waits (bounded) until `unreaped(pids, parent)` is empty; returns the last reading.
pub async fn wait_until_reaped(pids: &[u32], parent: u32, deadline: Duration) -> Vec<(u32, char, u32)> {
    let start = Instant::now();
    loop {
        let left = unreaped(pids, parent);
        if left.is_empty() || start.elapsed() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Kills every process whose command line is one of these when dropped, also when an assertion fails first.
pub struct KillOnDrop(pub &'static [&'static [&'static str]]);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for argv in self.0 {
            kill_pids(&pids_with_cmdline(argv));
        }
    }
}
