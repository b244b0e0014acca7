//! Starting child processes from one long-lived thread.
//!
//! Two reasons: `posix_spawn`/`fork` block the calling thread until the child has exec'd, so spawning must stay
//! off the async workers; and on Linux each child asks for SIGKILL when its parent *thread* dies
//! (`PR_SET_PDEATHSIG`), so that thread must live as long as the server does (tokio's blocking pool retires idle
//! threads, which would kill their children). A SIGKILLed server therefore takes its jobs' main processes with it.
use std::io;
use std::os::unix::process::CommandExt as _;
use std::sync::mpsc;

use tokio::process::{Child, Command};
use tokio::sync::oneshot;

struct Request {
    command: Command,
    reply: oneshot::Sender<io::Result<Child>>,
}

pub struct Spawner {
    requests: mpsc::Sender<Request>,
}

impl Spawner {
    /// Starts the spawner thread; children are registered with the runtime behind `handle`.
    pub fn start(handle: tokio::runtime::Handle) -> io::Result<Spawner> {
        let (requests, incoming) = mpsc::channel::<Request>();
        std::thread::Builder::new().name("taskyard-spawner".into()).spawn(move || {
            let _runtime = handle.enter();
            for mut req in incoming {
                let _ = req.reply.send(req.command.spawn());
            }
        })?;
        Ok(Spawner { requests })
    }

    pub async fn spawn(&self, mut command: Command) -> io::Result<Child> {
        die_with_parent(&mut command);
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request { command, reply }).map_err(|_| io::Error::other("the spawner thread is gone"))?;
        answer.await.map_err(|_| io::Error::other("the spawner thread is gone"))?
    }
}

#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only makes two system calls (prctl, getppid),
    // both async-signal-safe; it allocates nothing on the success path.
    unsafe {
        command.as_std_mut().pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(io::Error::from)?;
            // The parent may have died between fork and prctl: then nobody would send the signal.
            if nix::unistd::getppid().as_raw() as u32 != parent {
                return Err(io::Error::other("taskyard exited while starting the job"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}
