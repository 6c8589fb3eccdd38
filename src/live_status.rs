//! The status of a live session as its readers get it (`harnex status`, `harnex top`): from its
//! registry entry, which its supervisor keeps current ([`crate::session::registry_writer`]), so
//! listing sessions reads one small file per session and makes no request.
//!
//! Whether the session is alive is never taken from the status: only entries that pass the
//! liveness check (the session lock) are listed. The fields that change with the clock alone are
//! not stored (the writer would have to rewrite the entry every second); the reader fills them
//! in: `log_mtime` and `log_idle_s` from the transcript, `progress_idle_s` from
//! `last_progress_at`. An entry that is not kept current (its supervisor could not write it, or
//! is of a harnex that kept the status elsewhere) is asked for its status over the session's API.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::client::Client;

pub use crate::json_row::Row;
use crate::paths::StateDir;
use crate::registry::{EntryError, EntryFile, EntryHead, HeadRef, Listed, RegistryEntry};
use crate::time::{parse_rfc3339, rfc3339};

/// A registry entry as `harnex status` lists it: its head, and all of it as a row that borrows
/// its text from the file's bytes.
pub struct EntryStatus<'a> {
    pub head: EntryHead,
    row: Row<'a>,
    /// Its status is the current one (see [`is_kept_current`]).
    current: bool,
}

impl<'a> EntryStatus<'a> {
    /// Its head, and its status with where that came from ([`current`]).
    pub fn into_status(self) -> (EntryHead, Row<'a>, Source) {
        let (row, source) = current(&self.head, self.row, self.current);
        (self.head, row, source)
    }
}

impl<'a> Listed<'a> for EntryStatus<'a> {
    fn from_file(file: &'a EntryFile, bytes: &'a [u8]) -> Result<Self, EntryError> {
        let row =
            Row::parse(bytes).ok_or_else(|| crate::registry::not_an_entry("not a JSON object"))?;
        let mut head: EntryHead = row.fields_as().map_err(crate::registry::not_an_entry)?;
        head.file = file.path.clone();
        let current = !file.stale && is_kept_current(|key| row.contains_key(key));
        Ok(EntryStatus { head, row, current })
    }
    fn head(&self) -> HeadRef<'_> {
        self.head.head()
    }
}

/// Whether an entry with these keys is kept current by its supervisor: the entries this harnex
/// writes carry the live-only fields of the status (`input_state`); those of the Ruby harnex,
/// or of a harnex that kept the status in a file of its own, carry a copy refreshed only now
/// and then.
fn is_kept_current(has_key: impl Fn(&str) -> bool) -> bool {
    has_key("input_state")
}

/// Where a live session's status came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Its registry entry, which its supervisor rewrites on every change.
    Entry,
    /// Its API (`GET /status`): its entry is not kept current (see [`is_kept_current`]), or its
    /// supervisor could not write it; no file announces its next change.
    Api,
    /// Its registry entry as stored: not kept current, and the API did not answer in time;
    /// `agent_state` is `unreachable`.
    Registry,
}

/// Budget of the `GET /status` call made for a session whose entry is not current.
const ASK_TIMEOUT: Duration = Duration::from_millis(250);

/// The status of the live session `head`, whose registry entry is `row`: that when that is kept current (no request),
/// else its live `GET /status`, else its entry as stored. The `tmux_*` keys its registry entry
/// has and the status lacks are added (another writer may have put them there).
pub fn current<'a>(head: &EntryHead, mut row: Row<'a>, is_current: bool) -> (Row<'a>, Source) {
    if is_current {
        // Only the supervisor's liveness needs it; `GET /status` does not have it.
        row.remove("supervisor_started");
        fill_clock_fields(&mut row, SystemTime::now());
        return (row, Source::Entry);
    }
    let (status, source) = ask(head);
    let mut row = Row::of_value(&status);
    for (key, value) in [
        ("tmux_target", &head.tmux_target),
        ("tmux_session", &head.tmux_session),
        ("tmux_window", &head.tmux_window),
        ("tmux_socket", &head.tmux_socket),
    ] {
        if let Some(value) = value
            && !row.contains_key(key)
        {
            row.set(key, value);
        }
    }
    (row, source)
}

