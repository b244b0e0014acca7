//! The server's side of the supervisor: starts it, asks it to spawn, hands each runner its process, and when the
//! supervisor dies, kills what it ran and starts a new one.
use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsFd as _, OwnedFd};
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, setsockopt, socketpair, sockopt};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;
use tokio::process::Child;
use tokio::sync::{oneshot, watch};

use super::wire::{self, Report, Spawn, VERSION};
use crate::domain::JobId;
use crate::engine::process::{JobCommand, JobProcess};

/// How long a new supervisor may take to say hello.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// The longest wait between two attempts to start a supervisor that would not start.
const RESTART_AT_MOST_EVERY: Duration = Duration::from_secs(5);
/// How long a spawn waits for a supervisor that is being restarted before the job fails to start.
const RESTART_WITHIN: Duration = Duration::from_secs(30);

/// The handle the engine holds. Dropping it closes the socket, which makes the supervisor kill its jobs and exit.
pub struct Supervisor {
    shared: Arc<Shared>,
    watcher: tokio::task::JoinHandle<()>,
}

struct Shared {
    program: PathBuf,
    /// The supervisor spawns go to; `None` while a dead one is replaced.
    current: watch::Sender<Option<Arc<Connection>>>,
}

/// One supervisor process and the conversation with it.
struct Connection {
    socket: AsyncFd<OwnedFd>,
    pid: i32,
    next_tag: AtomicU64,
    waiting: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    /// Set once the supervisor is gone: nothing more may wait on it.
    gone: bool,
    spawns: HashMap<u64, (JobId, oneshot::Sender<io::Result<Started>>)>,
    /// Job processes that run, by pid (= process group).
    exits: HashMap<i32, (JobId, oneshot::Sender<ExitStatus>)>,
}

struct Started {
    pid: i32,
    stdout: OwnedFd,
    stderr: OwnedFd,
    exit: oneshot::Receiver<ExitStatus>,
}

impl Supervisor {
    /// Starts `program supervise` (`None`: this executable) and waits until it said hello.
    pub async fn start(program: Option<PathBuf>) -> anyhow::Result<Supervisor> {
        let program = match program {
            Some(path) => path,
            None => std::env::current_exe()?,
        };
        let (connection, child) = Connection::open(&program)
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the job supervisor ({} supervise): {e}", program.display()))?;
        tracing::info!(pid = connection.pid, "job supervisor started");
        let shared = Arc::new(Shared { program, current: watch::Sender::new(Some(connection.clone())) });
        let watcher = tokio::spawn(watch(shared.clone(), connection, child));
        Ok(Supervisor { shared, watcher })
    }

    /// Asks the supervisor to start `command` for `job`; while a dead supervisor is replaced, waits for the new one.
    pub async fn spawn(&self, job: JobId, command: JobCommand) -> io::Result<JobProcess> {
        let mut current = self.shared.current.subscribe();
        let connection = match tokio::time::timeout(RESTART_WITHIN, current.wait_for(Option::is_some)).await {
            Ok(Ok(ready)) => ready.clone().ok_or_else(|| io::Error::other("no job supervisor"))?,
            Ok(Err(_)) => return Err(io::Error::other("the job supervisor was shut down")),
            Err(_) => {
                return Err(io::Error::other(format!("no job supervisor could be started in {RESTART_WITHIN:?}")));
            }
        };
        let started = connection.spawn(job, command).await?;
        let stdout = pipe::Receiver::from_owned_fd(started.stdout)?;
        let stderr = pipe::Receiver::from_owned_fd(started.stderr)?;
        Ok(JobProcess::reported(started.pid, Box::new(stdout), Box::new(stderr), started.exit))
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.watcher.abort();
        self.shared.current.send_replace(None);
    }
}

