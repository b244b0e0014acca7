//! Output lines packed in runs, the stored form of a job's output: one `job_output` row per run of lines of one
//! stream with consecutive sequence numbers, instead of one `job_events` row per line (whose job id, kind, time and
//! index entry cost more than a short line itself). A run holds the lines joined by `\n` (as bytes: a line may hold
//! a NUL, which PostgreSQL's text cannot) and their times as runs of equal milliseconds, so reading it back gives
//! every line its own sequence number and time, as it was written. This module packs and unpacks; it issues no SQL.
use std::fmt::Write as _;

use entity::job_output;
use sea_orm::ActiveValue::Set;

use super::StoreError;
use crate::domain::{EventBody, JobEvent, JobId, OutputStream};

/// A run holds at most this many lines and about this many bytes, so that reading from its middle unpacks little.
const RUN_LINES: usize = 1024;
const RUN_BYTES: usize = 256 * 1024;

/// How the events of one write are stored: runs of output lines, and every other event as a row of its own.
pub(super) struct Split<'a> {
    pub runs: Vec<job_output::ActiveModel>,
    pub rows: Vec<&'a JobEvent>,
}

/// The stream and text of an output line that can go in a run. A line never holds a `\n` (the pipe splits there);
/// should one ever, it is stored as a row of its own rather than be split in two when read back.
fn packable(event: &JobEvent) -> Option<(OutputStream, &str)> {
    let (stream, line) = match &event.body {
        EventBody::Stdout(line) => (OutputStream::Stdout, line),
        EventBody::Stderr(line) => (OutputStream::Stderr, line),
        _ => return None,
    };
    (!line.contains('\n')).then_some((stream, line.as_str()))
}

/// Splits `events` (in seq order) into runs of output lines and the other events.
pub(super) fn split(events: &[JobEvent]) -> Split<'_> {
    let mut split = Split { runs: Vec::new(), rows: Vec::new() };
    let mut open: Option<Run> = None;
    for event in events {
        let Some((stream, line)) = packable(event) else {
            split.runs.extend(open.take().map(Run::row));
            split.rows.push(event);
            continue;
        };
        match &mut open {
            Some(run) if run.extends(event, stream, line) => run.push(event, line),
            _ => split.runs.extend(open.replace(Run::start(event, stream, line)).map(Run::row)),
        }
    }
    split.runs.extend(open.map(Run::row));
    split
}

/// A run being packed.
struct Run {
    job_id: JobId,
    stream: OutputStream,
    first_seq: i64,
    last_seq: i64,
    lines: Vec<u8>,
    count: usize,
    /// (time, how many lines in a row have it)
    times: Vec<(i64, u64)>,
}

impl Run {
    fn start(event: &JobEvent, stream: OutputStream, line: &str) -> Run {
        Run {
            job_id: event.job_id,
            stream,
            first_seq: event.seq,
            last_seq: event.seq,
            lines: line.as_bytes().to_vec(),
            count: 1,
            times: vec![(event.at, 1)],
        }
    }

    fn extends(&self, event: &JobEvent, stream: OutputStream, line: &str) -> bool {
        event.job_id == self.job_id
            && stream == self.stream
            && event.seq == self.last_seq + 1
            && self.count < RUN_LINES
            && self.lines.len() + 1 + line.len() <= RUN_BYTES
    }

    fn push(&mut self, event: &JobEvent, line: &str) {
        self.lines.push(b'\n');
        self.lines.extend_from_slice(line.as_bytes());
        self.last_seq = event.seq;
        self.count += 1;
        match self.times.last_mut() {
            Some((at, n)) if *at == event.at => *n += 1,
            _ => self.times.push((event.at, 1)),
        }
    }

    fn row(self) -> job_output::ActiveModel {
        job_output::ActiveModel {
            job_id: Set(self.job_id),
            last_seq: Set(self.last_seq),
            first_seq: Set(self.first_seq),
            stream: Set(self.stream.into()),
            lines: Set(self.lines),
            times: Set(encode_times(&self.times)),
        }
    }
}

/// `TIME*COUNT` runs, comma-separated; each time after the first is the difference from the one before.
fn encode_times(times: &[(i64, u64)]) -> String {
    let mut out = String::new();
    let mut before = 0;
    for (i, &(at, n)) in times.iter().enumerate() {
        let shown = if i == 0 { at } else { at.wrapping_sub(before) };
        let sep = if i == 0 { "" } else { "," };
        // Writing to a String cannot fail.
        let _ = write!(out, "{sep}{shown}*{n}");
        before = at;
    }
    out
}

/// The times of `count` lines from their encoded runs; an encoding that does not give exactly `count` is an error.
fn decode_times(text: &str, count: usize) -> Result<Vec<i64>, String> {
    let mut out = Vec::with_capacity(count);
    let mut at = 0i64;
    for (i, part) in text.split(',').enumerate() {
        let (shown, n) = part.split_once('*').ok_or_else(|| format!("time run '{part}' has no '*'"))?;
        let shown: i64 = shown.parse().map_err(|e| format!("time '{shown}': {e}"))?;
        let n: usize = n.parse().map_err(|e| format!("count '{n}': {e}"))?;
        at = if i == 0 { shown } else { at.wrapping_add(shown) };
        if n > count - out.len() {
            return Err(format!("times for more than {count} lines"));
        }
        out.extend(std::iter::repeat_n(at, n));
    }
    if out.len() != count {
        return Err(format!("times for {} of {count} lines", out.len()));
    }
    Ok(out)
}

