//! Reading event logs: a follower that notices appended rows at once (inotify; a short poll where
//! that is unavailable), refuses a truncated stream, and yields only whole rows.
//!
//! A row is one line holding one JSON object. A line that is not (a row torn by a full disk or a
//! writer that died mid-row, garbage, invalid UTF-8) is skipped with a warning on stderr, and
//! reading resumes at the next newline, so two rows are never merged into one. Files written
//! before writers took back torn rows may hold a torn row with the next row glued onto it: that
//! row is recovered from the end of the line. A last line without its newline is not a row yet.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use serde_json::Value;

/// A complete row: its raw text (as written) and its parsed object.
#[derive(Debug, Clone)]
pub struct Row {
    pub raw: String,
    pub value: Value,
}

impl Row {
    pub fn kind(&self) -> &str {
        self.field("type")
    }

    pub fn session_id(&self) -> &str {
        self.field("session_id")
    }

    pub fn field(&self, name: &str) -> &str {
        self.value[name].as_str().unwrap_or("")
    }
}

/// What one line of an event file holds.
#[derive(Debug)]
pub enum Line {
    Row(Row),
    Blank,
    /// Not a whole row; `recovered` is a whole row glued onto its end (see the module docs).
    Torn {
        recovered: Option<Row>,
    },
}

/// Most places in a torn line tried as the start of a glued row (bounds the work on garbage).
const MAX_RESYNC_TRIES: usize = 64;

/// Classify one line (without its newline).
pub fn parse_line(bytes: &[u8]) -> Line {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Line::Blank;
    }
    if let Some(row) = whole_row(bytes) {
        return Line::Row(row);
    }
    let recovered = bytes
        .windows(2)
        .enumerate()
        .skip(1)
        .filter(|(_, pair)| pair == b"{\"")
        .take(MAX_RESYNC_TRIES)
        .find_map(|(at, _)| whole_row(&bytes[at..]).filter(|row| row.value["type"].is_string()));
    Line::Torn { recovered }
}

/// `bytes` as a row: valid UTF-8 holding exactly one JSON object.
fn whole_row(bytes: &[u8]) -> Option<Row> {
    let text = std::str::from_utf8(bytes).ok()?;
    let value: Value = serde_json::from_str(text).ok()?;
    value.is_object().then(|| Row {
        raw: text.trim().to_string(),
        value,
    })
}

#[derive(Debug)]
pub enum FollowError {
    /// The file got shorter than what was already read.
    Truncated,
    Io(std::io::Error),
}

impl std::fmt::Display for FollowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FollowError::Truncated => write!(f, "stream source was truncated"),
            FollowError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Reads complete rows from an append-only JSONL file as it grows.
pub struct Follower {
    path: PathBuf,
    file: File,
    offset: u64,
    partial: Vec<u8>,
    watch: Option<Inotify>,
    torn: u64,
}

/// How often to look when inotify is unavailable.
const POLL_FALLBACK: Duration = Duration::from_millis(50);

impl Follower {
    pub fn open(path: &Path) -> std::io::Result<Follower> {
        let file = File::open(path)?;
        let watch = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .ok()
            .filter(|inotify| {
                inotify
                    .add_watch(path, AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_ATTRIB)
                    .is_ok()
            });
        Ok(Follower {
            path: path.to_path_buf(),
            torn: 0,
            file,
            offset: 0,
            partial: Vec::new(),
            watch,
        })
    }

