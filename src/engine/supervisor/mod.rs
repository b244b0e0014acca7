//! The job supervisor: one small process per node (`taskyard supervise`, started by the server before it serves)
//! that starts every job process on the server's behalf and makes sure none outlives the server.
//!
//! - **Why a process.** Started from a small single-threaded process, a job costs a `posix_spawn` (a `vfork`-style
//!   clone), not a `fork` of the whole server with its page tables. The supervisor is the jobs' subreaper
//!   (`PR_SET_CHILD_SUBREAPER`): whatever a job leaves behind, double-forked daemons and `setsid` escapees
//!   included, is re-parented to it, not to init, and reaped by it.
//! - **When the server dies** (its end of the control socket closes: exit, crash or `kill -9`), the supervisor
//!   SIGKILLs every job's process group, then every living process whose chain of parents leads to it (from
//!   `/proc`), until none is left, and exits. Terminal and service-manager signals (INT, TERM, HUP, QUIT) are
//!   blocked in it: it ends with the server, never before (a draining server still needs it).
//! - **When the supervisor dies**, the server learns it at once (the socket closes), kills the process groups of the
//!   jobs it ran and every process marked with their `TASKYARD_JOB_ID`, and starts a new supervisor. Those jobs
//!   end as `lost` (and are retried when their policy says so); new jobs run under the new supervisor.
//! - **The server keeps all state.** It signals process groups itself (cancel, timeout, drain), reads the output
//!   pipes itself, and learns exit statuses from the supervisor. The supervisor knows only which of its children
//!   are job processes.
//!
//! # Protocol (version 1)
//! A `SOCK_SEQPACKET` socket pair: one message per packet, at most [`wire::MAX_PACKET`] bytes. The server's end
//! is close-on-exec; the supervisor's is its stdin. Every message starts with a kind byte; numbers are
//! little-endian, byte strings are a `u32` length and the bytes.
//!
//! | kind | direction | body | meaning |
//! | --- | --- | --- | --- |
//! | 2 Hello | supervisor → server, first | `u32` version, `i32` pid | a server that speaks another version stops it |
//! | 1 Spawn | server → supervisor | `u64` tag, file, argv\[0\], `u32` n + n args, `u32` n + n (name, value), `u8` has-cwd (+ cwd) | start a job process: that environment only, stdin `/dev/null`, stdout and stderr pipes, its own process group |
//! | 3 Spawned | supervisor → server | `u64` tag, `i32` pid; SCM_RIGHTS: stdout and stderr read ends | it runs |
//! | 4 Failed | supervisor → server | `u64` tag, `i32` errno (0: none), message | it could not start |
//! | 5 Exited | supervisor → server | `i32` pid, `i32` wait status | a job's main process ended (other reaped processes are not reported) |
//!
//! Anything else (an unknown kind, a short or overlong packet, a Spawned without two descriptors) ends the
//! conversation: the server kills that supervisor and starts a new one.
mod client;
mod helper;
pub mod wire;

pub use client::Supervisor;
pub use helper::run;
