//! `harnex logs --plain`: the transcript rendered through the terminal emulator
//! ([`crate::rendered_log`]), one line per rendered row: the last N rows, then with `--follow`
//! new rows as they appear. The file is read from its start in chunks, so memory is one screen
//! plus the N rows kept for the end, whatever the transcript's size.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::follow::{Appended, FileWatch, Tail, Wake};
use crate::paths::StateDir;
use crate::registry::{ExitRecord, RegistryEntry};
use crate::rendered_log::{DEFAULT_SIZE, RenderedLog};
use crate::wire::status::Size;

/// How long the output must pause, while following, before the rows on the screen are printed
/// (a full-screen agent redraws in place, so its rows show up only at such pauses).
const QUIET: Duration = Duration::from_millis(500);
/// Bytes read at a time.
const CHUNK: usize = 64 * 1024;

/// Print the last `lines` rendered rows of `file` (read from its start to its current end); then,
/// when `follow` names the live session, new rows until it exits.
pub fn run(
    path: &Path,
    mut file: File,
    (cols, rows): (u16, u16),
    lines: u64,
    follow: Option<&RegistryEntry>,
) -> std::io::Result<()> {
    let (mut renderer, last, read) = render_to_end(&mut file, (cols, rows), lines)?;
    let mut out = Rows::stdout();
    for row in last.rows {
        out.print(&row);
    }
    if let Some(entry) = follow {
        follow_rows(
            Tail::from_offset(path, file, read),
            path,
            entry,
            &mut renderer,
            &mut out,
        );
    }
    Ok(())
}

/// The last `lines` rendered rows of `file`, read from its start to its current end (what
/// `harnex top` shows as a session's log).
pub fn last_rows(file: &mut File, size: (u16, u16), lines: u64) -> std::io::Result<Vec<String>> {
    let (_, last, _) = render_to_end(file, size, lines)?;
    Ok(last.rows.into())
}

/// Render `file` from its start to its current end: the renderer (to follow on with), the last
/// `lines` rows, and the bytes read.
fn render_to_end(
    file: &mut File,
    (cols, rows): (u16, u16),
    lines: u64,
) -> std::io::Result<(RenderedLog, LastRows, u64)> {
    let mut renderer = RenderedLog::new(cols, rows);
    let mut last = LastRows::new(lines);
    let end = file.metadata()?.len();
    let mut read = 0u64;
    let mut chunk = vec![0u8; CHUNK];
    while read < end {
        let want = (end - read).min(CHUNK as u64) as usize;
        let got = file.read(&mut chunk[..want])?;
        if got == 0 {
            break;
        }
        read += got as u64;
        renderer.feed(&chunk[..got], &mut |row| last.push(row));
    }
    renderer.flush_screen(&mut |row| last.push(row));
    Ok((renderer, last, read))
}

/// The terminal size the transcript was written at: the live session's, else its last run's exit
/// record's, else harnex's default.
pub fn size_of(live: Option<&RegistryEntry>, state: &StateDir, transcript: &Path) -> (u16, u16) {
    let recorded = match live {
        Some(entry) => entry.extra.get("size").cloned(),
        None => exit_record_of(state, transcript).and_then(|r| r.extra.get("size").cloned()),
    };
    recorded
        .and_then(|v| serde_json::from_value::<Size>(v).ok())
        .filter(|s| s.cols > 0 && s.rows > 0)
        .map_or(DEFAULT_SIZE, |s| (s.cols, s.rows))
}

/// The exit record kept next to a transcript (`output/<slug>.log` → `exits/<slug>.json`).
fn exit_record_of(state: &StateDir, transcript: &Path) -> Option<ExitRecord> {
    let slug = transcript.file_stem()?.to_str()?;
    let bytes =
        crate::private_fs::read(&state.root().join("exits").join(format!("{slug}.json"))).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Print new rows until the session's supervisor is gone; the rows on the screen when the
/// output pauses, and at the end.
fn follow_rows(
    mut tail: Tail,
    path: &Path,
    entry: &RegistryEntry,
    renderer: &mut RenderedLog,
    out: &mut Rows,
) {
    let mut watch =
        FileWatch::new_or_polling(path).until_exit_of(entry.supervisor_pid.unwrap_or(entry.pid));
    // The first pass ended with the screen printed.
    let mut settled = true;
    while !out.closed {
        // Checked after the exit watch was set up, before the last read: no output is lost.
        let alive = entry.is_alive();
        match tail.read_appended() {
            Ok(Appended::Bytes(bytes)) if !bytes.is_empty() => {
                renderer.feed(&bytes, &mut |row| out.print(row));
                settled = false;
            }
            // The transcript's cap trimmed the file under us: go on from its new end.
            Ok(Appended::Truncated) => {
                let _ = tail.skip_to_end();
            }
            Ok(_) => {}
            Err(_) => break,
        }
        if !alive {
            break;
        }
        let timeout = (!settled).then_some(QUIET);
        if watch.wait(timeout) == Wake::TimedOut {
            renderer.flush_screen(&mut |row| out.print(row));
            settled = true;
        }
    }
    renderer.flush_screen(&mut |row| out.print(row));
}

/// The last `n` rows rendered.
struct LastRows {
    keep: usize,
    rows: VecDeque<String>,
}

impl LastRows {
    fn new(n: u64) -> LastRows {
        let keep = usize::try_from(n).unwrap_or(usize::MAX);
        LastRows {
            keep,
            rows: VecDeque::with_capacity(keep.min(4096)),
        }
    }

    fn push(&mut self, row: &str) {
        if self.keep == 0 {
            return;
        }
        if self.rows.len() == self.keep {
            self.rows.pop_front();
        }
        self.rows.push_back(row.to_string());
    }
}

/// Rows to stdout; stops writing once stdout is gone (a closed pipe, `| head`).
struct Rows {
    out: std::io::Stdout,
    closed: bool,
}

impl Rows {
    fn stdout() -> Rows {
        Rows {
            out: std::io::stdout(),
            closed: false,
        }
    }

    fn print(&mut self, row: &str) {
        if self.closed {
            return;
        }
        let mut out = self.out.lock();
        if writeln!(out, "{row}").and_then(|()| out.flush()).is_err() {
            self.closed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_rows_keeps_the_newest_n() {
        let mut last = LastRows::new(2);
        for row in ["a", "b", "c"] {
            last.push(row);
        }
        assert_eq!(last.rows, ["b", "c"]);
        let mut none = LastRows::new(0);
        none.push("a");
        assert!(none.rows.is_empty());
    }
}
