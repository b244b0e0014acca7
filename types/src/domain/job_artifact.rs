//! A job's artifact files: what a job attempt left in its artifacts directory, kept or dropped with the reason.
//! (Not the record a registered function returns: these are the files of a shell job.)
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::JobId;

/// Why a file in the artifacts directory was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The job already had `artifacts_max_files` files kept.
    TooManyFiles,
    /// Keeping it would pass `artifacts_max_bytes` for the job.
    TooLarge,
    /// A symbolic link, FIFO, socket or device: never followed nor read.
    NotARegularFile,
    /// Its path is not UTF-8, or holds a character a name may not (a control character, a backslash).
    BadName,
    /// Nested deeper than the bound on sub-directories.
    TooDeep,
    /// A directory with more entries than are looked at; the rest of it was not looked at.
    TooManyEntries,
    /// It could not be read, or the artifact store refused it (the detail says why).
    StoreFailed,
}

impl DropReason {
    pub const ALL: &[DropReason] = &[
        DropReason::TooManyFiles,
        DropReason::TooLarge,
        DropReason::NotARegularFile,
        DropReason::BadName,
        DropReason::TooDeep,
        DropReason::TooManyEntries,
        DropReason::StoreFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TooManyFiles => "too_many_files",
            DropReason::TooLarge => "too_large",
            DropReason::NotARegularFile => "not_a_regular_file",
            DropReason::BadName => "bad_name",
            DropReason::TooDeep => "too_deep",
            DropReason::TooManyEntries => "too_many_entries",
            DropReason::StoreFailed => "store_failed",
        }
    }
}

/// One file found in a job attempt's artifacts directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobArtifact {
    pub job_id: JobId,
    pub attempt: i32,
    /// Its path relative to the artifacts directory, with `/` between directories.
    pub name: String,
    /// Bytes kept; for a dropped file, its size as found (0 when it has none).
    pub size: i64,
    pub content_type: String,
    /// Lowercase hex SHA-256 of the bytes kept; `None` when dropped.
    pub sha256: Option<String>,
    pub dropped: Option<DropReason>,
    /// Why it was dropped, in words, when there is more to say than the reason.
    pub detail: Option<String>,
    /// Where its bytes are in the artifact store; `None` when dropped.
    pub object_key: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

/// Whether `name` (a relative path with `/` separators) may be an artifact's name: non-empty components, none of
/// them `.` or `..`, no control characters or backslashes, at most 1,024 bytes.
pub fn is_artifact_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 1024
        && !name.chars().any(|c| c.is_control() || c == '\\')
        && name.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_relative_paths() {
        for ok in ["a.txt", "sub/dir/b.bin", "x y", "ünï"] {
            assert!(is_artifact_name(ok), "{ok}");
        }
        for bad in ["", "/abs", "a/../b", "..", "./a", "a//b", "a/", "a\\b", "a\nb", &"x".repeat(1025)] {
            assert!(!is_artifact_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn every_reason_has_its_name() {
        for r in DropReason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
