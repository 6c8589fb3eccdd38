//! Reading event logs: a follower that notices appended rows at once ([`crate::follow`]: inotify,
//! a short poll where that is unavailable), refuses a truncated stream, and yields only whole rows.
//!
//! A row is one line holding one JSON object. A line that is not (a row torn by a full disk or a
//! writer that died mid-row, garbage, invalid UTF-8) is skipped with a warning on stderr, and
//! reading resumes at the next newline, so two rows are never merged into one. Files written
//! before writers took back torn rows may hold a torn row with the next row glued onto it: that
//! row is recovered from the end of the line. A last line without its newline is not a row yet.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::follow::{Appended, FileWatch, Tail, Wake};

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
    tail: Tail,
    partial: Vec<u8>,
    watch: FileWatch,
    torn: u64,
}

impl Follower {
    pub fn open(path: &Path) -> std::io::Result<Follower> {
        Ok(Follower {
            path: path.to_path_buf(),
            torn: 0,
            tail: Tail::open(path)?,
            partial: Vec::new(),
            watch: FileWatch::new_or_polling(path),
        })
    }

    /// Also wake from [`Follower::wait`] when process `pid` (the stream's supervisor) exits.
    pub fn until_exit_of(mut self, pid: u32) -> Follower {
        self.watch = self.watch.until_exit_of(pid);
        self
    }

    /// Complete rows appended since the last call.
    pub fn read_rows(&mut self) -> Result<Vec<Row>, FollowError> {
        let bytes = match self.tail.read_appended().map_err(FollowError::Io)? {
            Appended::Truncated => return Err(FollowError::Truncated),
            Appended::Bytes(bytes) if bytes.is_empty() => return Ok(Vec::new()),
            Appended::Bytes(bytes) => bytes,
        };
        self.partial.extend_from_slice(&bytes);
        let mut rows = Vec::new();
        // Where `partial` starts in the file, for the warning.
        let mut line_start = self.tail.offset().saturating_sub(self.partial.len() as u64);
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

    /// Block until the file changes, the supervisor given to `until_exit_of` exits, or
    /// `timeout` passes (`None`: no timeout). What changed is read from the file itself.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Wake {
        self.watch.wait(timeout)
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
            follower.wait(Some(Duration::from_secs(5)));
            rows = follower.read_rows().unwrap();
        }
        writer.join().unwrap();
        assert_eq!(rows.len(), 1);
    }
}

/// Randomized: whatever bytes an event file holds, the reader never panics, yields only whole
/// rows (each one JSON object, never two merged), and yields every intact row, in order, however
/// the file's growth is split across reads.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    /// What goes into the file between newlines.
    #[derive(Debug, Clone)]
    enum Piece {
        /// A whole row on its own line: must be yielded.
        Intact(usize),
        /// A row cut short at a byte (and ended by a newline, as the writer does after a torn row).
        Torn(usize, usize),
        /// A row cut short with the next row glued on (as older writers left it): the glued row
        /// must be yielded.
        Glued(usize, usize, usize),
        /// Arbitrary bytes (newlines, invalid UTF-8, braces…), then a newline.
        Garbage(Vec<u8>),
    }

    fn row_text(seq: usize, text: &str) -> String {
        let kinds = ["started", "state", "send", "exited"];
        serde_json::json!({"schema_version": 1, "seq": seq, "type": kinds[seq % 4],
            "session_id": "abc", "text": text, "meta": {"k": [seq, {"x": text}]}})
        .to_string()
    }

    fn pieces() -> impl Strategy<Value = (Vec<String>, Vec<Piece>)> {
        prop::collection::vec(".{0,40}", 1..12).prop_flat_map(|texts| {
            let rows: Vec<String> = texts
                .iter()
                .enumerate()
                .map(|(i, t)| row_text(i + 1, t))
                .collect();
            let n = rows.len();
            let piece =
                prop_oneof![
                    (0..n).prop_map(Piece::Intact),
                    (0..n, any::<prop::sample::Index>())
                        .prop_map(|(r, at)| Piece::Torn(r, at.index(1 << 16))),
                    (0..n, any::<prop::sample::Index>(), 0..n)
                        .prop_map(|(r, at, next)| Piece::Glued(r, at.index(1 << 16), next)),
                    prop::collection::vec(
                        prop_oneof![any::<u8>(), Just(b'{'), Just(b'"'), Just(b'}'), Just(0xff)],
                        0..60
                    )
                    .prop_map(Piece::Garbage),
                ];
            (Just(rows), prop::collection::vec(piece, 0..30))
        })
    }

    /// The file's bytes and the rows a reader must yield, in order.
    fn build(rows: &[String], pieces: &[Piece]) -> (Vec<u8>, Vec<Value>) {
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        let value = |i: usize| serde_json::from_str::<Value>(&rows[i]).unwrap();
        for piece in pieces {
            match piece {
                Piece::Intact(i) => {
                    bytes.extend_from_slice(rows[*i].as_bytes());
                    expected.push(value(*i));
                }
                Piece::Torn(i, at) => {
                    let row = rows[*i].as_bytes();
                    bytes.extend_from_slice(&row[..at % row.len()]);
                }
                Piece::Glued(i, at, next) => {
                    let row = rows[*i].as_bytes();
                    bytes.extend_from_slice(&row[..at % row.len()]);
                    bytes.extend_from_slice(rows[*next].as_bytes());
                    expected.push(value(*next));
                }
                Piece::Garbage(junk) => bytes.extend_from_slice(junk),
            }
            bytes.push(b'\n');
        }
        (bytes, expected)
    }

    /// Read `bytes` through a follower, appending them in the given chunk sizes.
    fn read_in_chunks(bytes: &[u8], chunks: &[usize]) -> Vec<Row> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        let mut file = std::fs::File::create(&path).unwrap();
        let mut follower = Follower::open(&path).unwrap();
        let mut rows = Vec::new();
        let mut at = 0;
        for chunk in chunks.iter().chain(std::iter::once(&usize::MAX)) {
            let end = at + (*chunk).min(bytes.len() - at);
            file.write_all(&bytes[at..end]).unwrap();
            at = end;
            rows.extend(follower.read_rows().unwrap());
            if at == bytes.len() {
                break;
            }
        }
        rows
    }

    fn assert_whole(rows: &[Row]) {
        for row in rows {
            assert!(row.value.is_object(), "{row:?}");
            assert!(!row.raw.contains('\n'), "{row:?}");
            let reparsed: Value = serde_json::from_str(&row.raw).unwrap();
            assert_eq!(reparsed, row.value);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn mutated_rows_yield_every_intact_row_and_only_whole_rows(
            (rows, pieces) in pieces(),
            chunks in prop::collection::vec(1usize..200, 0..20),
        ) {
            let (bytes, expected) = build(&rows, &pieces);
            let got = read_in_chunks(&bytes, &chunks);
            assert_whole(&got);
            // Every generated row that came out is one we expected, in order, none missing.
            let ours: Vec<Value> = got
                .into_iter()
                .map(|r| r.value)
                .filter(|v| v["session_id"] == "abc" && v["meta"].is_object())
                .collect();
            prop_assert_eq!(ours, expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_yield_only_whole_rows(
            bytes in prop::collection::vec(any::<u8>(), 0..2000),
            chunks in prop::collection::vec(1usize..300, 0..10),
        ) {
            let got = read_in_chunks(&bytes, &chunks);
            assert_whole(&got);
            // Lines are never merged: no more rows than lines (plus one recovered per torn line).
            let lines = bytes.iter().filter(|b| **b == b'\n').count();
            prop_assert!(got.len() <= lines);
        }
    }
}
