//! Schedules: a task that runs by itself at the times a cron expression names, in a time zone.
//!
//! The expression is parsed and evaluated by `croner` in the IANA zone from `chrono-tz`; nothing here does cron or
//! calendar arithmetic by hand. Daylight saving time (croner's rules, the Open Cron Pattern Specification's):
//! in a gap (clocks jump forward), a fixed time such as `30 2 * * *` fires at the first moment after the gap on
//! that day, and the fires of an interval such as `*/15 * * * *` inside the gap do not happen; in an overlap
//! (clocks go back), a fixed time fires once (on its first pass) and an interval fires on both passes.
use std::str::FromStr;

use chrono::{DateTime, SubsecRound};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a fire does while an earlier job of the task is still pending or running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Run anyway: jobs of one task may run side by side.
    #[default]
    Allow,
    /// Do not run: the fire is dropped.
    Skip,
    /// Wait: the fire runs when the earlier job ends (fires that come due meanwhile join it: one waits at most).
    Queue,
}

/// What happens to fires whose time passed while no node was there to make their job (downtime, a disabled task
/// being enabled again counts as a new start: see [`Schedule::first_after`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Missed {
    /// Fires later than the grace period are dropped; the schedule goes on with the next one to come.
    #[default]
    Skip,
    /// One job runs for all of them (its `scheduled_for` is the latest missed fire).
    Once,
}

/// A schedule as written: the body of a task's `schedule` field and its stored form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Cron expression: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, or a name
    /// such as `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`.
    #[schema(example = "30 2 * * *", min_length = 1)]
    pub cron: String,
    /// IANA time zone the expression is read in (default `UTC`).
    #[serde(default = "utc")]
    #[schema(example = "Europe/Paris")]
    pub timezone: String,
    /// While an earlier job of the task is pending or running: `allow` (default), `skip` or `queue`.
    #[serde(default)]
    pub overlap: Overlap,
    /// Fires missed by more than the grace period (all nodes down): `skip` (default) or run `once`.
    #[serde(default)]
    pub missed: Missed,
}

fn utc() -> String {
    "UTC".to_string()
}

/// What is wrong with a schedule, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("schedule.cron '{0}' is not a cron expression: {1}")]
    Cron(String, String),
    #[error("schedule.timezone '{0}' is not an IANA time zone name (like UTC or Europe/Paris)")]
    Timezone(String),
}

/// A checked schedule: its expression parses and its zone exists.
#[derive(Debug, Clone)]
pub struct Schedule {
    spec: ScheduleSpec,
    cron: Cron,
    tz: Tz,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Schedule {
    pub fn parse(spec: ScheduleSpec) -> Result<Schedule, ScheduleError> {
        let shown: String = spec.cron.chars().take(100).collect();
        let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
        let cron = parser.parse(&spec.cron).map_err(|e| ScheduleError::Cron(shown.clone(), e.to_string()))?;
        let tz = Tz::from_str(&spec.timezone)
            .map_err(|_| ScheduleError::Timezone(spec.timezone.chars().take(100).collect()))?;
        Ok(Schedule { spec, cron, tz })
    }

    pub fn spec(&self) -> &ScheduleSpec {
        &self.spec
    }

    pub fn overlap(&self) -> Overlap {
        self.spec.overlap
    }

    pub fn missed(&self) -> Missed {
        self.spec.missed
    }

    fn local(&self, ms: i64) -> Option<DateTime<Tz>> {
        Some(DateTime::from_timestamp_millis(ms)?.with_timezone(&self.tz))
    }

    /// The first fire strictly after `ms` (Unix ms), if any before the year 5000.
    pub fn first_after(&self, ms: i64) -> Option<i64> {
        // Fires fall on whole seconds, so the first one after the whole second is also the first after `ms`.
        let from = self.local(ms)?.trunc_subsecs(0);
        self.cron.find_next_occurrence(&from, false).ok().map(|t| t.timestamp_millis())
    }

    /// The latest fire at or before `ms`, if any.
    pub fn latest_at_or_before(&self, ms: i64) -> Option<i64> {
        let at = self.local(ms)?.trunc_subsecs(0);
        self.cron.find_previous_occurrence(&at, true).ok().map(|t| t.timestamp_millis())
    }

    /// The next `count` fires strictly after `ms`.
    pub fn preview(&self, ms: i64, count: usize) -> Vec<i64> {
        let mut fires = Vec::with_capacity(count);
        let mut at = ms;
        while fires.len() < count {
            let Some(next) = self.first_after(at) else { break };
            fires.push(next);
            at = next;
        }
        fires
    }

    /// `ms` as a time in the schedule's zone (RFC 3339 with its offset), as a preview shows it.
    pub fn local_rfc3339(&self, ms: i64) -> String {
        self.local(ms).map(|t| t.to_rfc3339()).unwrap_or_default()
    }

    /// The zone's name.
    pub fn timezone(&self) -> &str {
        self.tz.name()
    }
}

impl Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.spec.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Schedule::parse(ScheduleSpec::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(cron: &str, tz: &str) -> Schedule {
        let spec =
            ScheduleSpec { cron: cron.into(), timezone: tz.into(), overlap: Overlap::Allow, missed: Missed::Skip };
        Schedule::parse(spec).unwrap()
    }

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis()
    }

