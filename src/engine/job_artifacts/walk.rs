//! Finding what a job left in its artifacts directory, as an attacker might have arranged it: the walk goes from
//! directory descriptor to directory descriptor (`openat` with `O_NOFOLLOW`), so no symbolic link, whether found
//! or swapped in while the walk runs, is ever followed, and nothing outside the directory is reached. Only regular
//! files are opened (`O_NONBLOCK`, so a FIFO swapped in cannot hang the walk, and checked again on the open file);
//! links, FIFOs, sockets and devices are listed as dropped. The walk is bounded in depth and in entries looked at,
//! and it reserves the job's byte and file bounds in the order it finds files (by name, directories depth-first).
use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};

use crate::domain::DropReason;
use crate::domain::job_artifact::is_artifact_name;

/// Sub-directories deeper than this are not entered.
pub const MAX_DEPTH: usize = 16;

/// What the walk may keep.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_files: u64,
    pub max_bytes: u64,
    /// Entries looked at, in all: past it, the rest of the directory being read is listed as one dropped entry.
    pub max_entries: u64,
}

/// One thing found.
#[derive(Debug)]
pub enum Found {
    /// A regular file to keep: `size` bytes of it are reserved.
    Keep {
        name: String,
        file: File,
        size: u64,
    },
    Drop {
        name: String,
        size: u64,
        reason: DropReason,
        detail: Option<String>,
    },
}

struct Walk {
    limits: Limits,
    files: u64,
    bytes: u64,
    entries: u64,
    found: Vec<Found>,
}

/// Walks the directory `root` (itself opened without following a link).
pub fn walk(root: &Path, limits: Limits) -> std::io::Result<Vec<Found>> {
    let fd = openat(nix::fcntl::AT_FDCWD, root, dir_flags(), Mode::empty())?;
    let mut walk = Walk { limits, files: 0, bytes: 0, entries: 0, found: Vec::new() };
    walk.dir(fd, "", 0);
    Ok(walk.found)
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

fn file_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC
}

fn kind(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT
}

impl Walk {
    fn drop(&mut self, name: String, size: u64, reason: DropReason, detail: Option<String>) {
        self.found.push(Found::Drop { name, size, reason, detail });
    }

