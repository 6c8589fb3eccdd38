//! Reading event logs: a tolerant row parser and a follower that notices appended rows at once
//! (inotify; a short poll where that is unavailable) and refuses a truncated stream.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use serde_json::Value;

/// A complete row: its raw text (as written) and its parsed value (`None` for garbage lines).
#[derive(Debug, Clone)]
pub struct Row {
    pub raw: String,
    pub value: Option<Value>,
}

impl Row {
    fn new(raw: String) -> Row {
        let value = serde_json::from_str(&raw).ok();
        Row { raw, value }
    }

    pub fn kind(&self) -> &str {
        self.field("type")
    }

    pub fn session_id(&self) -> &str {
        self.field("session_id")
    }

    pub fn field(&self, name: &str) -> &str {
        self.value
            .as_ref()
            .and_then(|v| v[name].as_str())
            .unwrap_or("")
    }
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
    file: File,
    offset: u64,
    partial: Vec<u8>,
    watch: Option<Inotify>,
}

/// How often to look when inotify is unavailable.
const POLL_FALLBACK: Duration = Duration::from_millis(50);

impl Follower {
    pub fn open(path: &Path) -> std::io::Result<Follower> {
        let file = crate::private_fs::open_read(path)?;
        let watch = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .ok()
            .filter(|inotify| {
                inotify
                    .add_watch(path, AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_ATTRIB)
                    .is_ok()
            });
        Ok(Follower {
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
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            if !text.trim().is_empty() {
                rows.push(Row::new(text));
            }
        }
        Ok(rows)
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
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].kind(), "exited");
        assert!(rows[1].value.is_none());
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