    fn shown(s: &Schedule, fires: &[i64]) -> Vec<String> {
        fires.iter().map(|&f| s.local_rfc3339(f)).collect()
    }

    #[test]
    fn five_and_six_fields_and_names_parse() {
        let s = schedule("*/15 * * * *", "UTC");
        assert_eq!(
            shown(&s, &s.preview(ms("2026-01-01T00:07:30Z"), 2)),
            ["2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00"]
        );
        let s = schedule("*/2 * * * * *", "UTC");
        assert_eq!(
            s.preview(ms("2026-01-01T00:00:00.500Z"), 2),
            [ms("2026-01-01T00:00:02Z"), ms("2026-01-01T00:00:04Z")]
        );
        let s = schedule("@hourly", "UTC");
        assert_eq!(s.first_after(ms("2026-01-01T00:00:00Z")), Some(ms("2026-01-01T01:00:00Z")));
        assert_eq!(s.latest_at_or_before(ms("2026-01-01T01:00:00Z")), Some(ms("2026-01-01T01:00:00Z")));
        assert_eq!(s.latest_at_or_before(ms("2026-01-01T01:59:59.999Z")), Some(ms("2026-01-01T01:00:00Z")));
    }

    #[test]
    fn bad_expressions_and_zones_name_their_field() {
        let bad = |cron: &str, tz: &str| {
            let spec =
                ScheduleSpec { cron: cron.into(), timezone: tz.into(), overlap: Overlap::Allow, missed: Missed::Skip };
            Schedule::parse(spec).unwrap_err().to_string()
        };
        for cron in ["", "* * *", "61 * * * *", "* * * * * * *", "@often", "0 0 30 2 * 2026"] {
            assert!(bad(cron, "UTC").starts_with("schedule.cron"), "{cron:?}: {}", bad(cron, "UTC"));
        }
        for tz in ["", "Mars/Olympus", "utc+1"] {
            assert!(bad("* * * * *", tz).starts_with("schedule.timezone"), "{tz:?}");
        }
    }

    #[test]
    fn a_zone_moves_the_fires() {
        let s = schedule("0 9 * * *", "Europe/Paris");
        assert_eq!(s.first_after(ms("2026-07-01T00:00:00Z")), Some(ms("2026-07-01T07:00:00Z")));
        assert_eq!(s.first_after(ms("2026-01-01T00:00:00Z")), Some(ms("2026-01-01T08:00:00Z")));
    }

    #[test]
    fn a_dst_gap_fires_a_fixed_time_after_it_and_skips_interval_fires_in_it() {
        // Europe/Paris, 2026-03-29: 02:00 local jumps to 03:00.
        let fixed = schedule("30 2 * * *", "Europe/Paris");
        assert_eq!(
            shown(&fixed, &fixed.preview(ms("2026-03-28T12:00:00Z"), 2)),
            ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]
        );
        let every = schedule("*/30 * * * *", "Europe/Paris");
        // From 01:45 local: 02:00 and 02:30 do not exist that day.
        let fires = every.preview(ms("2026-03-29T00:45:00Z"), 3);
        assert_eq!(
            shown(&every, &fires),
            ["2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00", "2026-03-29T04:00:00+02:00"]
        );
    }

    #[test]
    fn a_dst_overlap_fires_a_fixed_time_once_and_an_interval_on_both_passes() {
        // Europe/Paris, 2026-10-25: 03:00 local goes back to 02:00.
        let fixed = schedule("30 2 * * *", "Europe/Paris");
        assert_eq!(
            shown(&fixed, &fixed.preview(ms("2026-10-24T12:00:00Z"), 2)),
            ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
        );
        let every = schedule("30 * * * *", "Europe/Paris");
        let fires = every.preview(ms("2026-10-24T23:00:00Z"), 3);
        assert_eq!(
            shown(&every, &fires),
            ["2026-10-25T01:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"]
        );
    }
}
