//! The words for an agent that died during start-up: its exit code and its last lines, from the
//! exit record and transcript of the run in question (never an earlier run's).

use std::path::Path;

use crate::paths::{SessionKey, StateDir};
use crate::registry::{self, ExitRecord};
use crate::session;

/// "agent X exited with code N during start-up; its last output: …", when `this_run` accepts
/// the session's exit record.
pub fn of_run(
    state: &StateDir,
    key: &SessionKey,
    this_run: impl Fn(&ExitRecord) -> bool,
) -> Option<String> {
    let record = registry::read_exit(state, key).filter(this_run)?;
    let tail = session::transcript_tail(&state.output_path(key), 4096);
    let lines = last_lines(&crate::text::strip_ansi(&tail), 10);
    Some(format!(
        "agent {} exited with code {} during start-up{}",
        record.cli,
        record.exit_code_text(),
        if lines.is_empty() {
            String::new()
        } else {
            format!("; its last output:\n{lines}")
        }
    ))
}

/// Whether the session's exit record was written at or after `since` (by this run, then).
pub fn written_since(state: &StateDir, key: &SessionKey, since: std::time::SystemTime) -> bool {
    std::fs::symlink_metadata(state.exit_path(key))
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since)
}

/// The last lines of a log file.
pub fn log_tail(path: &Path) -> String {
    last_lines(&session::transcript_tail(path, 4096), 10)
}

/// The last `n` non-blank lines.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_skips_blank_lines() {
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b\nc");
    }
}
