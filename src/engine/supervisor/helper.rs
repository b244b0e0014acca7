//! The supervisor process itself (`taskyard supervise`): single-threaded, no runtime. It starts job processes
//! when the server asks, is the subreaper of everything they start, reports how each job's main process ended, and
//! when the server is gone (its control socket, our stdin, reaches its end) kills every process below it and exits.
use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, FromRawFd as _, IntoRawFd as _, OwnedFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, killpg, sigaction};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::wire::{self, MAX_PACKET, Report, Spawn, VERSION};

/// Runs the supervisor until the server is gone. Its exit status says whether it could serve at all.
pub fn run() -> ExitCode {
    match serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!(
                "taskyard supervise: {err} (it is started by `taskyard serve`, with its control socket as stdin)"
            );
            ExitCode::FAILURE
        }
    }
}

fn serve() -> io::Result<()> {
    // SAFETY: fd 0 is the control socket `taskyard serve` handed us as stdin; nothing else in this process uses it.
    let control = unsafe { OwnedFd::from_raw_fd(0) };
    nix::sys::prctl::set_child_subreaper(true)?;
    let signals = catch_signals()?;
    let me = std::process::id() as i32;
    wire::send_packet(control.as_fd(), &Report::Hello { version: VERSION, pid: me }.encode(), &[])?;

    let mut jobs = HashSet::new();
    let result = serve_requests(control.as_fd(), signals.as_fd(), &mut jobs);
    kill_everything(me, &jobs, signals.as_fd());
    result
}

/// Starts what the server asks and reports what ends, until the server's end of the socket closes (`Ok`).
fn serve_requests(control: BorrowedFd<'_>, signals: BorrowedFd<'_>, jobs: &mut HashSet<i32>) -> io::Result<()> {
    let mut buf = vec![0u8; MAX_PACKET];
    loop {
        let mut fds = [PollFd::new(control, PollFlags::POLLIN), PollFd::new(signals, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            other => other?,
        };
        let (control_ready, signal_ready) = (fds[0].any().unwrap_or(true), fds[1].any().unwrap_or(true));
        if signal_ready {
            drain(signals)?;
            for (pid, status) in reap() {
                if jobs.remove(&pid) {
                    wire::send_packet(control, &Report::Exited { pid, status }.encode(), &[])?;
                }
            }
        }
        if control_ready {
            let (len, _unexpected_fds) = wire::recv_packet(control, &mut buf)?;
            if len == 0 {
                return Ok(());
            }
            let request = Spawn::decode(&buf[..len]).map_err(|e| io::Error::other(format!("bad request: {e}")))?;
            if let Some(pid) = start(control, request)? {
                jobs.insert(pid);
            }
        }
    }
}

/// Starts one job process and tells the server: its pid and output pipes, or why it could not start.
fn start(control: BorrowedFd<'_>, request: Spawn) -> io::Result<Option<i32>> {
    let tag = request.tag;
    match request.command.std_command().spawn() {
        Ok(mut child) => {
            let pid = child.id() as i32;
            let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
                return Err(io::Error::other("a job process started without its output pipes"));
            };
            let (out, err) = (OwnedFd::from(out), OwnedFd::from(err));
            let report = Report::Spawned { tag, pid }.encode();
            wire::send_packet(control, &report, &[out.as_raw_fd(), err.as_raw_fd()])?;
            // Our copies of the read ends close here; the `Child` is not waited for through std: `reap` does it.
            Ok(Some(pid))
        }
        Err(e) => {
            let report = Report::Failed { tag, errno: e.raw_os_error().unwrap_or(0), error: e.to_string() };
            wire::send_packet(control, &report.encode(), &[])?;
            Ok(None)
        }
    }
}

/// The write end of the pipe that says "a child ended" (-1 until [`catch_signals`]).
static CHILD_ENDED: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigchld(_: nix::libc::c_int) {
    let saved = Errno::last_raw();
    let fd = CHILD_ENDED.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: the write end is never closed (see `catch_signals`); write(2) is async-signal-safe.
        let _ = nix::unistd::write(unsafe { BorrowedFd::borrow_raw(fd) }, &[1]);
    }
    Errno::set_raw(saved);
}

extern "C" fn on_stop_signal(_: nix::libc::c_int) {}

