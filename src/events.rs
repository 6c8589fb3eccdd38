//! The per-session event log (`events/<slug>.jsonl`, schema v1, additive only).
//!
//! Every row: `schema_version`, `seq` (from 1 per run), `ts` (UTC RFC 3339), `id`, `type`,
//! `session_id`, then the type's own fields. A reused id appends another run to the same file;
//! `session_id` tells the runs apart. Each row is one `write_all` on an append-mode file, so
//! concurrent readers never see half a row from a live writer.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use crate::error::Result;
use crate::paths;

pub const SCHEMA_VERSION: u64 = 1;

/// Appends event rows for one session run. Shared between threads behind its own lock.
pub struct EventLog {
    path: PathBuf,
    id: String,
    session_id: String,
    inner: Mutex<Writer>,
}

struct Writer {
    file: File,
    seq: u64,
}

impl EventLog {
    pub fn open(path: &Path, id: &str, session_id: &str) -> Result<EventLog> {
        Ok(EventLog {
            path: path.to_path_buf(),
            id: id.to_string(),
            session_id: session_id.to_string(),
            inner: Mutex::new(Writer {
                file: paths::open_append(path)?,
                seq: 0,
            }),
        })
    }

    /// Append one row. Failures are reported on stderr, never fatal: losing the agent because
    /// the disk filled up would be worse than losing an event.
    pub fn emit(&self, kind: &str, fields: Value) {
        let mut inner = match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        inner.seq += 1;
        let mut row = Map::new();
        row.insert("schema_version".into(), json!(SCHEMA_VERSION));
        row.insert("seq".into(), json!(inner.seq));
        row.insert("ts".into(), json!(crate::time::now_rfc3339()));
        row.insert("id".into(), json!(self.id));
        row.insert("type".into(), json!(kind));
        row.insert("session_id".into(), json!(self.session_id));
        if let Value::Object(extra) = fields {
            row.extend(extra);
        }
        let mut line = Value::Object(row).to_string();
        line.push('\n');
        if let Err(e) = inner.file.write_all(line.as_bytes()) {
            eprintln!(
                "harnex: cannot append to event log {}: {e}",
                self.path.display()
            );
        }
    }
}

/// The `send` preview: secrets masked, then at most 200 characters and `…`.
pub fn preview(text: &str) -> (String, bool) {
    const LIMIT: usize = 200;
    let text = crate::redact::redact(text);
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => (format!("{}…", &text[..cut]), true),
        None => (text, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_carry_the_envelope_and_count_from_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        let log = EventLog::open(&path, "w1", "abc").unwrap();
        log.emit("started", json!({"pid": 7}));
        log.emit("exited", json!({"code": 0}));
        let text = std::fs::read_to_string(&path).unwrap();
        let rows: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["seq"], 1);
        assert_eq!(rows[1]["seq"], 2);
        assert_eq!(rows[0]["schema_version"], 1);
        assert_eq!(rows[0]["type"], "started");
        assert_eq!(rows[0]["session_id"], "abc");
        assert_eq!(rows[0]["pid"], 7);
        assert!(rows[0]["ts"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn preview_truncates_at_200_chars() {
        let long = "x".repeat(205);
        let (text, cut) = preview(&long);
        assert!(cut);
        assert_eq!(text.chars().count(), 201);
        assert!(text.ends_with('…'));
        assert_eq!(preview("short"), ("short".to_string(), false));
    }
}
