//! The raw transcript (`output/<slug>.log`) with a size cap. Owned by the PTY reader thread.
//!
//! Each run appends its output; past the cap (default 32 MiB, `HARNEX_TRANSCRIPT_MAX`) the run
//! keeps its first half and its newest half, with one marker line between them that says how
//! many bytes were dropped:
//!
//! ```text
//! [earlier runs][head: cap/2][marker, fixed width][tail: ≤ cap/2, newest output]
//! ```
//!
//! The file grows by plain appends until the run's part passes `cap + cap/8`; then the reader
//! thread moves the newest `cap/2` bytes down to just after the marker, a chunk at a time (memory
//! stays flat whatever the burst), rewrites the marker's count in place and truncates. When the
//! output ends it trims once more, so a finished run's part is at most the cap plus the marker.
//! A reader following the file sees it shrink at each trim.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that sets the cap (`32MiB`, `512KiB`, `1G`, plain bytes; `0` or
/// `off`: no cap).
pub const MAX_ENV: &str = "HARNEX_TRANSCRIPT_MAX";
pub const DEFAULT_MAX: u64 = 32 * MIB;
/// Smaller caps would leave too little of either end to be useful.
pub const MIN_MAX: u64 = 64 * KIB;
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
/// The marker line's length: fixed, so a later trim can rewrite its count in place.
const MARKER_LEN: u64 = 160;
/// Bytes moved per read/write while trimming.
const COPY_CHUNK: usize = 256 * 1024;
/// How far into the kept tail to look for a line break to start it on.
const LINE_SEARCH: usize = 64 * 1024;

/// The cap from the environment: `Ok(None)` means no cap. A bad value is an error that says what
/// to write instead.
pub fn max_from_env() -> Result<Option<u64>, String> {
    match std::env::var(MAX_ENV) {
        Ok(text) if !text.trim().is_empty() => parse_max(&text),
        _ => Ok(Some(DEFAULT_MAX)),
    }
}

/// `32MiB`, `32M`, `512k`, `1G`, `1048576`; `0` or `off` for no cap.
pub fn parse_max(text: &str) -> Result<Option<u64>, String> {
    let bad = || {
        format!(
            "invalid {MAX_ENV}={text:?}: use a size such as 32MiB, 512KiB or 1GiB (at least 64KiB), or 0 for no cap"
        )
    };
    let lower = text.trim().to_ascii_lowercase();
    if lower == "0" || lower == "off" {
        return Ok(None);
    }
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let unit = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => KIB,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => GIB,
        _ => return Err(bad()),
    };
    let bytes = number.checked_mul(unit).ok_or_else(bad)?;
    if bytes < MIN_MAX {
        return Err(bad());
    }
    Ok(Some(bytes))
}

pub struct Transcript {
    /// Append-mode handle: every write lands at the end, also after a trim.
    append: File,
    /// Read-write handle without `O_APPEND` (positioned writes on an append handle would append).
    positioned: File,
    cap: Option<u64>,
    /// Where this run's output starts (earlier runs of the same id come before).
    base: u64,
    len: u64,
    /// The marker's offset once the run passed its cap.
    marker_at: Option<u64>,
    /// Bytes of output dropped so far; shared with status and the exit record.
    dropped: Arc<AtomicU64>,
}

impl Transcript {
    /// Open (create 0600) the transcript at `path` for appending this run's output.
    pub fn open(path: &Path, cap: Option<u64>, dropped: Arc<AtomicU64>) -> io::Result<Transcript> {
        use std::os::unix::fs::OpenOptionsExt;
        let append = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        // The same file, through a second open file description (a clone would share O_APPEND).
        let positioned = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&append)
            ))?;
        let len = append.metadata()?.len();
        Ok(Transcript {
            append,
            positioned,
            cap,
            base: len,
            len,
            marker_at: None,
            dropped,
        })
    }

    /// Append one chunk of output; trim when this run's part has grown well past the cap.
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.append.write_all(chunk)?;
        self.len += chunk.len() as u64;
        if let Some(cap) = self.cap
            && self.len - self.base > cap + cap / 8
        {
            self.trim(cap)?;
        }
        Ok(())
    }

    /// The output ended: trim to the cap, so the finished run keeps at most the cap (+ marker).
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(cap) = self.cap
            && self.len - self.base > cap + MARKER_LEN
        {
            self.trim(cap)?;
        }
        Ok(())
    }

    /// Keep the head and the newest `cap/2` bytes, with the marker between them.
    fn trim(&mut self, cap: u64) -> io::Result<()> {
        let half = cap / 2;
        let first_trim = self.marker_at.is_none();
        let marker_at = self.marker_at.unwrap_or(self.base + half);
        let tail_at = marker_at + MARKER_LEN;
        // Output before `kept_from` goes: on the first trim everything after the head (the
        // marker takes the place of some of it), later everything after the marker.
        let dropped_from = if first_trim { marker_at } else { tail_at };
        let mut kept_from = self.len.saturating_sub(half).max(tail_at);
        kept_from = self.next_line_start(kept_from)?;
        let dropped_now = kept_from.saturating_sub(dropped_from);
        if dropped_now == 0 && !first_trim {
            return Ok(());
        }
        let mut buf = vec![0u8; COPY_CHUNK];
        let (mut from, mut to) = (kept_from, tail_at);
        while from < self.len {
            let n = (self.len - from).min(COPY_CHUNK as u64) as usize;
            self.positioned.read_exact_at(&mut buf[..n], from)?;
            self.positioned.write_all_at(&buf[..n], to)?;
            from += n as u64;
            to += n as u64;
        }
        // Counted once the file says so: a trim that fails half-way is redone whole next time.
        let total = self.dropped.load(Ordering::SeqCst) + dropped_now;
        self.positioned
            .write_all_at(&marker(total, cap), marker_at)?;
        self.positioned.set_len(to)?;
        self.len = to;
        self.marker_at = Some(marker_at);
        self.dropped.store(total, Ordering::SeqCst);
        Ok(())
    }

    /// `at`, moved just past the next line break when one is near: the tail starts on a whole line.
    fn next_line_start(&self, at: u64) -> io::Result<u64> {
        let n = (self.len - at).min(LINE_SEARCH as u64) as usize;
        let mut buf = vec![0u8; n];
        self.positioned.read_exact_at(&mut buf, at)?;
        Ok(match buf.iter().position(|b| *b == b'\n') {
            Some(i) if (i as u64 + 1) < n as u64 => at + i as u64 + 1,
            _ => at,
        })
    }
}

