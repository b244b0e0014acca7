//! The supervisor's messages and their bytes (see the protocol in the module doc of [`super`]). One message is one
//! `SOCK_SEQPACKET` packet: a kind byte, then fixed-size little-endian numbers and length-prefixed byte strings.
use std::ffi::OsString;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::PathBuf;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

use crate::engine::process::JobCommand;

/// The protocol's version; the helper announces it first, and a server that speaks another refuses the helper.
pub const VERSION: u32 = 1;

/// The largest spawn request: more than Linux lets a command line and environment take together (2 MiB with the
/// default stack limit). The server's send buffer is raised to hold one (as far as `net.core.wmem_max` allows).
pub const MAX_PACKET: usize = 4 << 20;

/// The largest report: they are a few numbers and at most an error message.
pub const MAX_REPORT: usize = 64 << 10;

const SPAWN: u8 = 1;
const HELLO: u8 = 2;
const SPAWNED: u8 = 3;
const FAILED: u8 = 4;
const EXITED: u8 = 5;

/// The server asks the helper to start a job's process.
#[derive(Debug, Clone, PartialEq)]
pub struct Spawn {
    pub tag: u64,
    pub command: JobCommand,
}

/// What the helper tells the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The first packet: the protocol version the helper speaks and its pid.
    Hello { version: u32, pid: i32 },
    /// The process of spawn `tag` runs as `pid` (also its process group); the packet carries its stdout and stderr
    /// read ends, in that order.
    Spawned { tag: u64, pid: i32 },
    /// Spawn `tag` failed: the OS error number (0 when none) and the error.
    Failed { tag: u64, errno: i32, error: String },
    /// The job process `pid` ended with this wait status (as `waitpid` gives it).
    Exited { pid: i32, status: i32 },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("the packet ends early")]
    Short,
    #[error("unknown message kind {0}")]
    Kind(u8),
    #[error("{0} bytes left over after the message")]
    Trailing(usize),
}

impl Spawn {
    pub fn encode(&self) -> Vec<u8> {
        let c = &self.command;
        let mut out = vec![SPAWN];
        out.extend(self.tag.to_le_bytes());
        put_bytes(&mut out, c.file.as_os_str().as_bytes());
        put_bytes(&mut out, c.arg0.as_bytes());
        put_u32(&mut out, c.args.len() as u32);
        for arg in &c.args {
            put_bytes(&mut out, arg.as_bytes());
        }
        put_u32(&mut out, c.env.len() as u32);
        for (key, value) in &c.env {
            put_bytes(&mut out, key.as_bytes());
            put_bytes(&mut out, value.as_bytes());
        }
        match &c.cwd {
            None => out.push(0),
            Some(dir) => {
                out.push(1);
                put_bytes(&mut out, dir.as_os_str().as_bytes());
            }
        }
        out
    }

    pub fn decode(packet: &[u8]) -> Result<Spawn, WireError> {
        let mut r = Reader(packet);
        match r.u8()? {
            SPAWN => {}
            other => return Err(WireError::Kind(other)),
        }
        let tag = r.u64()?;
        let file = PathBuf::from(r.os()?);
        let arg0 = r.os()?;
        let args = (0..r.u32()?).map(|_| r.os()).collect::<Result<_, _>>()?;
        let env = (0..r.u32()?).map(|_| Ok((r.os()?, r.os()?))).collect::<Result<_, _>>()?;
        let cwd = match r.u8()? {
            0 => None,
            _ => Some(PathBuf::from(r.os()?)),
        };
        r.end()?;
        Ok(Spawn { tag, command: JobCommand { file, arg0, args, env, cwd } })
    }
}

impl Report {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        match self {
            Report::Hello { version, pid } => {
                out.push(HELLO);
                put_u32(&mut out, *version);
                out.extend(pid.to_le_bytes());
            }
            Report::Spawned { tag, pid } => {
                out.push(SPAWNED);
                out.extend(tag.to_le_bytes());
                out.extend(pid.to_le_bytes());
            }
            Report::Failed { tag, errno, error } => {
                out.push(FAILED);
                out.extend(tag.to_le_bytes());
                out.extend(errno.to_le_bytes());
                put_bytes(&mut out, error.as_bytes());
            }
            Report::Exited { pid, status } => {
                out.push(EXITED);
                out.extend(pid.to_le_bytes());
                out.extend(status.to_le_bytes());
            }
        }
        out
    }

    pub fn decode(packet: &[u8]) -> Result<Report, WireError> {
        let mut r = Reader(packet);
        let report = match r.u8()? {
            HELLO => Report::Hello { version: r.u32()?, pid: r.i32()? },
            SPAWNED => Report::Spawned { tag: r.u64()?, pid: r.i32()? },
            FAILED => Report::Failed {
                tag: r.u64()?,
                errno: r.i32()?,
                error: String::from_utf8_lossy(r.bytes()?).into_owned(),
            },
            EXITED => Report::Exited { pid: r.i32()?, status: r.i32()? },
            other => return Err(WireError::Kind(other)),
        };
        r.end()?;
        Ok(report)
    }
}

