//! Progress on stderr while a backup or recovery runs: a bar (files, bytes,
//! rate, ETA) on a terminal, a plain line a second otherwise, nothing with
//! `--json` or `-q`. Log lines go through here too, so they do not tear a bar.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use heirloom::api::{Progress, ProgressSink};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::{bytes, Output};

fn multi() -> &'static MultiProgress {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// Clears any bar from the terminal before other output.
pub fn clear() {
    let _ = multi().clear();
}

/// The progress display of one operation.
pub struct ProgressView {
    bar: Option<ProgressBar>,
    sink: Arc<dyn ProgressSink>,
}

impl ProgressView {
    /// A display labelled `label` (`backup`, `recover`).
    pub fn start(out: &Output, label: &'static str) -> ProgressView {
        if !out.shows_progress() {
            return ProgressView {
                bar: None,
                sink: Arc::new(|_: Progress| {}),
            };
        }
        if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
            let bar = multi().add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>8} [{bar:30}] {bytes:>10} / {total_bytes:<10} {binary_bytes_per_sec:>12}  ETA {eta:<4} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(label);
            bar.enable_steady_tick(Duration::from_millis(120));
            let b = bar.clone();
            let sink = Arc::new(move |p: Progress| {
                b.set_length(p.bytes_total.max(p.bytes_done));
                b.set_position(p.bytes_done);
                b.set_message(format!("{}/{} files", p.files_done, p.files_total));
            });
            return ProgressView {
                bar: Some(bar),
                sink,
            };
        }
        // When the last line was printed, and whether it said "done".
        let last: Mutex<(Option<Instant>, bool)> = Mutex::new((None, false));
        let sink = Arc::new(move |p: Progress| {
            let done = p.files_done >= p.files_total && p.bytes_done >= p.bytes_total;
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if last.1 {
                return;
            }
            let due = last.0.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
            if due || done {
                *last = (Some(Instant::now()), done);
                let pct = (p.bytes_done * 100)
                    .checked_div(p.bytes_total)
                    .unwrap_or(100);
                eprintln!(
                    "{label}: {}/{} files, {} of {} ({pct}%)",
                    p.files_done,
                    p.files_total,
                    bytes(p.bytes_done),
                    bytes(p.bytes_total)
                );
            }
        });
        ProgressView { bar: None, sink }
    }

    /// The sink to hand to the engine.
    pub fn sink(&self) -> Arc<dyn ProgressSink> {
        self.sink.clone()
    }

    /// Removes the bar.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
            multi().remove(&bar);
        }
    }
}

/// A `tracing` writer to stderr that suspends the bars while it writes.
pub struct LogWriter;

/// One log event, written when dropped.
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        multi().suspend(|| {
            let _ = std::io::stderr().write_all(&buf);
        });
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;
    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}
