//! The progress line protocol: a stdout line `::progress 42` or `::progress 3/10` reports how far a job is.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const PREFIX: &str = "::progress ";

/// How far a job is, as its last progress line said.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    /// 0 to 100.
    pub percent: f64,
    /// With `::progress DONE/TOTAL`: the done count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<u64>,
    /// With `::progress DONE/TOTAL`: the total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl Progress {
    /// The progress a line reports, or `None` when it is ordinary output (malformed progress lines included).
    pub fn parse_line(line: &str) -> Option<Progress> {
        let rest = line.strip_prefix(PREFIX)?.trim();
        if let Some((done, total)) = rest.split_once('/') {
            let done: u64 = done.trim().parse().ok()?;
            let total: u64 = total.trim().parse().ok()?;
            if total == 0 || done > total {
                return None;
            }
            let percent = (done as f64 * 1000.0 / total as f64).round() / 10.0;
            return Some(Progress { percent, done: Some(done), total: Some(total) });
        }
        let percent: f64 = rest.parse().ok()?;
        (percent.is_finite() && (0.0..=100.0).contains(&percent)).then_some(Progress {
            percent,
            done: None,
            total: None,
        })
    }

    pub fn to_json(self) -> String {
        serde_json::to_string(&self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_percent_and_fraction() {
        assert_eq!(Progress::parse_line("::progress 42"), Some(Progress { percent: 42.0, done: None, total: None }));
        assert_eq!(Progress::parse_line("::progress 12.5 "), Some(Progress { percent: 12.5, done: None, total: None }));
        assert_eq!(
            Progress::parse_line("::progress 3/10"),
            Some(Progress { percent: 30.0, done: Some(3), total: Some(10) })
        );
        assert_eq!(Progress::parse_line("::progress 1/3").unwrap().percent, 33.3);
        for other in [
            "::progress",
            "::progress abc",
            "::progress 101",
            "::progress -1",
            "::progress 4/3",
            "::progress 1/0",
            "progress 5",
            " ::progress 5",
            "::progress NaN",
        ] {
            assert_eq!(Progress::parse_line(other), None, "{other}");
        }
    }

    #[test]
    fn json_shape() {
        assert_eq!(Progress::parse_line("::progress 50").unwrap().to_json(), r#"{"percent":50.0}"#);
        assert_eq!(Progress::parse_line("::progress 1/2").unwrap().to_json(), r#"{"percent":50.0,"done":1,"total":2}"#);
    }
}