/// SIGCHLD wakes the loop through a pipe (the returned read end). Terminal and service-manager signals (INT,
/// TERM, HUP, QUIT) are caught and do nothing: this process ends with the server's socket, never before the server
/// (which may be draining). Handlers, unlike ignored signals and the signal mask, are reset when a job process
/// execs, so jobs start with every signal at its default.
fn catch_signals() -> io::Result<OwnedFd> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    // Kept open for the life of the process: the handler may run at any time.
    CHILD_ENDED.store(write.into_raw_fd(), Ordering::Relaxed);
    let child =
        SigAction::new(SigHandler::Handler(on_sigchld), SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP, SigSet::empty());
    let stop = SigAction::new(SigHandler::Handler(on_stop_signal), SaFlags::SA_RESTART, SigSet::empty());
    // SAFETY: both handlers only make async-signal-safe calls (write, errno).
    unsafe {
        sigaction(Signal::SIGCHLD, &child)?;
        for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT] {
            sigaction(sig, &stop)?;
        }
    }
    Ok(read)
}

/// Empties the wake-up pipe.
fn drain(signals: BorrowedFd<'_>) -> io::Result<()> {
    let mut buf = [0u8; 64];
    loop {
        match nix::unistd::read(signals, &mut buf) {
            Ok(0) | Err(Errno::EAGAIN) => return Ok(()),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reaps every child that ended (job processes and the orphans we are subreaper of), with its wait status.
fn reap() -> Vec<(i32, i32)> {
    let mut ended = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => ended.push((pid.as_raw(), (code & 0xff) << 8)),
            Ok(WaitStatus::Signaled(pid, sig, core)) => {
                ended.push((pid.as_raw(), sig as i32 | if core { 0x80 } else { 0 }));
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return ended,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(err) => {
                eprintln!("taskyard supervise: waitpid failed: {err}");
                return ended;
            }
        }
    }
}

/// Kills every job's process group, then every living process below this one (job processes that left their
/// group, their children, daemons re-parented to us), until none is left, reaping as they go.
fn kill_everything(me: i32, jobs: &HashSet<i32>, signals: BorrowedFd<'_>) {
    for &pgid in jobs {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    loop {
        let alive = living_descendants(me);
        if alive.is_empty() {
            break;
        }
        for pid in alive {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        // The next SIGCHLD, or a short while: a killed process may first need its parent to die to become ours.
        let mut fds = [PollFd::new(signals, PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(20u8));
        let _ = drain(signals);
        reap();
    }
    reap();
}

/// Every process (not a zombie) whose chain of parents leads to `root`, from `/proc`.
fn living_descendants(root: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let procs: HashMap<i32, (i32, bool)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, parent_and_zombie(pid)?)))
        .collect();
    procs
        .iter()
        .filter(|&(_, &(_, zombie))| !zombie)
        .filter(|&(&pid, _)| descends_from(pid, root, &procs))
        .map(|(&pid, _)| pid)
        .collect()
}

fn descends_from(mut pid: i32, root: i32, procs: &HashMap<i32, (i32, bool)>) -> bool {
    // Bounded: a chain is never longer than the number of processes.
    for _ in 0..=procs.len() {
        match procs.get(&pid) {
            Some(&(parent, _)) if parent == root => return true,
            Some(&(parent, _)) if parent > 1 => pid = parent,
            _ => return false,
        }
    }
    false
}

/// The parent of `pid` and whether it is a zombie, from `/proc/PID/stat`.
fn parent_and_zombie(pid: i32) -> Option<(i32, bool)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces and parentheses: the fields after it start after the last ')'.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let zombie = fields.next()? == "Z";
    Some((fields.next()?.parse().ok()?, zombie))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_are_found_through_any_depth_and_a_loop_ends() {
        // 10 ← 11 ← 12 ← 13, and 20 (under init), and a loop 30 ↔ 31 that /proc could show in a race.
        let procs: HashMap<i32, (i32, bool)> = [
            (11, (10, false)),
            (12, (11, false)),
            (13, (12, true)),
            (20, (1, false)),
            (30, (31, false)),
            (31, (30, false)),
        ]
        .into();
        for pid in [11, 12, 13] {
            assert!(descends_from(pid, 10, &procs), "{pid}");
        }
        for pid in [10, 20, 30, 31, 99] {
            assert!(!descends_from(pid, 10, &procs), "{pid}");
        }
    }

    #[test]
    fn this_process_reads_as_a_living_child_of_its_parent() {
        let me = std::process::id() as i32;
        let parent = nix::unistd::getppid().as_raw();
        assert_eq!(parent_and_zombie(me), Some((parent, false)));
        assert_eq!(parent_and_zombie(-1), None);
    }
}