    fn dir(&mut self, fd: OwnedFd, prefix: &str, depth: usize) {
        let listing = nix::unistd::dup(&fd).and_then(Dir::from_fd);
        let mut dir = match listing {
            Ok(dir) => dir,
            Err(e) => return self.unreadable(prefix, e),
        };
        let mut names: Vec<Vec<u8>> = Vec::new();
        for entry in dir.iter() {
            match entry {
                Ok(e) if matches!(e.file_name().to_bytes(), b"." | b"..") => {}
                Ok(e) => names.push(e.file_name().to_bytes().to_vec()),
                Err(e) => return self.unreadable(prefix, e),
            }
        }
        names.sort();
        for (i, raw) in names.iter().enumerate() {
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                let name = if prefix.is_empty() { ".".to_string() } else { prefix.trim_end_matches('/').to_string() };
                let detail = format!("{} entries of this directory were not looked at", names.len() - i);
                return self.drop(name, 0, DropReason::TooManyEntries, Some(detail));
            }
            self.entry(&fd, raw, prefix, depth);
        }
    }

    fn unreadable(&mut self, prefix: &str, e: nix::Error) {
        let name = if prefix.is_empty() { ".".to_string() } else { prefix.trim_end_matches('/').to_string() };
        self.drop(name, 0, DropReason::StoreFailed, Some(format!("cannot read the directory: {e}")));
    }

    fn entry(&mut self, dir: &OwnedFd, raw: &[u8], prefix: &str, depth: usize) {
        let Ok(cname) = std::ffi::CString::new(raw) else { return };
        let name = match std::str::from_utf8(raw) {
            Ok(s) if is_artifact_name(s) && !s.contains('/') => format!("{prefix}{s}"),
            _ => {
                let shown = format!("{prefix}{}", String::from_utf8_lossy(raw).replace(|c: char| c.is_control(), "?"));
                return self.drop(shown, 0, DropReason::BadName, None);
            }
        };
        let stat = match fstatat(dir.as_fd(), cname.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(e) => return self.drop(name, 0, DropReason::StoreFailed, Some(format!("cannot look at it: {e}"))),
        };
        match kind(&stat) {
            SFlag::S_IFDIR if depth + 1 >= MAX_DEPTH => self.drop(name, 0, DropReason::TooDeep, None),
            SFlag::S_IFDIR => match openat(dir.as_fd(), cname.as_c_str(), dir_flags(), Mode::empty()) {
                Ok(fd) => self.dir(fd, &format!("{name}/"), depth + 1),
                Err(e) => self.drop(name, 0, DropReason::StoreFailed, Some(format!("cannot open the directory: {e}"))),
            },
            SFlag::S_IFREG => self.file(dir, &cname, name),
            _ => self.drop(name, stat.st_size.max(0) as u64, DropReason::NotARegularFile, None),
        }
    }

    fn file(&mut self, dir: &OwnedFd, cname: &CStr, name: String) {
        let opened = openat(dir.as_fd(), cname, file_flags(), Mode::empty()).and_then(|fd| {
            let stat = fstat(&fd)?;
            Ok((fd, stat))
        });
        let (fd, stat) = match opened {
            Ok(found) => found,
            // ELOOP: it became a link since it was looked at.
            Err(nix::Error::ELOOP) => return self.drop(name, 0, DropReason::NotARegularFile, None),
            Err(e) => return self.drop(name, 0, DropReason::StoreFailed, Some(format!("cannot open it: {e}"))),
        };
        let size = stat.st_size.max(0) as u64;
        if kind(&stat) != SFlag::S_IFREG {
            return self.drop(name, size, DropReason::NotARegularFile, None);
        }
        if self.files >= self.limits.max_files {
            let detail = format!("the job may keep {} files", self.limits.max_files);
            return self.drop(name, size, DropReason::TooManyFiles, Some(detail));
        }
        if self.bytes + size > self.limits.max_bytes {
            let detail = format!(
                "{size} bytes; the job may keep {} bytes in all, {} of them already kept",
                self.limits.max_bytes, self.bytes
            );
            return self.drop(name, size, DropReason::TooLarge, Some(detail));
        }
        self.files += 1;
        self.bytes += size;
        self.found.push(Found::Keep { name, file: File::from(fd), size });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { max_files: 3, max_bytes: 10, max_entries: 100 }
    }

    fn summary(found: &[Found]) -> Vec<(String, Option<DropReason>)> {
        found
            .iter()
            .map(|f| match f {
                Found::Keep { name, .. } => (name.clone(), None),
                Found::Drop { name, reason, .. } => (name.clone(), Some(*reason)),
            })
            .collect()
    }

    #[test]
    fn links_fifos_and_bounds_are_dropped_and_files_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.txt"), "hello").unwrap();
        std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
        std::fs::write(root.join("sub/deeper/b"), "xy").unwrap();
        std::fs::write(root.join("big"), "0123456789").unwrap();
        std::fs::write(root.join("c"), "1").unwrap();
        std::fs::write(root.join("d"), "1").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("passwd")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
        nix::unistd::mkfifo(&root.join("fifo"), Mode::S_IRWXU).unwrap();
        let found = walk(root, limits()).unwrap();
        assert_eq!(
            summary(&found),
            [
                ("a.txt".to_string(), None),
                ("big".into(), Some(DropReason::TooLarge)),
                ("c".into(), None),
                ("d".into(), None),
                ("etc".into(), Some(DropReason::NotARegularFile)),
                ("fifo".into(), Some(DropReason::NotARegularFile)),
                ("passwd".into(), Some(DropReason::NotARegularFile)),
                ("sub/deeper/b".into(), Some(DropReason::TooManyFiles)),
            ]
        );
        let more = walk(root, Limits { max_files: 2, max_bytes: 100, max_entries: 100 }).unwrap();
        assert_eq!(summary(&more)[2], ("c".to_string(), Some(DropReason::TooManyFiles)));
        let tight = walk(root, Limits { max_files: 9, max_bytes: 6, max_entries: 100 }).unwrap();
        assert_eq!(summary(&tight)[3], ("d".to_string(), Some(DropReason::TooLarge)), "5 + 1 bytes kept already");
    }

    #[test]
    fn the_walk_is_bounded_in_entries_and_depth() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..10 {
            std::fs::write(dir.path().join(format!("f{i}")), "").unwrap();
        }
        let found = walk(dir.path(), Limits { max_files: 100, max_bytes: 100, max_entries: 4 }).unwrap();
        assert_eq!(found.len(), 5);
        assert!(matches!(&found[4], Found::Drop { name, reason: DropReason::TooManyEntries, .. } if name == "."));

        let deep = dir.path().join(["d"; MAX_DEPTH + 2].join("/"));
        std::fs::create_dir_all(&deep).unwrap();
        let found = walk(dir.path(), Limits { max_files: 100, max_bytes: 100, max_entries: 1000 }).unwrap();
        assert!(found.iter().any(|f| matches!(f, Found::Drop { reason: DropReason::TooDeep, .. })));
    }

    #[test]
    fn the_root_itself_is_not_followed_when_it_is_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("root");
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        assert!(walk(&link, limits()).is_err());
    }
}
