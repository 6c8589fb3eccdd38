//! `harnex logs`: the session's transcript (last N lines), `--follow` until it exits. Works after
//! the session ended: transcripts are kept. What reaches the operator's terminal is filtered
//! ([`crate::terminal_filter`]) unless `--raw`; `--plain` renders it to text rows ([`plain`]).

pub mod plain;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::cli::LogsArgs;
use crate::error::{Error, Result};
use crate::follow::{Appended, FileWatch, Tail};
use crate::registry::{RegistryEntry, Resolved, SessionFile};
use crate::terminal_filter::SafeReplay;

pub fn run(args: LogsArgs) -> Result<i32> {
    let (state, selector) = super::selector(&args.id.id, &args.target)?;
    let (path, live) = match selector.resolve(&state)? {
        Resolved::Live(entry) => {
            let path = entry
                .output_log_path
                .clone()
                .unwrap_or_else(|| state.output_path(&entry.key()));
            if !path.exists() {
                return Err(Error::failed(format!(
                    "transcript not found for session {} (expected {})",
                    entry.id,
                    path.display()
                )));
            }
            (path, Some(*entry))
        }
        Resolved::None { hint } => match selector.find_file(&state, SessionFile::Transcript)? {
            Some(path) => (path, None),
            None => {
                return Err(Error::failed(format!(
                    "no session or transcript found: {hint}"
                )));
            }
        },
    };
    let mut file = crate::private_fs::open_read(&path)
        .map_err(|e| Error::failed(format!("cannot read {}: {e}", path.display())))?;
    if args.plain {
        let size = plain::size_of(live.as_ref(), &state, &path);
        let follow = live.as_ref().filter(|_| args.follow);
        plain::run(&path, file, size, args.lines, follow)
            .map_err(|e| Error::failed(format!("cannot read {}: {e}", path.display())))?;
        return Ok(0);
    }
    let bytes = tail_lines(&mut file, args.lines)
        .map_err(|e| Error::failed(format!("cannot read {}: {e}", path.display())))?;
    let mut output = Output::new(&args);
    output.emit(&bytes);
    if args.follow
        && let Some(entry) = live
    {
        let offset = file
            .stream_position()
            .map_err(|e| Error::failed(format!("cannot read {}: {e}", path.display())))?;
        follow(
            Tail::from_offset(&path, file, offset),
            &path,
            &entry,
            &mut output,
        );
    }
    Ok(0)
}

/// How transcript bytes reach stdout.
enum Output {
    Raw,
    Filtered(SafeReplay),
}

impl Output {
    fn new(args: &LogsArgs) -> Output {
        if args.raw {
            Output::Raw
        } else {
            Output::Filtered(SafeReplay::new())
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = match self {
            Output::Raw => out.write_all(bytes),
            // In slices: a whole transcript is never held twice.
            Output::Filtered(replay) => bytes
                .chunks(64 * 1024)
                .try_for_each(|chunk| out.write_all(&replay.feed(chunk))),
        };
        let _ = out.flush();
    }
}

/// The last `n` lines of the file (all of it when shorter), leaving the position at the end.
fn tail_lines(file: &mut std::fs::File, n: u64) -> std::io::Result<Vec<u8>> {
    let len = file.metadata()?.len();
    if n == 0 {
        file.seek(SeekFrom::Start(len))?;
        return Ok(Vec::new());
    }
    let mut start = len;
    let mut newlines = 0u64;
    let mut chunk = vec![0u8; 64 * 1024];
    // Scan backwards for n line breaks (a trailing one ends the last line, it does not start one).
    'scan: while start > 0 {
        let size = (start).min(chunk.len() as u64);
        start -= size;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..size as usize])?;
        for i in (0..size as usize).rev() {
            if chunk[i] == b'\n' && start + i as u64 != len - 1 {
                newlines += 1;
                if newlines == n {
                    start += i as u64 + 1;
                    break 'scan;
                }
            }
        }
    }
    file.seek(SeekFrom::Start(start))?;
    let mut out = Vec::new();
    file.read_to_end(&mut out)?;
    Ok(out)
}

/// Print what is appended until the session's supervisor is gone. Blocks between writes: it
/// wakes for each write to the transcript and when the supervisor exits.
fn follow(mut tail: Tail, path: &Path, entry: &RegistryEntry, output: &mut Output) {
    let mut watch =
        FileWatch::new_or_polling(path).until_exit_of(entry.supervisor_pid.unwrap_or(entry.pid));
    loop {
        // Checked after the exit watch was set up, before the last read: no output is lost.
        let alive = entry.is_alive();
        match tail.read_appended() {
            Ok(Appended::Bytes(bytes)) if !bytes.is_empty() => output.emit(&bytes),
            // The transcript's cap trimmed the file under us: go on from its new end.
            Ok(Appended::Truncated) => {
                let _ = tail.skip_to_end();
            }
            Ok(_) => {}
            Err(_) => return,
        }
        if !alive {
            return;
        }
        watch.wait(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(content: &str, n: u64) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        std::fs::write(&path, content).unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        String::from_utf8(tail_lines(&mut file, n).unwrap()).unwrap()
    }

    #[test]
    fn zero_lines_is_nothing_and_the_position_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        std::fs::write(&path, "a\nb\n").unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        assert!(tail_lines(&mut file, 0).unwrap().is_empty());
        assert_eq!(file.stream_position().unwrap(), 4);
    }

    #[test]
    fn tails_the_last_lines() {
        assert_eq!(tail_of("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail_of("a\nb\nc", 2), "b\nc");
        assert_eq!(tail_of("a\nb\nc\n", 10), "a\nb\nc\n");
        assert_eq!(tail_of("", 3), "");
        assert_eq!(tail_of("only", 1), "only");
    }
}