/// The marker line, exactly `MARKER_LEN` bytes: on a line of its own, colours reset.
fn marker(dropped: u64, cap: u64) -> Vec<u8> {
    let text = format!(
        "\r\n\x1b[0m[harnex: {dropped} bytes of output dropped here; the transcript keeps the first and last {} KiB of a run ({MAX_ENV})]",
        cap / 2 / KIB
    );
    let mut line = text.into_bytes();
    line.resize(MARKER_LEN as usize - 2, b' ');
    line.extend_from_slice(b"\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_max("32MiB").unwrap(), Some(32 * MIB));
        assert_eq!(parse_max("32m").unwrap(), Some(32 * MIB));
        assert_eq!(parse_max("1G").unwrap(), Some(GIB));
        assert_eq!(parse_max("65536").unwrap(), Some(64 * KIB));
        assert_eq!(parse_max("0").unwrap(), None);
        assert_eq!(parse_max("off").unwrap(), None);
        for bad in [
            "",
            "abc",
            "12 parsecs",
            "1k",
            "-5M",
            "99999999999999999999G",
        ] {
            assert!(parse_max(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_marker_has_a_fixed_width() {
        assert_eq!(marker(0, MIN_MAX).len() as u64, MARKER_LEN);
        assert_eq!(marker(u64::MAX, 1 << 40).len() as u64, MARKER_LEN);
    }

    fn line(i: u64) -> String {
        format!("line {i:08}\n")
    }

    #[test]
    fn a_burst_keeps_the_head_the_marker_and_the_tail_within_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        std::fs::write(&path, b"earlier run\n").unwrap();
        let dropped = Arc::new(AtomicU64::new(0));
        let cap = MIN_MAX;
        let mut t = Transcript::open(&path, Some(cap), Arc::clone(&dropped)).unwrap();
        let mut written = 0u64;
        let lines = 50_000;
        for i in 0..lines {
            let l = line(i);
            written += l.len() as u64;
            t.write(l.as_bytes()).unwrap();
            let run_part = std::fs::metadata(&path).unwrap().len() - 12;
            assert!(run_part <= cap + cap / 8 + MARKER_LEN, "{run_part}");
        }
        t.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.starts_with("earlier run\nline 00000000\n"),
            "the head stays"
        );
        assert!(
            text.ends_with(&line(lines - 1)),
            "the tail is the newest output"
        );
        assert!(bytes.len() as u64 - 12 <= cap + MARKER_LEN);
        let dropped = dropped.load(Ordering::SeqCst);
        let marker = format!("[harnex: {dropped} bytes of output dropped here");
        assert_eq!(text.matches(&marker).count(), 1, "{}", &text[..200]);
        // Everything written is either in the file or counted as dropped.
        assert_eq!(bytes.len() as u64 - 12 - MARKER_LEN + dropped, written);
        // The tail starts on a whole line.
        let after_marker = text.split(&marker).nth(1).unwrap();
        let tail = after_marker.split_once("\r\n").unwrap().1;
        assert!(tail.starts_with("line "), "{}", &tail[..20]);
    }

    #[test]
    fn a_symlink_in_its_place_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let path = dir.path().join("t.log");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let dropped = Arc::new(AtomicU64::new(0));
        assert!(Transcript::open(&path, Some(MIN_MAX), dropped).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }

    #[test]
    fn without_a_cap_nothing_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        let dropped = Arc::new(AtomicU64::new(0));
        let mut t = Transcript::open(&path, None, Arc::clone(&dropped)).unwrap();
        for i in 0..20_000 {
            t.write(line(i).as_bytes()).unwrap();
        }
        t.finish().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 20_000 * 14);
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
    }
}