    /// Complete rows appended since the last call.
    pub fn read_rows(&mut self) -> Result<Vec<Row>, FollowError> {
        let len = self.file.metadata().map_err(FollowError::Io)?.len();
        if len < self.offset {
            return Err(FollowError::Truncated);
        }
        if len == self.offset {
            return Ok(Vec::new());
        }
        self.file
            .seek(SeekFrom::Start(self.offset))
            .map_err(FollowError::Io)?;
        let mut bytes = Vec::with_capacity((len - self.offset) as usize);
        (&mut self.file)
            .take(len - self.offset)
            .read_to_end(&mut bytes)
            .map_err(FollowError::Io)?;
        self.offset += bytes.len() as u64;
        self.partial.extend_from_slice(&bytes);
        let mut rows = Vec::new();
        // Where `partial` starts in the file, for the warning.
        let mut line_start = self.offset - self.partial.len() as u64;
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            match parse_line(&line[..line.len() - 1]) {
                Line::Row(row) => rows.push(row),
                Line::Blank => {}
                Line::Torn { recovered } => {
                    self.torn += 1;
                    crate::warn!(
                        "harnex: skipped a torn row ({} bytes at byte {line_start}) in {}{}",
                        line.len() - 1,
                        self.path.display(),
                        if recovered.is_some() {
                            "; the row glued onto it was kept"
                        } else {
                            ""
                        }
                    );
                    rows.extend(recovered);
                }
            }
            line_start += line.len() as u64;
        }
        Ok(rows)
    }

    /// Lines skipped so far because they were not whole rows.
    pub fn torn_rows(&self) -> u64 {
        self.torn
    }

    /// Sleep until the file changes or `timeout` passes.
    pub fn wait(&mut self, timeout: Duration) {
        let Some(watch) = &self.watch else {
            std::thread::sleep(timeout.min(POLL_FALLBACK));
            return;
        };
        let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let mut fds = [PollFd::new(watch.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
        if let Ok(n) = poll(&mut fds, timeout)
            && n > 0
        {
            // Drain the notifications; what changed is read from the file itself.
            let _ = watch.read_events();
        }
    }
}

/// All complete rows of a file.
pub fn read_all(path: &Path) -> std::io::Result<Vec<Row>> {
    let mut follower = Follower::open(path)?;
    follower.read_rows().map_err(|e| match e {
        FollowError::Io(e) => e,
        FollowError::Truncated => std::io::Error::other("truncated"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Instant;

    #[test]
    fn rows_are_read_as_they_are_completed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        std::fs::write(&path, "{\"type\":\"started\"}\n{\"type\":").unwrap();
        let mut follower = Follower::open(&path).unwrap();
        let rows = follower.read_rows().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].kind(), "started");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"\"exited\"}\nnot json\n").unwrap();
        let rows = follower.read_rows().unwrap();
        assert_eq!(rows.len(), 1, "garbage is skipped");
        assert_eq!(rows[0].kind(), "exited");
        assert_eq!(follower.torn_rows(), 1);
    }

    #[test]
    fn a_torn_row_is_skipped_and_never_merged_with_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        // A row cut short, then (as an older writer left it) the next row glued on; then a row
        // cut short and ended by the next writer's newline; then invalid UTF-8.
        std::fs::write(
            &path,
            b"{\"seq\":1,\"type\":\"started\"}\n{\"seq\":2,\"type\":\"st{\"seq\":3,\"type\":\"send\"}\n{\"seq\":4,\"ty\n{\"seq\":5,\"type\":\"x\xff\"}\n{\"seq\":6,\"type\":\"exited\"}\n",
        )
        .unwrap();
        let mut follower = Follower::open(&path).unwrap();
        let rows = follower.read_rows().unwrap();
        let seqs: Vec<u64> = rows
            .iter()
            .map(|r| r.value["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [1, 3, 6]);
        assert_eq!(rows[1].raw, "{\"seq\":3,\"type\":\"send\"}");
        assert_eq!(follower.torn_rows(), 3);
    }

    #[test]
    fn truncation_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        std::fs::write(&path, "{\"type\":\"a\"}\n{\"type\":\"b\"}\n").unwrap();
        let mut follower = Follower::open(&path).unwrap();
        follower.read_rows().unwrap();
        std::fs::write(&path, "{}\n").unwrap();
        assert!(matches!(follower.read_rows(), Err(FollowError::Truncated)));
    }

    #[test]
    fn waiting_wakes_up_when_the_file_grows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        std::fs::write(&path, "").unwrap();
        let mut follower = Follower::open(&path).unwrap();
        let writer_path = path.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(writer_path)
                .unwrap();
            file.write_all(b"{\"type\":\"x\"}\n").unwrap();
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut rows = Vec::new();
        while rows.is_empty() && Instant::now() < deadline {
            follower.wait(Duration::from_secs(5));
            rows = follower.read_rows().unwrap();
        }
        writer.join().unwrap();
        assert_eq!(rows.len(), 1);
    }
}