impl Connection {
    /// A socket pair; the supervisor gets its end as stdin. Returns once it said hello in our protocol version.
    async fn open(program: &PathBuf) -> io::Result<(Arc<Connection>, Child)> {
        let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
        fcntl(&ours, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        // A spawn request is one packet, which must fit the send buffer (default about 200 KiB).
        setsockopt(&ours, sockopt::SndBuf, &(wire::MAX_PACKET + wire::MAX_REPORT))?;
        let mut child = tokio::process::Command::new(program)
            .arg("supervise")
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .spawn()?;
        // SAFETY: the `OwnedFd` is the socket's only owner; it stays open, and the same descriptor, until the
        // `AsyncFd` drops it.
        let socket = unsafe { AsyncFd::register(ours) }.map_err(|e| e.into_parts().1)?;
        let hello = tokio::time::timeout(HELLO_WITHIN, receive(&socket, &mut [0u8; wire::MAX_REPORT])).await;
        let pid = match hello {
            Ok(Ok((Report::Hello { version: VERSION, pid }, _))) => pid,
            Ok(Ok((Report::Hello { version, .. }, _))) => {
                let _ = child.kill().await;
                return Err(io::Error::other(format!("it speaks protocol {version}, this server {VERSION}")));
            }
            Ok(Ok((other, _))) => {
                let _ = child.kill().await;
                return Err(io::Error::other(format!("it began with {other:?} instead of hello")));
            }
            Ok(Err(e)) => {
                let _ = child.kill().await;
                return Err(e);
            }
            Err(_) => {
                let _ = child.kill().await;
                return Err(io::Error::other(format!("it did not say hello within {HELLO_WITHIN:?}")));
            }
        };
        let connection = Connection { socket, pid, next_tag: AtomicU64::new(1), waiting: Mutex::default() };
        Ok((Arc::new(connection), child))
    }

    async fn spawn(&self, job: JobId, command: JobCommand) -> io::Result<Started> {
        let tag = self.next_tag.fetch_add(1, Ordering::Relaxed);
        let packet = Spawn { tag, command }.encode();
        if packet.len() > wire::MAX_PACKET {
            return Err(io::Error::other(format!(
                "its command line and environment take {} bytes; the job supervisor takes at most {}",
                packet.len(),
                wire::MAX_PACKET
            )));
        }
        let (reply, answer) = oneshot::channel();
        {
            let mut waiting = lock(&self.waiting);
            if waiting.gone {
                return Err(io::Error::other("the job supervisor died"));
            }
            waiting.spawns.insert(tag, (job, reply));
        }
        let sent =
            self.socket.async_io(tokio::io::Interest::WRITABLE, |fd| wire::send_packet(fd.as_fd(), &packet, &[]));
        if let Err(e) = sent.await {
            lock(&self.waiting).spawns.remove(&tag);
            if e.raw_os_error() == Some(nix::libc::EMSGSIZE) {
                return Err(io::Error::other(format!(
                    "its command line and environment take {} bytes, more than the job supervisor's socket takes \
                     (raise net.core.wmem_max)",
                    packet.len()
                )));
            }
            return Err(e);
        }
        answer.await.map_err(|_| io::Error::other("the job supervisor died while starting the process"))?
    }

    /// Reads reports until the supervisor is gone or breaks the protocol; says which.
    async fn serve_reports(&self) -> String {
        let mut buf = vec![0u8; wire::MAX_REPORT];
        loop {
            let (report, fds) = match receive(&self.socket, &mut buf).await {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return "it exited".into(),
                Err(e) => return format!("reading from it failed: {e}"),
            };
            if let Err(why) = self.on_report(report, fds) {
                return why;
            }
        }
    }

    fn on_report(&self, report: Report, fds: Vec<OwnedFd>) -> Result<(), String> {
        let mut waiting = lock(&self.waiting);
        match report {
            Report::Spawned { tag, pid } => {
                let Ok::<[OwnedFd; 2], _>([stdout, stderr]) = fds.try_into() else {
                    return Err("it reported a spawn without two output pipes".into());
                };
                let (job, reply) = waiting.spawns.remove(&tag).ok_or(format!("it answered unknown spawn {tag}"))?;
                let (done, exit) = oneshot::channel();
                waiting.exits.insert(pid, (job, done));
                let _ = reply.send(Ok(Started { pid, stdout, stderr, exit }));
            }
            Report::Failed { tag, errno, error } => {
                let (_, reply) = waiting.spawns.remove(&tag).ok_or(format!("it answered unknown spawn {tag}"))?;
                let error = if errno > 0 { io::Error::from_raw_os_error(errno) } else { io::Error::other(error) };
                let _ = reply.send(Err(error));
            }
            Report::Exited { pid, status } => {
                let (_, done) = waiting.exits.remove(&pid).ok_or(format!("it reported unknown process {pid}"))?;
                let _ = done.send(ExitStatus::from_raw(status));
            }
            Report::Hello { .. } => return Err("it said hello twice".into()),
        }
        Ok(())
    }

    /// The supervisor is gone (or must go): kills it and what it ran. Whoever waits on it learns that it died.
    fn bury(&self) -> usize {
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
        let waiting = std::mem::replace(&mut *lock(&self.waiting), Waiting { gone: true, ..Waiting::default() });
        for &pgid in waiting.exits.keys() {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
        let jobs: HashSet<JobId> = waiting.exits.values().map(|(job, _)| *job).collect();
        crate::engine::reaper::kill_leftovers(&jobs);
        jobs.len()
    }
}

/// Watches the supervisor; when it dies, buries it and starts another, for as long as the engine lives.
async fn watch(shared: Arc<Shared>, mut connection: Arc<Connection>, mut child: Child) {
    loop {
        let why = connection.serve_reports().await;
        shared.current.send_replace(None);
        let jobs = connection.bury();
        let status = child.wait().await;
        tracing::error!(
            pid = connection.pid,
            ?status,
            jobs,
            "the job supervisor is gone ({why}); its jobs were killed and end as lost; starting a new one"
        );
        let mut delay = Duration::from_millis(100);
        (connection, child) = loop {
            match Connection::open(&shared.program).await {
                Ok(started) => break started,
                Err(e) => {
                    tracing::error!(error = %e, retry_in = ?delay, "cannot start the job supervisor");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(RESTART_AT_MOST_EVERY);
                }
            }
        };
        tracing::info!(pid = connection.pid, "job supervisor started");
        shared.current.send_replace(Some(connection.clone()));
    }
}

/// The next report; `UnexpectedEof` when the supervisor closed its end.
async fn receive(socket: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> io::Result<(Report, Vec<OwnedFd>)> {
    let (len, fds) = socket.async_io(tokio::io::Interest::READABLE, |fd| wire::recv_packet(fd.as_fd(), buf)).await?;
    if len == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let report = Report::decode(&buf[..len]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok((report, fds))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
