//! Human or JSON output on stdout, and the formats of the human one.

use serde::Serialize;

use crate::errors::CliError;

/// How results are printed.
pub struct Output {
    /// One JSON document on stdout, nothing else.
    pub json: bool,
    /// No progress on stderr.
    pub quiet: bool,
}

impl Output {
    pub fn new(json: bool, quiet: bool) -> Self {
        Output { json, quiet }
    }

    /// Prints a command's result: `value` as JSON, or the human text.
    pub fn result<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> Result<(), CliError> {
        crate::progress::clear();
        if self.json {
            let text = serde_json::to_string_pretty(value)
                .map_err(|e| CliError::failed(format!("cannot write JSON: {e}")))?;
            println!("{text}");
        } else {
            print!("{}", human());
        }
        Ok(())
    }

    /// A line of human output (nothing with `--json`).
    pub fn line(&self, text: impl AsRef<str>) {
        if !self.json {
            crate::progress::clear();
            println!("{}", text.as_ref());
        }
    }

    /// Whether progress may be shown.
    pub fn shows_progress(&self) -> bool {
        !self.json && !self.quiet
    }
}

/// `61.2 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `1.84 s`.
pub fn secs(ms: u64) -> String {
    format!("{:.2} s", ms as f64 / 1000.0)
}

/// `33.2 MiB/s`.
pub fn rate(bytes: u64, ms: u64) -> String {
    let per_s = bytes as f64 / (ms.max(1) as f64 / 1000.0);
    format!("{:.1} MiB/s", per_s / (1024.0 * 1024.0))
}

/// The first 12 characters of an id.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(64 * 1024 * 1024), "64.0 MiB");
        assert_eq!(secs(1840), "1.84 s");
        assert_eq!(rate(10 * 1024 * 1024, 2000), "5.0 MiB/s");
        assert_eq!(short("abc"), "abc");
    }
}
