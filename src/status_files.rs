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

use std::time::SystemTime;

use serde_json::Value;

use crate::paths::{SessionKey, StateDir};
use crate::registry::RegistryEntry;
use crate::time::{parse_rfc3339, rfc3339};

/// The status of `entry` from its snapshot, with the clock fields filled in; `None` when there
/// is none for this run (a supervisor of an older harnex, a failed write), so the caller asks
/// the session itself.
pub fn read(state: &StateDir, entry: &RegistryEntry) -> Option<Value> {
    let bytes = crate::private_fs::read(&state.status_path(&entry.key())).ok()?;
    let mut status: Value = serde_json::from_slice(&bytes).ok()?;
    // A leftover of an earlier run of the same id is not this session's.
    if status["session_id"].as_str() != Some(entry.session_id.as_str()) {
        return None;
    }
    fill_clock_fields(&mut status, SystemTime::now());
    Some(status)
}

/// Remove the snapshot of `key` (the session ended, or its supervisor is gone).
pub fn remove(state: &StateDir, key: &SessionKey) {
    let _ = std::fs::remove_file(state.status_path(key));
}

/// Set `log_mtime`, `log_idle_s` (from the transcript named by `output_log_path`) and
/// `progress_idle_s` (from `last_progress_at`) as of `now`, as the live session computes them.
pub fn fill_clock_fields(status: &mut Value, now: SystemTime) {
    let Some(map) = status.as_object_mut() else {
        return;
    };
    let transcript = map
        .get("output_log_path")
        .and_then(Value::as_str)
        .and_then(|path| std::fs::metadata(path).ok())
        .filter(|meta| meta.len() > 0)
        .and_then(|meta| meta.modified().ok());
    let (mtime, idle) = match transcript {
        Some(mtime) => (
            Value::from(rfc3339(mtime)),
            Value::from(now.duration_since(mtime).map_or(0, |d| d.as_secs())),
        ),
        None => (Value::Null, Value::Null),
    };
    map.insert("log_mtime".into(), mtime);
    map.insert("log_idle_s".into(), idle);
    if let Some(since) = map
        .get("last_progress_at")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
    {
        let idle = now.duration_since(since).map_or(0.0, |d| d.as_secs_f64());
        map.insert("progress_idle_s".into(), Value::from(idle));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn clock_fields_are_computed_at_read_time() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("out.log");
        std::fs::write(&log, b"some output").unwrap();
        let mtime = std::fs::metadata(&log).unwrap().modified().unwrap();
        let progress = SystemTime::now() - Duration::from_secs(90);
        let mut status = json!({
            "output_log_path": log,
            "last_progress_at": rfc3339(progress),
            "log_mtime": null, "log_idle_s": null, "progress_idle_s": 0.0,
        });
        fill_clock_fields(&mut status, mtime + Duration::from_secs(7));
        assert_eq!(status["log_mtime"], rfc3339(mtime));
        assert_eq!(status["log_idle_s"], 7);
        let idle = status["progress_idle_s"].as_f64().unwrap();
        // 90 s before the file was written, read 7 s after it.
        assert!((96.0..99.0).contains(&idle), "{idle}");
    }

    #[test]
    fn an_empty_or_missing_transcript_has_no_log_time() {
        let mut status = json!({"output_log_path": "/nonexistent/harnex/out.log"});
        fill_clock_fields(&mut status, SystemTime::now());
        assert_eq!(status["log_mtime"], Value::Null);
        assert_eq!(status["log_idle_s"], Value::Null);
    }
}
