//! Status snapshots on disk, `status/<slug>.json`: what a live session's `GET /status` answers,
//! kept current by its supervisor ([`crate::session::status_writer`]), so `harnex status` reads
//! one small file per session instead of making an HTTP request to each.
//!
//! A snapshot holds no token (the registry entry does); it is 0600 in the 0700 state dir all the
//! same, written atomically. Whether the session is alive is never taken from it: the reader
//! lists only sessions whose registry entry passes the liveness check (pid, start time, session
//! lock), so the snapshot of a supervisor that died is not shown, and the scan that finds the dead
//! entry removes it. The fields that change with the clock alone are not stored (the writer
//! would have to rewrite the file every second); the reader fills them in: `log_mtime` and
//! `log_idle_s` from the transcript, `progress_idle_s` from `last_progress_at`.
//!
//! [`current`] is where every reader of a live session's status gets it (`harnex status`,
//! `harnex top`): the snapshot, else the session's API, else its registry entry.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;

use crate::client::Client;

pub use crate::json_row::Row;
use crate::paths::{SessionKey, StateDir};
use crate::private_fs::Dir;
use crate::registry::EntryHead;
use crate::time::{parse_rfc3339, rfc3339};

/// The snapshot as it is written: a JSON document with sorted keys at every level.
pub fn document<T: Serialize>(status: &T) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&crate::wire::to_value(status))
}

/// The snapshot file of `entry`'s session in `dir` (the state dir's `status/`, see
/// [`StateDir::status_dir`]), as read; make it a status with [`row`].
pub fn read(dir: &Dir, entry: &EntryHead) -> Option<Vec<u8>> {
    dir.read_document(&format!("{}.json", entry.slug())).ok()
}

/// The status in `snapshot`, with the clock fields filled in; `None` when it is not of this run
/// of `entry` (a leftover of an earlier run of the same id) or not a status, so the caller asks
/// the session itself.
pub fn row<'a>(snapshot: &'a [u8], entry: &EntryHead) -> Option<Row<'a>> {
    let mut row = Row::parse(snapshot)?;
    if row.get_as::<String>("session_id")? != entry.session_id {
        return None;
    }
    fill_clock_fields(&mut row, SystemTime::now());
    Some(row)
}

/// Budget of the `GET /status` call made for a session without a snapshot.
const ASK_TIMEOUT: Duration = Duration::from_millis(250);

/// Where a live session's status came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Its snapshot file, which its supervisor rewrites on every change.
    Snapshot,
    /// Its API (`GET /status`): there is no snapshot of this run (a supervisor of an older
    /// harnex, a failed write), so no file announces its next change.
    Api,
    /// Its registry entry as stored: no snapshot, and the API did not answer in time;
    /// `agent_state` is `unreachable`.
    Registry,
}

/// The status of the live session `entry`: its `snapshot` (as [`read`] gave it) when that is of
/// this run (no request), else its live `GET /status`, else its registry entry. The `tmux_*`
/// keys its registry entry has and the status lacks are added (another writer may have put them
/// there).
pub fn current<'a>(snapshot: Option<&'a [u8]>, entry: &EntryHead) -> (Row<'a>, Source) {
    let (mut row, source) = match snapshot.and_then(|bytes| row(bytes, entry)) {
        Some(row) => (row, Source::Snapshot),
        None => {
            let (status, source) = ask(entry);
            (Row::of_value(&status), source)
        }
    };
    for (key, value) in [
        ("tmux_target", &entry.tmux_target),
        ("tmux_session", &entry.tmux_session),
        ("tmux_window", &entry.tmux_window),
        ("tmux_socket", &entry.tmux_socket),
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
pub fn current_of(state: &StateDir, entry: &crate::registry::RegistryEntry) -> (Value, Source) {
    let head = EntryHead::of(entry);
    let snapshot = crate::private_fs::read(&state.status_path(&entry.key())).ok();
    let (row, source) = current(snapshot.as_deref(), &head);
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

/// Remove the snapshot of `key` (the session ended, or its supervisor is gone).
pub fn remove(state: &StateDir, key: &SessionKey) {
    let _ = std::fs::remove_file(state.status_path(key));
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
