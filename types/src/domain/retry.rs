//! Retry policies: when a failed attempt runs again, and after how long.
//!
//! The default is no policy at all: a shell command may not be safe to run twice, so a task opts in.
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Outcome;

pub const MAX_ATTEMPTS: u32 = 100;
/// The longest delay a policy may ask for between attempts.
pub const MAX_DELAY_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// How the delay between attempts grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// Always `initial_delay_seconds`.
    Fixed,
    /// `initial_delay_seconds × 2^(n-1)`, capped at `max_delay_seconds`, then a random value in [half of it, all of it].
    #[default]
    Exponential,
}

/// The outcomes a policy may retry on. `canceled` and `success` never retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryOn {
    ExitCode,
    Signal,
    Timeout,
    Lost,
    Interrupted,
    SpawnError,
    /// A registered function returned an error.
    Error,
    /// A registered function panicked.
    Panic,
}

impl RetryOn {
    fn matches(self, outcome: Outcome) -> bool {
        matches!(
            (self, outcome),
            (Self::ExitCode, Outcome::ExitCode)
                | (Self::Signal, Outcome::Signal)
                | (Self::Timeout, Outcome::Timeout)
                | (Self::Lost, Outcome::Lost)
                | (Self::Interrupted, Outcome::Interrupted)
                | (Self::SpawnError, Outcome::SpawnError)
                | (Self::Error, Outcome::Error)
                | (Self::Panic, Outcome::Panic)
        )
    }
}

fn default_on() -> Vec<RetryOn> {
    vec![RetryOn::ExitCode, RetryOn::Signal, RetryOn::Timeout, RetryOn::Lost, RetryOn::Interrupted, RetryOn::Error]
}

fn default_initial() -> f64 {
    1.0
}

fn default_max() -> f64 {
    300.0
}

/// How a task's failed attempts run again. Without one, a job runs at most once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    // Parsed from user input: `validate` checks the numbers before anything trusts them.
    /// Attempts in all, the first included (1 to 100).
    #[schema(minimum = 1, maximum = 100)]
    pub max_attempts: u32,
    #[serde(default)]
    pub backoff: Backoff,
    /// Delay before the second attempt, in seconds (fractions allowed; 0 retries at once). Default 1.
    #[serde(default = "default_initial")]
    pub initial_delay_seconds: f64,
    /// Upper bound of the delay, in seconds. Default 300.
    #[serde(default = "default_max")]
    pub max_delay_seconds: f64,
    /// Which outcomes retry. Default: exit_code, signal, timeout, lost, interrupted.
    #[serde(default = "default_on")]
    pub on: Vec<RetryOn>,
    /// When set, only these exit codes (1 to 255) count as `exit_code` failures worth retrying; `on` must list
    /// `exit_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_codes: Option<Vec<i32>>,
}

impl RetryPolicy {
    /// Checks the numbers; the message names the field.
    pub fn validate(mut self) -> Result<RetryPolicy, String> {
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(format!("retry.max_attempts must be between 1 and {MAX_ATTEMPTS}, got {}", self.max_attempts));
        }
        let seconds = |name: &str, v: f64| {
            if v.is_finite() && (0.0..=MAX_DELAY_SECONDS).contains(&v) {
                Ok(())
            } else {
                Err(format!("retry.{name} must be between 0 and {MAX_DELAY_SECONDS}, got {v}"))
            }
        };
        seconds("initial_delay_seconds", self.initial_delay_seconds)?;
        seconds("max_delay_seconds", self.max_delay_seconds)?;
        if self.max_delay_seconds < self.initial_delay_seconds {
            return Err(format!(
                "retry.max_delay_seconds ({}) must not be less than retry.initial_delay_seconds ({})",
                self.max_delay_seconds, self.initial_delay_seconds
            ));
        }
        if self.on.is_empty() {
            return Err("retry.on must list at least one outcome (exit_code, signal, timeout, lost, interrupted, \
                        spawn_error)"
                .into());
        }
        let mut seen = Vec::new();
        self.on.retain(|on| {
            if seen.contains(on) {
                false
            } else {
                seen.push(*on);
                true
            }
        });
        if let Some(codes) = &self.exit_codes {
            if !self.on.contains(&RetryOn::ExitCode) {
                return Err("retry.exit_codes applies only when retry.on lists exit_code".into());
            }
            if codes.is_empty() || codes.len() > 255 {
                return Err("retry.exit_codes must list between 1 and 255 exit codes".into());
            }
            if let Some(bad) = codes.iter().find(|c| !(1..=255).contains(*c)) {
                return Err(format!("retry.exit_codes: {bad} is not a failing exit code (1 to 255)"));
            }
        }
        Ok(self)
    }

    /// Whether an attempt that ended with `outcome` (and `exit_code`) may run again under this policy, attempts
    /// left aside.
    pub fn retries(&self, outcome: Outcome, exit_code: Option<i32>) -> bool {
        if !self.on.iter().any(|on| on.matches(outcome)) {
            return false;
        }
        match (&self.exit_codes, outcome) {
            (Some(codes), Outcome::ExitCode) => exit_code.is_some_and(|c| codes.contains(&c)),
            _ => true,
        }
    }

    /// The wait before attempt `failed_attempt + 1`. `jitter` is a random number in [0, 1).
    pub fn delay(&self, failed_attempt: u32, jitter: f64) -> Duration {
        let initial = self.initial_delay_seconds;
        let seconds = match self.backoff {
            Backoff::Fixed => initial,
            Backoff::Exponential => {
                let exp = failed_attempt.saturating_sub(1).min(62) as i32;
                let full = (initial * 2f64.powi(exp)).min(self.max_delay_seconds);
                full / 2.0 + full / 2.0 * jitter.clamp(0.0, 1.0)
            }
        };
        Duration::from_secs_f64(seconds.clamp(0.0, MAX_DELAY_SECONDS))
    }
}

