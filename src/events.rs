//! The per-session event log (`events/<slug>.jsonl`, schema v1, additive only).
//!
//! Every row is an [`Event`] (its `type` and fields) plus the envelope this writer adds:
//! `schema_version`, `seq` (from 1 per run), `ts` (UTC RFC 3339), `id`, `type`,
//! `session_id`, then the type's own fields. A reused id appends another run to the same file;
//! `session_id` tells the runs apart.
//!
//! Rows are appended whole: each is one `write` on an append-mode file, so a reader never sees a
//! live writer's half row. When a write fails part-way (disk full, EIO) the writer takes back
//! what it wrote (truncating to the length before the row, when nobody appended since), and a
//! row never starts after bytes that lack their newline — so a torn row can never glue itself
//! onto the next one. Rows that cannot be written wait in memory (bounded, counted in
//! [`WriteHealth`]) and go out, in order, once the disk takes writes again.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::wire::events::{Envelope, Event};

use crate::diag::WriteHealth;
use crate::error::{IoContext, Result};

pub const SCHEMA_VERSION: u64 = 1;

/// Rows kept in memory while the event log cannot be written; older ones are dropped beyond it.
const MAX_PENDING_ROWS: usize = 1024;

/// Where rows are appended: the event file, or in tests a stand-in that fails on demand.
pub trait RowSink: Send {
    fn size(&mut self) -> io::Result<u64>;
    /// The last byte of the file, `None` when it is empty.
    fn last_byte(&mut self) -> io::Result<Option<u8>>;
    /// One `write(2)`: may write fewer bytes than given.
    fn write_some(&mut self, bytes: &[u8]) -> io::Result<usize>;
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

impl RowSink for File {
    fn size(&mut self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn last_byte(&mut self) -> io::Result<Option<u8>> {
        let len = RowSink::size(self)?;
        if len == 0 {
            return Ok(None);
        }
        let mut byte = [0u8; 1];
        self.read_exact_at(&mut byte, len - 1)?;
        Ok(Some(byte[0]))
    }

    fn write_some(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write(bytes)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}

/// Append `line` (ending in `\n`) as one whole row, or leave the file as it was.
///
/// A file that does not end in a newline holds a row torn by an earlier failure (ours, or a
/// process that died mid-write): the row then starts with `\n`, so readers skip the torn bytes
/// and read this row whole.
pub fn append_whole(sink: &mut dyn RowSink, line: &[u8]) -> io::Result<()> {
    let start = sink.size()?;
    let mut bytes = Vec::with_capacity(line.len() + 1);
    if start > 0 && sink.last_byte()? != Some(b'\n') {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(line);
    let mut written = 0;
    while written < bytes.len() {
        match sink.write_some(&bytes[written..]) {
            Ok(0) => {
                take_back(sink, start, written);
                return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote nothing"));
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                take_back(sink, start, written);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Remove the part of a row that did get written, if the file holds nothing after it (another
/// process's row appended meanwhile must not be cut; the next row's leading `\n` covers that).
fn take_back(sink: &mut dyn RowSink, start: u64, written: usize) {
    if written > 0 && sink.size().ok() == Some(start + written as u64) {
        let _ = sink.truncate(start);
    }
}

/// One row's text, with its newline: the envelope, `type` and the event's fields (keys sorted,
/// as harnex has always written them).
pub fn row_line(id: &str, session_id: &str, seq: u64, event: &Event) -> String {
    let envelope = Envelope {
        schema_version: SCHEMA_VERSION,
        seq,
        ts: crate::time::now_rfc3339(),
        id: id.to_string(),
        session_id: session_id.to_string(),
    };
    let mut row = crate::wire::to_object(event);
    row.extend(crate::wire::to_object(&envelope));
    let mut line = serde_json::Value::Object(row).to_string();
    line.push('\n');
    line
}

/// Open an event file to append rows (created 0600, never through a symlink), readable too: the
/// writer looks at the last byte for a torn row.
fn open_for_rows(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .at("cannot open", path)
}

/// Append one row to the event file at `path` from outside its supervisor (the crash record of
/// a run whose supervisor died).
pub fn append_row(path: &Path, line: &str) -> Result<()> {
    let mut file = open_for_rows(path)?;
    append_whole(&mut file, line.as_bytes()).map_err(|e| {
        crate::error::Error::failed(format!("cannot append to {}: {e}", path.display()))
    })
}

/// Appends event rows for one session run. Shared between threads behind its own lock.
pub struct EventLog {
    path: PathBuf,
    id: String,
    session_id: String,
    health: Arc<WriteHealth>,
    inner: Mutex<Writer>,
}

struct Writer {
    sink: Box<dyn RowSink>,
    seq: u64,
    /// Rows not written yet (the disk refused them), oldest first.
    pending: VecDeque<String>,
    /// In an outage (said so once on stderr).
    failing: bool,
}

impl EventLog {
    pub fn open(path: &Path, id: &str, session_id: &str) -> Result<EventLog> {
        let file = open_for_rows(path)?;
        Ok(EventLog::with_sink(path, id, session_id, Box::new(file)))
    }

    pub fn with_sink(path: &Path, id: &str, session_id: &str, sink: Box<dyn RowSink>) -> EventLog {
        EventLog {
            path: path.to_path_buf(),
            id: id.to_string(),
            session_id: session_id.to_string(),
            health: Arc::new(WriteHealth::default()),
            inner: Mutex::new(Writer {
                sink,
                seq: 0,
                pending: VecDeque::new(),
                failing: false,
            }),
        }
    }

    /// The session's write counters (shared with the transcript and registry writers).
    pub fn health(&self) -> &Arc<WriteHealth> {
        &self.health
    }

    /// Append one row. Never fatal: losing the agent because the disk filled up would be worse
    /// than losing an event. A row the disk refuses waits in memory and goes out (in order)
    /// with the next row once the disk takes writes again.
    pub fn emit(&self, event: &Event) {
        let mut inner = self.lock();
        inner.seq += 1;
        let line = row_line(&self.id, &self.session_id, inner.seq, event);
        inner.pending.push_back(line);
        if inner.pending.len() > MAX_PENDING_ROWS {
            inner.pending.pop_front();
            self.health.dropped_events.fetch_add(1, Ordering::Relaxed);
        }
        self.flush(&mut inner);
    }

    /// Rows waiting for the disk.
    pub fn pending(&self) -> usize {
        self.lock().pending.len()
    }

    /// Try again to write the rows waiting for the disk.
    pub fn retry_pending(&self) {
        let mut inner = self.lock();
        self.flush(&mut inner);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Write what is pending, oldest first, until the disk refuses.
    fn flush(&self, inner: &mut Writer) {
        while let Some(line) = inner.pending.front() {
            match append_whole(inner.sink.as_mut(), line.as_bytes()) {
                Ok(()) => {
                    inner.pending.pop_front();
                }
                Err(e) => {
                    self.health.count_error();
                    // Say it once per outage, not once per row (stderr may be on the same disk).
                    if !inner.failing {
                        inner.failing = true;
                        crate::warn!(
                            "harnex: cannot append to event log {}: {e}; rows wait in memory (up to {MAX_PENDING_ROWS}) until it works again",
                            self.path.display()
                        );
                    }
                    break;
                }
            }
        }
        if inner.failing && inner.pending.is_empty() {
            inner.failing = false;
            crate::warn!(
                "harnex: event log {} is writable again; late rows written",
                self.path.display()
            );
        }
        self.health
            .pending_events
            .store(inner.pending.len() as u64, Ordering::Relaxed);
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
    use serde_json::Value;

    fn state(to: &str) -> Event {
        Event::State {
            from: "starting".into(),
            to: to.into(),
            reason: "test".into(),
        }
    }

    fn exited() -> Event {
        Event::Exited {
            code: Some(0),
            signal: None,
            reason: "success".into(),
            last_state: None,
        }
    }

    fn started() -> Event {
        Event::Started {
            pid: 7,
            cli: "x".into(),
            meta: None,
            parent: None,
            parent_session_id: None,
            root: None,
            root_session_id: None,
            tags: Default::default(),
        }
    }

    #[test]
    fn rows_carry_the_envelope_and_count_from_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        let log = EventLog::open(&path, "w1", "abc").unwrap();
        log.emit(&started());
        log.emit(&exited());
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

    /// A file on a disk with `capacity` bytes: writes past it are short, then fail with ENOSPC.
    #[derive(Clone, Default)]
    struct SmallDisk(Arc<Mutex<(Vec<u8>, usize)>>);

    impl SmallDisk {
        fn new(capacity: usize) -> SmallDisk {
            SmallDisk(Arc::new(Mutex::new((Vec::new(), capacity))))
        }
        fn set_capacity(&self, capacity: usize) {
            self.0.lock().unwrap().1 = capacity;
        }
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().0.clone()).unwrap()
        }
        fn append_raw(&self, bytes: &[u8]) {
            self.0.lock().unwrap().0.extend_from_slice(bytes);
        }
    }

    impl RowSink for SmallDisk {
        fn size(&mut self) -> io::Result<u64> {
            Ok(self.0.lock().unwrap().0.len() as u64)
        }
        fn last_byte(&mut self) -> io::Result<Option<u8>> {
            Ok(self.0.lock().unwrap().0.last().copied())
        }
        fn write_some(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut disk = self.0.lock().unwrap();
            let room = disk.1.saturating_sub(disk.0.len());
            if room == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = room.min(bytes.len());
            disk.0.extend_from_slice(&bytes[..n]);
            Ok(n)
        }
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.0.lock().unwrap().0.truncate(len as usize);
            Ok(())
        }
    }

    fn whole_rows(text: &str) -> Vec<Value> {
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "torn tail: {text:?}"
        );
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect()
    }

    #[test]
    fn a_full_disk_never_leaves_half_a_row_and_late_rows_go_out_in_order() {
        let disk = SmallDisk::new(200);
        let log = EventLog::with_sink(Path::new("e.jsonl"), "w1", "abc", Box::new(disk.clone()));
        log.emit(&started());
        let first_len = disk.text().len();
        assert!(first_len < 200);
        // The next rows do not fit: each write is short, then ENOSPC.
        log.emit(&state(&"x".repeat(150)));
        log.emit(&state("prompt"));
        assert_eq!(
            disk.text().len(),
            first_len,
            "the part of a row that fit is taken back"
        );
        assert_eq!(whole_rows(&disk.text()).len(), 1);
        let health = log.health().counts();
        assert_eq!(health.pending_events, 2);
        assert!(health.write_errors >= 2);

        disk.set_capacity(1 << 20);
        log.emit(&exited());
        let rows = whole_rows(&disk.text());
        let seqs: Vec<u64> = rows.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
        assert_eq!(rows[3]["type"], "exited");
        assert_eq!(log.health().counts().pending_events, 0);
        assert_eq!(log.health().counts().dropped_events, 0);
    }

    #[test]
    fn the_backlog_is_bounded_and_counts_what_it_drops() {
        let disk = SmallDisk::new(0);
        let log = EventLog::with_sink(Path::new("e.jsonl"), "w1", "abc", Box::new(disk.clone()));
        for _ in 0..MAX_PENDING_ROWS + 5 {
            log.emit(&state("busy"));
        }
        let health = log.health().counts();
        assert_eq!(health.dropped_events, 5);
        assert_eq!(health.pending_events, MAX_PENDING_ROWS as u64);
        disk.set_capacity(usize::MAX);
        log.emit(&exited());
        let rows = whole_rows(&disk.text());
        assert_eq!(rows.len(), MAX_PENDING_ROWS);
        assert_eq!(rows[0]["seq"], 7, "the oldest rows were the ones dropped");
        assert_eq!(rows.last().unwrap()["type"], "exited");
        assert_eq!(log.health().counts().dropped_events, 6);
    }

    #[test]
    fn a_row_never_glues_onto_a_torn_one() {
        let disk = SmallDisk::new(1 << 20);
        // Another writer died in the middle of a row.
        disk.append_raw(b"{\"seq\":1,\"type\":\"sta");
        let mut sink = disk.clone();
        append_whole(&mut sink, b"{\"seq\":2}\n").unwrap();
        assert_eq!(disk.text(), "{\"seq\":1,\"type\":\"sta\n{\"seq\":2}\n");
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