/// The lines of a stored run with `seq > after`, as events.
pub(super) fn unpack(row: job_output::Model, after: i64) -> Result<Vec<JobEvent>, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt(format!("output run {} of {}: {why}", row.last_seq, row.job_id));
    let count = row
        .last_seq
        .checked_sub(row.first_seq)
        .and_then(|d| usize::try_from(d).ok())
        .and_then(|d| d.checked_add(1))
        // n lines take at least n − 1 bytes (their separators): a larger count is not allocated for.
        .filter(|&n| n <= row.lines.len() + 1)
        .ok_or_else(|| {
            corrupt(format!("seqs {}..={} for {} bytes of lines", row.first_seq, row.last_seq, row.lines.len()))
        })?;
    let times = decode_times(&row.times, count).map_err(corrupt)?;
    let lines = std::str::from_utf8(&row.lines).map_err(|e| corrupt(format!("lines: {e}")))?;
    let lines: Vec<&str> = lines.split('\n').collect();
    if lines.len() != count {
        return Err(corrupt(format!("{} lines for {count} seqs", lines.len())));
    }
    let stream = OutputStream::from(row.stream);
    let skip = usize::try_from(after.saturating_sub(row.first_seq).saturating_add(1)).unwrap_or(0).min(count);
    Ok((skip..count)
        .map(|i| JobEvent {
            job_id: row.job_id,
            seq: row.first_seq + i as i64,
            body: stream.line(lines[i].to_string()),
            at: times[i],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use sea_orm::ActiveValue;

    use super::*;

    fn event(job_id: JobId, seq: i64, body: EventBody, at: i64) -> JobEvent {
        JobEvent { job_id, seq, body, at }
    }

    fn stored(run: job_output::ActiveModel) -> job_output::Model {
        fn take<V: Into<sea_orm::Value>>(value: ActiveValue<V>) -> V {
            value.unwrap()
        }
        job_output::Model {
            job_id: take(run.job_id),
            last_seq: take(run.last_seq),
            first_seq: take(run.first_seq),
            stream: take(run.stream),
            lines: take(run.lines),
            times: take(run.times),
        }
    }

    #[test]
    fn runs_break_at_other_events_and_the_other_stream_and_read_back_the_same() {
        let job = JobId::generate();
        let events = vec![
            event(job, 1, EventBody::Stdout("a".into()), 100),
            event(job, 2, EventBody::Stdout("".into()), 100),
            event(job, 3, EventBody::Stdout("c\rd".into()), 103),
            event(job, 4, EventBody::Stderr("e".into()), 90),
            event(job, 5, EventBody::Progress("{}".into()), 104),
            event(job, 6, EventBody::Stdout("f".into()), 104),
            event(job, 7, EventBody::Stdout("g\nh".into()), 105),
        ];
        let split = split(&events);
        let rows: Vec<i64> = split.rows.iter().map(|e| e.seq).collect();
        assert_eq!(rows, [5, 7], "the progress event and the line with a newline are rows");
        let runs: Vec<job_output::Model> = split.runs.into_iter().map(stored).collect();
        let bounds: Vec<(i64, i64)> = runs.iter().map(|r| (r.first_seq, r.last_seq)).collect();
        assert_eq!(bounds, [(1, 3), (4, 4), (6, 6)]);
        assert_eq!(runs[0].lines, b"a\n\nc\rd");
        assert_eq!(runs[0].times, "100*2,3*1");
        assert_eq!(runs[1].times, "90*1");

        let back: Vec<JobEvent> = runs.iter().flat_map(|r| unpack(r.clone(), 0).unwrap()).collect();
        let mut expected = events.clone();
        expected.retain(|e| e.seq != 5 && e.seq != 7);
        assert_eq!(back, expected, "every line with its own seq and time");
        let cut: Vec<i64> = unpack(runs[0].clone(), 2).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(cut, [3], "only the lines after the seq asked for");
        assert!(unpack(runs[0].clone(), 3).unwrap().is_empty());
    }

    #[test]
    fn a_run_is_bounded_in_lines_and_bytes() {
        let job = JobId::generate();
        let many: Vec<JobEvent> =
            (1..=2 * RUN_LINES as i64 + 1).map(|s| event(job, s, EventBody::Stdout("x".into()), s)).collect();
        let counts: Vec<i64> =
            split(&many).runs.into_iter().map(stored).map(|r| r.last_seq - r.first_seq + 1).collect();
        assert_eq!(counts, [RUN_LINES as i64, RUN_LINES as i64, 1]);
        let long = "y".repeat(RUN_BYTES / 2 - 1);
        let big: Vec<JobEvent> = (1..=3).map(|s| event(job, s, EventBody::Stderr(long.clone()), 0)).collect();
        assert_eq!(split(&big).runs.len(), 2, "two lines and their separator fill a run");
    }

    #[test]
    fn a_run_whose_parts_disagree_is_corrupt() {
        let job = JobId::generate();
        let run = stored(split(&[event(job, 5, EventBody::Stdout("a".into()), 1)]).runs.remove(0));
        let bad = [
            job_output::Model { lines: b"a\nb".to_vec(), ..run.clone() },
            job_output::Model { lines: b"\xff".to_vec(), ..run.clone() },
            job_output::Model { times: "1*2".into(), ..run.clone() },
            job_output::Model { times: "1".into(), ..run.clone() },
            job_output::Model { times: "x*1".into(), ..run.clone() },
            job_output::Model { first_seq: 6, ..run.clone() },
            job_output::Model { first_seq: i64::MIN, ..run.clone() },
        ];
        for row in bad {
            let what = format!("{row:?}");
            assert!(matches!(unpack(row, 0), Err(StoreError::Corrupt(_))), "{what}");
        }
        assert_eq!(unpack(run, 0).unwrap().len(), 1);
    }
}
