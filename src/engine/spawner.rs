//! Starting job processes from one long-lived thread of the server, where there is no job supervisor (not Linux):
//! `posix_spawn`/`fork` block the calling thread until the child has exec'd, so spawning stays off the async
//! workers. Nothing here outlives a killed server's jobs: they keep running.
use std::io;
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

    pub async fn spawn(&self, command: Command) -> io::Result<Child> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request { command, reply }).map_err(|_| io::Error::other("the spawner thread is gone"))?;
        answer.await.map_err(|_| io::Error::other("the spawner thread is gone"))?
    }
}