/// Sends one packet, with `fds` attached (SCM_RIGHTS). Never raises SIGPIPE: a closed peer is an error.
pub fn send_packet(socket: BorrowedFd<'_>, packet: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    let sent = sendmsg::<()>(socket.as_raw_fd(), &[IoSlice::new(packet)], cmsgs, MsgFlags::MSG_NOSIGNAL, None)?;
    if sent != packet.len() {
        return Err(io::Error::other(format!("sent {sent} of a packet of {} bytes", packet.len())));
    }
    Ok(())
}

/// Receives one packet into `buf`: its length (0 at the end of the stream) and the descriptors it carried, which
/// close when dropped. A packet larger than `buf` is an error, not a truncated message.
pub fn recv_packet(socket: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(received) = cmsg {
            // SAFETY: the kernel just installed these descriptors in this process for us; nothing else owns them.
            fds.extend(received.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    if msg.flags.intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC) {
        return Err(io::Error::other(format!(
            "a packet larger than {} bytes, or with too many descriptors",
            buf.len()
        )));
    }
    Ok((msg.bytes, fds))
}

fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend(n.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or(WireError::Short)?;
        self.0 = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        self.take().map(u32::from_le_bytes)
    }

    fn i32(&mut self) -> Result<i32, WireError> {
        self.take().map(i32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        self.take().map(u64::from_le_bytes)
    }

    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.u32()? as usize;
        if len > self.0.len() {
            return Err(WireError::Short);
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }

    fn os(&mut self) -> Result<OsString, WireError> {
        self.bytes().map(|b| OsString::from_vec(b.to_vec()))
    }

    fn end(&self) -> Result<(), WireError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> JobCommand {
        JobCommand {
            file: "/usr/bin/printf".into(),
            arg0: "printf".into(),
            args: vec!["%s\\n".into(), OsString::from_vec(b"\xff\0nul".to_vec()), "".into()],
            env: vec![("TASKYARD_JOB_ID".into(), "01J".into()), ("EMPTY".into(), "".into())],
            cwd: Some("/srv/w".into()),
        }
    }

    #[test]
    fn every_message_reads_back_as_written() {
        let spawn = Spawn { tag: u64::MAX, command: command() };
        assert_eq!(Spawn::decode(&spawn.encode()), Ok(spawn));
        let no_cwd = Spawn { tag: 0, command: JobCommand { cwd: None, ..command() } };
        assert_eq!(Spawn::decode(&no_cwd.encode()), Ok(no_cwd));
        for report in [
            Report::Hello { version: VERSION, pid: 42 },
            Report::Spawned { tag: 7, pid: i32::MAX },
            Report::Failed { tag: 8, errno: 2, error: "No such file or directory".into() },
            Report::Exited { pid: 9, status: 0x0100 },
        ] {
            assert_eq!(Report::decode(&report.encode()), Ok(report));
        }
    }

    #[test]
    fn a_damaged_packet_is_refused_not_guessed() {
        let packet = Spawn { tag: 1, command: command() }.encode();
        for cut in 0..packet.len() {
            assert!(Spawn::decode(&packet[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = packet.clone();
        longer.push(0);
        assert_eq!(Spawn::decode(&longer), Err(WireError::Trailing(1)));
        assert_eq!(Report::decode(&[99]), Err(WireError::Kind(99)));
        // A length that claims more than the packet holds.
        let mut huge = vec![SPAWN];
        huge.extend(1u64.to_le_bytes());
        huge.extend(u32::MAX.to_le_bytes());
        assert_eq!(Spawn::decode(&huge), Err(WireError::Short));
        // A count that claims more items than the packet holds stops at the first missing one.
        let mut many = vec![SPAWN];
        many.extend(1u64.to_le_bytes());
        for s in ["/bin/true", "true"] {
            many.extend((s.len() as u32).to_le_bytes());
            many.extend(s.as_bytes());
        }
        many.extend(u32::MAX.to_le_bytes());
        assert_eq!(Spawn::decode(&many), Err(WireError::Short));
    }
}
