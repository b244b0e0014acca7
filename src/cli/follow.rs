//! Printing a job's events as they come, for `run --follow` and `logs -f`: stdout lines to stdout, stderr lines to
//! stderr, a progress bar on a terminal when the job reports progress, JSON lines for scripts.
use std::io::IsTerminal;

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use taskyard_client::wire::{JobView, StreamFilter};
use taskyard_client::{Client, Event, JobEvent};

use super::remote::Failure;

/// What to print of a followed job.
pub struct Printer {
    pub json: bool,
    pub lines: StreamFilter,
    /// Also print state changes, retries and truncation notes (`run --follow`), not just lines (`logs -f`).
    pub everything: bool,
    bar: Option<ProgressBar>,
}

impl Printer {
    pub fn new(json: bool, lines: StreamFilter, everything: bool) -> Printer {
        Printer { json, lines, everything, bar: None }
    }

    fn wants(&self, stream: StreamFilter) -> bool {
        self.lines == StreamFilter::Both || self.lines == stream
    }

    fn print(&mut self, item: &JobEvent) {
        if self.json {
            self.print_json(item);
            return;
        }
        match &item.event {
            Event::Stdout(line) if self.wants(StreamFilter::Stdout) => self.out(|| println!("{line}")),
            Event::Stderr(line) if self.wants(StreamFilter::Stderr) => self.out(|| eprintln!("{line}")),
            Event::Progress(progress) if self.everything && std::io::stderr().is_terminal() => {
                let bar = self.bar.get_or_insert_with(|| {
                    let bar = ProgressBar::new(100);
                    if let Ok(style) = ProgressStyle::with_template("{bar:40.cyan/blue} {pos:>3}% {msg}") {
                        bar.set_style(style);
                    }
                    bar
                });
                bar.set_position(progress.percent.round().clamp(0.0, 100.0) as u64);
                if let (Some(done), Some(total)) = (progress.done, progress.total) {
                    bar.set_message(format!("{done}/{total}"));
                }
            }
            Event::Retry(retry) if self.everything => {
                let note = format!(
                    "taskyard: attempt {} failed ({}); attempt {} runs at {}",
                    retry["attempt"],
                    retry["error"].as_str().or(retry["outcome"].as_str()).unwrap_or("failed"),
                    retry["next_attempt"],
                    retry["run_at"].as_str().unwrap_or("?"),
                );
                self.out(|| eprintln!("{note}"));
            }
            Event::Truncated(t) if self.everything => {
                let note = format!(
                    "taskyard: {} lines ({} bytes) of {} were not stored (output bound)",
                    t["dropped_lines"],
                    t["dropped_bytes"],
                    t["stream"].as_str().unwrap_or("output")
                );
                self.out(|| eprintln!("{note}"));
            }
            _ => {}
        }
    }

    fn out(&self, print: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    fn print_json(&self, item: &JobEvent) {
        let (name, data): (&str, Value) = match &item.event {
            Event::Stdout(line) if self.wants(StreamFilter::Stdout) => ("stdout", json!(line)),
            Event::Stderr(line) if self.wants(StreamFilter::Stderr) => ("stderr", json!(line)),
            Event::State(job) if self.everything => ("state", json!(job)),
            Event::Progress(p) if self.everything => ("progress", json!(p)),
            Event::Retry(r) if self.everything => ("retry", r.clone()),
            Event::Truncated(t) if self.everything => ("truncated", t.clone()),
            _ => return,
        };
        super::format::json_line(&json!({"seq": item.seq, "event": name, "data": data}));
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Follows job `id` to its end, printing as `printer` says: the final record.
pub async fn follow(client: &Client, id: &str, printer: &mut Printer) -> Result<JobView, Failure> {
    let mut events = client.follow(id);
    let mut last = None;
    while let Some(item) = events.next().await {
        let item = match item {
            Ok(item) => item,
            Err(err) => {
                printer.finish();
                return Err(err.into());
            }
        };
        printer.print(&item);
        if let Some(job) = item.event.final_job() {
            last = Some(job.clone());
        }
    }
    printer.finish();
    match last {
        Some(job) => Ok(job),
        // The job had finished before (a resume answered 204): its record says how.
        None => Ok(client.job(id).await?),
    }
}
