//! W3C Trace Context: the `traceparent` of the request that started a job, kept so the job can be found from the
//! trace of the call (<https://www.w3.org/TR/trace-context/#traceparent-header>).
use serde::{Deserialize, Serialize};

/// A valid `traceparent` value: `VERSION-TRACEID-PARENTID-FLAGS` in lowercase hex (2-32-16-2 digits), version not
/// `ff`, trace id and parent id not all zeros. Version `00` has exactly these four fields; a later version may
/// append more after a `-`, which are kept as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Traceparent(String);

impl Traceparent {
    /// The value if it is valid; the specification says an invalid one is ignored, not refused.
    pub fn parse(value: &str) -> Option<Traceparent> {
        let hex =
            |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let mut parts = value.splitn(5, '-');
        let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let rest = parts.next();
        let ok = hex(version, 2)
            && version != "ff"
            && hex(trace, 32)
            && trace.bytes().any(|b| b != b'0')
            && hex(parent, 16)
            && parent.bytes().any(|b| b != b'0')
            && hex(flags, 2)
            && (rest.is_none() || version != "00")
            && value.len() <= 512;
        ok.then(|| Traceparent(value.to_string()))
    }

    /// The trace id: what a tracing system searches by.
    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Traceparent {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Traceparent::parse(&value).ok_or_else(|| format!("not a valid traceparent: {value:?}"))
    }
}

impl From<Traceparent> for String {
    fn from(t: Traceparent) -> String {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::Traceparent;

    #[test]
    fn valid_and_invalid_values() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t = Traceparent::parse(good).expect("the specification's example");
        assert_eq!(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(Traceparent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later").is_some());
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert!(Traceparent::parse(bad).is_none(), "{bad:?}");
        }
    }
}
