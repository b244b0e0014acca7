//! A job's process, whoever starts it: the [`JobCommand`] the runner builds, the [`JobProcess`] it gets back (pid,
//! output pipes, exit status), and the [`Launcher`] in between: the node's job supervisor on Linux
//! ([`super::supervisor`]), the in-process spawner (`engine/spawner.rs`) elsewhere.
use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use tokio::io::AsyncRead;
#[cfg(target_os = "linux")]
use tokio::sync::oneshot;

use crate::domain::JobId;

/// What a job's process is: the file to execute, its `argv[0]` and the rest of its arguments, its whole
/// environment and its working directory. It starts with stdin closed, stdout and stderr piped, in a process
/// group of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct JobCommand {
    pub file: PathBuf,
    pub arg0: OsString,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Option<PathBuf>,
}

impl JobCommand {
    /// The process as the standard library starts it (with `posix_spawn` where it can).
    pub fn std_command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.file);
        cmd.arg0(&self.arg0)
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd
    }
}

/// One read end of a job's output.
pub type Output = Box<dyn AsyncRead + Send + Unpin>;

/// A started job process. Its pid is also its process group's id.
pub struct JobProcess {
    pub pid: i32,
    pub stdout: Option<Output>,
    pub stderr: Option<Output>,
    exit: Exit,
}

enum Exit {
    /// A child of this process (the in-process spawner).
    #[cfg(not(target_os = "linux"))]
    Child(tokio::process::Child),
    /// A child of the supervisor, which reports how it ended.
    #[cfg(target_os = "linux")]
    Reported(oneshot::Receiver<ExitStatus>),
}

impl JobProcess {
    #[cfg(not(target_os = "linux"))]
    pub(super) fn child(mut child: tokio::process::Child) -> io::Result<JobProcess> {
        let pid = child.id().ok_or_else(|| io::Error::other("the process ended before it was watched"))? as i32;
        let stdout = child.stdout.take().map(|o| Box::new(o) as Output);
        let stderr = child.stderr.take().map(|o| Box::new(o) as Output);
        Ok(JobProcess { pid, stdout, stderr, exit: Exit::Child(child) })
    }

    #[cfg(target_os = "linux")]
    pub(super) fn reported(pid: i32, stdout: Output, stderr: Output, exit: oneshot::Receiver<ExitStatus>) -> Self {
        JobProcess { pid, stdout: Some(stdout), stderr: Some(stderr), exit: Exit::Reported(exit) }
    }

    /// How the process ended. Cancel-safe. An error when nobody can tell any more (the supervisor died first).
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        match &mut self.exit {
            #[cfg(not(target_os = "linux"))]
            Exit::Child(child) => child.wait().await,
            #[cfg(target_os = "linux")]
            Exit::Reported(exit) => {
                exit.await.map_err(|_| io::Error::other("the job supervisor died before the process ended"))
            }
        }
    }
}

/// Starts job processes: through the node's supervisor (Linux), or from this process (elsewhere).
pub enum Launcher {
    #[cfg(target_os = "linux")]
    Supervised(super::supervisor::Supervisor),
    #[cfg(not(target_os = "linux"))]
    Direct(super::spawner::Spawner),
}

impl Launcher {
    /// On Linux, starts the supervisor (`program supervise`; `None`: this executable) and waits for its hello.
    #[cfg(target_os = "linux")]
    pub async fn start(program: Option<PathBuf>) -> anyhow::Result<Launcher> {
        Ok(Launcher::Supervised(super::supervisor::Supervisor::start(program).await?))
    }

    #[cfg(not(target_os = "linux"))]
    pub async fn start(_program: Option<PathBuf>) -> anyhow::Result<Launcher> {
        tracing::warn!(
            "no job supervisor on this platform: jobs are spawned by the server itself, and a killed server's jobs \
             keep running"
        );
        Ok(Launcher::Direct(super::spawner::Spawner::start(tokio::runtime::Handle::current())?))
    }

    pub async fn spawn(&self, job: JobId, command: JobCommand) -> io::Result<JobProcess> {
        match self {
            #[cfg(target_os = "linux")]
            Launcher::Supervised(supervisor) => supervisor.spawn(job, command).await,
            #[cfg(not(target_os = "linux"))]
            Launcher::Direct(spawner) => {
                // Only the supervisor keeps track of whose a process is (to kill it when the supervisor dies).
                let _ = job;
                let mut cmd = tokio::process::Command::from(command.std_command());
                cmd.kill_on_drop(true);
                JobProcess::child(spawner.spawn(cmd).await?)
            }
        }
    }
}