/// As [`current`], for a caller holding the whole registry entry (`harnex top`).
pub fn current_of(state: &StateDir, entry: &RegistryEntry) -> (Value, Source) {
    let bytes = serde_json::to_vec(entry).unwrap_or_default();
    let stale = state.stale_mark_path(&entry.key()).exists();
    let is_current = !stale && is_kept_current(|key| entry.extra.contains_key(key));
    let row = Row::parse(&bytes).unwrap_or_default();
    let (row, source) = current(&EntryHead::of(entry), row, is_current);
    (row.to_value(), source)
}

/// The session's own `/status`; else its entry as stored, with the state the API could not give.
fn ask(head: &EntryHead) -> (Value, Source) {
    let entry = head.full();
    if let Ok(entry) = &entry
        && let Ok(body) = Client::for_entry(entry).get("/status", ASK_TIMEOUT)
    {
        return (body, Source::Api);
    }
    let mut stored = match &entry {
        Ok(entry) => crate::wire::to_value(entry),
        // Removed since the scan (the session just ended): what the scan read of it.
        Err(_) => crate::wire::to_value(head),
    };
    stored["agent_state"] = Value::from("unreachable");
    (stored, Source::Registry)
}

/// Set `log_mtime`, `log_idle_s` (from the transcript named by `output_log_path`) and
/// `progress_idle_s` (from `last_progress_at`) as of `now`, as the live session computes them.
pub fn fill_clock_fields(row: &mut Row, now: SystemTime) {
    let transcript = row
        .get_as::<String>("output_log_path")
        .and_then(|path| std::fs::metadata(PathBuf::from(path)).ok())
        .filter(|meta| meta.len() > 0)
        .and_then(|meta| meta.modified().ok());
    let progress = row
        .get_as::<String>("last_progress_at")
        .and_then(|at| parse_rfc3339(&at));
    match transcript {
        Some(mtime) => {
            row.set("log_mtime", &rfc3339(mtime));
            row.set(
                "log_idle_s",
                &now.duration_since(mtime).map_or(0, |d| d.as_secs()),
            );
        }
        None => {
            row.set("log_mtime", &());
            row.set("log_idle_s", &());
        }
    }
    if let Some(since) = progress {
        let idle = now.duration_since(since).map_or(0.0, |d| d.as_secs_f64());
        row.set("progress_idle_s", &idle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::time::Duration;

    fn row_of(value: Value) -> Row<'static> {
        Row::of_value(&value)
    }

    fn value_of(row: &Row) -> Value {
        row.to_value()
    }

    #[test]
    fn clock_fields_are_computed_at_read_time() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("out.log");
        std::fs::write(&log, b"some output").unwrap();
        let mtime = std::fs::metadata(&log).unwrap().modified().unwrap();
        let progress = SystemTime::now() - Duration::from_secs(90);
        let mut row = row_of(json!({
            "output_log_path": log,
            "last_progress_at": rfc3339(progress),
            "log_mtime": null, "log_idle_s": null, "progress_idle_s": 0.0,
        }));
        fill_clock_fields(&mut row, mtime + Duration::from_secs(7));
        let status = value_of(&row);
        assert_eq!(status["log_mtime"], rfc3339(mtime));
        assert_eq!(status["log_idle_s"], 7);
        let idle = status["progress_idle_s"].as_f64().unwrap();
        // 90 s before the file was written, read 7 s after it.
        assert!((96.0..99.0).contains(&idle), "{idle}");
    }

    #[test]
    fn an_empty_or_missing_transcript_has_no_log_time() {
        let mut row = row_of(json!({"output_log_path": "/nonexistent/harnex/out.log"}));
        fill_clock_fields(&mut row, SystemTime::now());
        let status = value_of(&row);
        assert_eq!(status["log_mtime"], Value::Null);
        assert_eq!(status["log_idle_s"], Value::Null);
    }
}