/// What to do after an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Run again after this delay, as attempt `attempt`.
    Retry { attempt: i32, delay: Duration },
    /// The job ends here.
    End,
}

/// Decides what follows attempt `attempt` that ended with `outcome`.
pub fn next(policy: Option<&RetryPolicy>, attempt: i32, outcome: Outcome, exit_code: Option<i32>, jitter: f64) -> Next {
    match policy {
        Some(p) if attempt >= 1 && (attempt as u32) < p.max_attempts && p.retries(outcome, exit_code) => {
            Next::Retry { attempt: attempt + 1, delay: p.delay(attempt as u32, jitter) }
        }
        _ => Next::End,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: serde_json::Value) -> RetryPolicy {
        serde_json::from_value::<RetryPolicy>(json).unwrap().validate().unwrap()
    }

    #[test]
    fn defaults_and_validation() {
        let p = policy(serde_json::json!({"max_attempts": 3}));
        assert_eq!(p.backoff, Backoff::Exponential);
        assert_eq!(p.initial_delay_seconds, 1.0);
        assert_eq!(p.max_delay_seconds, 300.0);
        assert!(p.retries(Outcome::Lost, None));
        assert!(!p.retries(Outcome::Canceled, None));
        assert!(!p.retries(Outcome::SpawnError, None));
        for (bad, field) in [
            (serde_json::json!({"max_attempts": 0}), "max_attempts"),
            (serde_json::json!({"max_attempts": 101}), "max_attempts"),
            (serde_json::json!({"max_attempts": 2, "on": []}), "retry.on"),
            (serde_json::json!({"max_attempts": 2, "initial_delay_seconds": 5, "max_delay_seconds": 1}), "max_delay"),
            (serde_json::json!({"max_attempts": 2, "initial_delay_seconds": -1}), "initial_delay"),
            (serde_json::json!({"max_attempts": 2, "exit_codes": [0]}), "exit_codes"),
        ] {
            let err = serde_json::from_value::<RetryPolicy>(bad.clone()).unwrap().validate().unwrap_err();
            assert!(err.contains(field), "{bad}: {err}");
        }
        assert!(serde_json::from_value::<RetryPolicy>(serde_json::json!({"max_attempts": 2, "x": 1})).is_err());
        assert!(
            serde_json::from_value::<RetryPolicy>(serde_json::json!({"max_attempts": 2, "on": ["canceled"]})).is_err()
        );
    }

    #[test]
    fn decides_the_next_attempt() {
        let p = policy(serde_json::json!({"max_attempts": 3, "backoff": "fixed", "initial_delay_seconds": 2,
            "on": ["exit_code"], "exit_codes": [75]}));
        let retry = Next::Retry { attempt: 2, delay: Duration::from_secs(2) };
        assert_eq!(next(Some(&p), 1, Outcome::ExitCode, Some(75), 0.3), retry);
        assert_eq!(next(Some(&p), 1, Outcome::ExitCode, Some(1), 0.3), Next::End);
        assert_eq!(next(Some(&p), 3, Outcome::ExitCode, Some(75), 0.3), Next::End);
        assert_eq!(next(Some(&p), 1, Outcome::Timeout, None, 0.3), Next::End);
        assert_eq!(next(None, 1, Outcome::Lost, None, 0.3), Next::End);
    }

    #[test]
    fn exponential_backoff_is_capped_and_jittered() {
        let p = policy(serde_json::json!({"max_attempts": 10, "initial_delay_seconds": 1, "max_delay_seconds": 10}));
        assert_eq!(p.delay(1, 0.0), Duration::from_millis(500));
        assert_eq!(p.delay(1, 0.999_999), Duration::from_secs_f64(0.999_999_5));
        assert_eq!(p.delay(3, 0.0), Duration::from_secs(2));
        assert_eq!(p.delay(9, 0.0), Duration::from_secs(5));
        assert_eq!(p.delay(60, 1.0), Duration::from_secs(10));
    }
}
