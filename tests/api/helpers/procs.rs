//! Looking for the jobs' processes in `/proc`, to prove that none outlives its job.

use std::time::{Duration, Instant};

/// Pids of the processes whose command line is exactly `argv`. Zombies have an empty command line and never match.
pub fn pids_with_cmdline(argv: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = argv.iter().flat_map(|arg| arg.bytes().chain(std::iter::once(0))).collect();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted))
        .collect()
}

/// Waits (bounded) until `pids_with_cmdline(argv)` satisfies `done`; returns the last reading.
pub async fn wait_for_processes(argv: &[&str], deadline: Duration, done: impl Fn(&[u32]) -> bool) -> Vec<u32> {
    let start = Instant::now();
    loop {
        let pids = pids_with_cmdline(argv);
        if done(&pids) || start.elapsed() > deadline {
            return pids;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Last-resort cleanup of workload processes a failing test leaves behind.
pub fn kill_pids(pids: &[u32]) {
    for pid in pids {
        let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
}
