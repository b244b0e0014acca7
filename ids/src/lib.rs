//! taskyard's ids: ULID newtypes, so a task id can never be passed where a job id is expected. Shared by the
//! service's domain and, with the `sea-orm` feature, by the entity crate, whose id columns hold them as text: a
//! row cannot be written with an id that is not a ULID, and one read with such an id is an error.
use std::fmt;
use std::str::FromStr;

use ulid::{Generator, Ulid};

/// Ids are generated monotonically within the process, so that ordering by id is ordering by creation even for
/// ids made in the same millisecond ("oldest first" is `ORDER BY id`).
static GENERATOR: std::sync::Mutex<Generator> = std::sync::Mutex::new(Generator::new());

fn next_ulid() -> Ulid {
    let mut generator = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    // Overflow needs 2^80 ids in one millisecond; fall back to a plain (still unique) ULID rather than fail.
    generator.generate().unwrap_or_else(|_| Ulid::generate())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {kind} id: ids are 26-character ULIDs")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
}

/// The text of an id, as a regular expression (ECMA-262): 26 Crockford base-32 digits, either case, the first
/// 0 to 7. `FromStr` accepts exactly these; a test holds the two together.
pub const ULID_PATTERN: &str = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$";

macro_rules! ulid_id {
    ($name:ident, $kind:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "sea-orm", derive(sea_orm::DeriveValueType))]
        #[cfg_attr(feature = "sea-orm", sea_orm(value_type = "String"))]
        pub struct $name(Ulid);

        /// Ids are made here, never counted up by the database.
        #[cfg(feature = "sea-orm")]
        impl sea_orm::TryFromU64 for $name {
            fn try_from_u64(_: u64) -> Result<Self, sea_orm::DbErr> {
                Err(sea_orm::DbErr::ConvertFromU64(stringify!($name)))
            }
        }

        #[cfg(feature = "utoipa")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(ULID_PATTERN))
                    .description(Some(concat!("A ", $kind, " id: a ULID (26 characters)")))
                    .build()
                    .into()
            }
        }

        #[cfg(feature = "utoipa")]
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl $name {
            pub fn generate() -> Self {
                Self(next_ulid())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // A ULID is 128 bits in 26 base-32 digits: the first digit can only be 0 to 7 (the ulid crate
                // would accept larger ones and silently overflow).
                let fits = s.as_bytes().first().is_some_and(|c| (b'0'..=b'7').contains(c));
                fits.then(|| Ulid::from_string(s).ok())
                    .flatten()
                    .map(Self)
                    .ok_or_else(|| IdError { kind: $kind, value: s.chars().take(64).collect() })
            }
        }
    };
}

ulid_id!(TaskId, "task");
ulid_id!(JobId, "job");
ulid_id!(NodeId, "node");
ulid_id!(AuditId, "audit entry");
ulid_id!(ArtifactId, "artifact");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_made_in_a_row_sort_in_creation_order() {
        let ids: Vec<TaskId> = (0..10_000).map(|_| TaskId::generate()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids are not strictly increasing");
    }

    /// What `ULID_PATTERN` says of a 26-character id, without a regex engine: each character in its class.
    fn fits_pattern(s: &str) -> bool {
        let digit = |c: u8| c.is_ascii_digit() || (c.is_ascii_alphabetic() && !b"ilouILOU".contains(&c));
        let b = s.as_bytes();
        b.len() == 26 && (b'0'..=b'7').contains(&b[0]) && b[1..].iter().all(|c| digit(*c))
    }

    #[test]
    fn the_pattern_says_what_parse_accepts() {
        assert_eq!(ULID_PATTERN, "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$", "fits_pattern mirrors this text");
        let base = JobId::generate().to_string();
        for c in 0u8..=255 {
            for at in [0, 1, 25] {
                let mut b = base.clone().into_bytes();
                b[at] = c;
                let Ok(s) = String::from_utf8(b) else { continue };
                assert_eq!(s.parse::<JobId>().is_ok(), fits_pattern(&s), "{s:?}");
            }
        }
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let id = JobId::generate();
        assert_eq!(id.to_string().parse::<JobId>().unwrap(), id);
        for bad in ["", "abc", "01ARZ3NDEKTSV4RRFFQ69G5FA", "ZZZZZZZZZZZZZZZZZZZZZZZZZZ", "01ARZ3NDEKTSV4RRFFQ69G5FAVX"]
        {
            let err = bad.parse::<TaskId>().unwrap_err();
            assert_eq!(err.kind, "task", "{bad}");
        }
    }
}
