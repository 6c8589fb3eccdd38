//! A raw transcript (the agent's PTY bytes) rendered the way a person watching the terminal
//! would have read it: one line per screen row, for `harnex logs --plain`.
//!
//! The bytes go through a `vt100` emulator of the session's size, in chunks, so a transcript of
//! any length costs one screen of memory. Rows come out
//! - when they scroll off the top of the screen (inline agents such as Codex scroll their
//!   history up; plain programs print lines);
//! - when a full-screen agent (Claude Code) moves its content up on the alternate screen: it
//!   never scrolls the terminal, it redraws each frame (from `ESC [H`) with only the cells that
//!   changed, so a frame whose top rows are the last frame's rows from row k on means its first
//!   k rows went by;
//! - when the screen is about to be wiped (`ESC [2J`, `ESC c`) or left (the end of the
//!   alternate screen, `ESC [?1049l` and kin): what a full-screen agent showed lives only on its
//!   screen;
//! - at the end (or, while following, when the output pauses): the screen's rows with content.
//!
//! Repaints are collapsed: a row equal to the one before it is not repeated (a spinner line, a
//! blank gap), and a frame prints only the rows the last frame did not have (a redrawn input box
//! or status line comes out once).
//!
//! Owned by one thread (the `logs` command); not shared.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU16;

/// The size used when the session's own is not recorded: harnex's default PTY size.
pub const DEFAULT_SIZE: (u16, u16) = (120, 40);

/// Escape sequences (after `ESC`) the renderer looks at before the emulator runs them.
const MARKS: &[(&[u8], Mark)] = &[
    (b"[2J", Mark::Wipe),
    (b"[?1049l", Mark::Wipe),
    (b"[?1047l", Mark::Wipe),
    (b"[?47l", Mark::Wipe),
    (b"c", Mark::Wipe),
    (b"[H", Mark::Home),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// Wipes or leaves the screen a person was reading.
    Wipe,
    /// Cursor home: where a full-screen agent starts drawing its next frame.
    Home,
}

/// Rows that must match, two of them with content, to take a frame for the last one moved up.
const MIN_SHIFT_MATCH: usize = 3;

/// Collects the rows the emulator pushes off the top of the screen.
#[derive(Default)]
struct ScrolledRows {
    rows: Vec<String>,
}

impl vt100::Callbacks for ScrolledRows {
    fn on_scroll(&mut self, contents: vt100::capture::RowContents<'_>, _alternate: bool) {
        let mut formatted = String::new();
        let mut state = vt100::capture::BasicFormattedCaptureState::new();
        // Writing into a String cannot fail.
        let _ = contents.write_formatted_basic(&mut formatted, &mut state);
        let plain: String = vt100::capture::basic_formatted_to_plain(&formatted).collect();
        self.rows.push(plain.trim_end().to_string());
    }
}

/// The renderer. Feed it transcript bytes; it calls `out` with each new row.
pub struct RenderedLog {
    parser: vt100::Parser<ScrolledRows>,
    /// The end of the last chunk when it may be the start of a wipe sequence.
    carry: Vec<u8>,
    /// The row printed last (collapses a row drawn again right below or in place).
    last: Option<String>,
    /// The rows the last frame printed (at a wipe, or the screen at a pause): a frame drawn
    /// again prints only the rows it did not have.
    last_frame: HashSet<String>,
    /// Rows a frame printed while they stayed on the screen (following): when they scroll off
    /// later they were already printed.
    shown_on_screen: HashMap<String, usize>,
    /// The alternate screen's rows when its last frame began, to see the next one move up.
    viewport: Option<Vec<String>>,
}

impl RenderedLog {
    /// A renderer for a terminal of `cols` × `rows`.
    pub fn new(cols: u16, rows: u16) -> RenderedLog {
        let size = |n: u16| NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN);
        RenderedLog {
            // No scrollback: a row is handed over as it leaves the screen, never kept.
            parser: vt100::Parser::new_with_callbacks(
                size(rows),
                size(cols),
                0,
                ScrolledRows::default(),
            ),
            carry: Vec::new(),
            last: None,
            last_frame: HashSet::new(),
            shown_on_screen: HashMap::new(),
            viewport: None,
        }
    }

    /// Feed the next bytes of the transcript.
    pub fn feed(&mut self, bytes: &[u8], out: &mut impl FnMut(&str)) {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(bytes);
        let mut start = 0;
        while start < data.len() {
            match find_mark(&data[start..]) {
                Found::At(at, len, mark) => {
                    self.process(&data[start..start + at], out);
                    match mark {
                        Mark::Wipe => {
                            self.frame(out);
                            self.shown_on_screen.clear();
                            self.viewport = None;
                        }
                        Mark::Home => self.follow_viewport(out),
                    }
                    self.process(&data[start + at..start + at + len], out);
                    start += at + len;
                }
                Found::MaybeAt(at) => {
                    self.process(&data[start..start + at], out);
                    self.carry = data[start + at..].to_vec();
                    return;
                }
                Found::None => {
                    self.process(&data[start..], out);
                    return;
                }
            }
        }
    }

    /// The rows on the screen now that were not printed yet: at the end of the transcript, or
    /// when it pauses while following. Rows printed here are not printed again when they
    /// scroll off later.
    pub fn flush_screen(&mut self, out: &mut impl FnMut(&str)) {
        let carry = std::mem::take(&mut self.carry);
        self.process(&carry, out);
        for row in self.frame(out) {
            *self.shown_on_screen.entry(row).or_default() += 1;
        }
    }

    fn process(&mut self, bytes: &[u8], out: &mut impl FnMut(&str)) {
        if bytes.is_empty() {
            return;
        }
        self.parser.process(bytes);
        let scrolled = std::mem::take(&mut self.parser.callbacks_mut().rows);
        for row in scrolled {
            self.went_by(row, out);
        }
    }

    /// A row left the screen at its top: print it unless a frame printed it while it was there.
    fn went_by(&mut self, row: String, out: &mut impl FnMut(&str)) {
        if let Some(count) = self.shown_on_screen.get_mut(&row) {
            *count -= 1;
            if *count == 0 {
                self.shown_on_screen.remove(&row);
            }
            return;
        }
        self.emit(row, out);
    }

    /// At the start of a frame on the alternate screen: print the rows the last frame moved up
    /// and off the screen.
    fn follow_viewport(&mut self, out: &mut impl FnMut(&str)) {
        let screen = self.parser.screen();
        if !screen.alternate_screen() {
            self.viewport = None;
            return;
        }
        let cols = screen.size().1.get();
        let rows: Vec<String> = screen
            .rows(0, cols)
            .map(|r| r.trim_end().to_string())
            .collect();
        if let Some(last) = self.viewport.take() {
            for row in went_by_between(last, &rows) {
                self.went_by(row, out);
            }
        }
        self.viewport = Some(rows);
    }

    /// Print the screen's rows with content that the last frame did not have; returns the rows
    /// printed.
    fn frame(&mut self, out: &mut impl FnMut(&str)) -> Vec<String> {
        let screen = self.parser.screen();
        let cols = screen.size().1.get();
        let rows: Vec<String> = screen
            .rows(0, cols)
            .map(|r| r.trim_end().to_string())
            .filter(|r| !r.trim().is_empty())
            .collect();
        let mut printed = Vec::new();
        for row in &rows {
            if !self.last_frame.contains(row) && self.emit(row.clone(), out) {
                printed.push(row.clone());
            }
        }
        self.last_frame = rows.into_iter().collect();
        printed
    }

    /// Print `row` unless it repeats the row before; returns whether it was printed.
    fn emit(&mut self, row: String, out: &mut impl FnMut(&str)) -> bool {
        if self.last.as_deref() == Some(row.as_str()) {
            return false;
        }
        out(&row);
        self.last = Some(row);
        true
    }
}

/// The rows with content of the frame `last` that left the screen in the frame `now`: its top
/// rows when `now` is `last` moved up; all of its rows `now` does not have when `now` is mostly
/// new (the content moved up by more than a screen in one frame, or another screen replaced it:
/// either way a person saw those rows go).
fn went_by_between(last: Vec<String>, now: &[String]) -> Vec<String> {
    let content = |row: &String| !row.trim().is_empty();
    let shift = moved_up_by(&last, now);
    if shift > 0 {
        return last.into_iter().take(shift).filter(content).collect();
    }
    if top_matches(&last, now, 0) {
        return Vec::new();
    }
    let kept: HashSet<&String> = now.iter().filter(|r| content(r)).collect();
    let with_content = last.iter().filter(|r| content(r)).count();
    let gone: Vec<String> = last
        .iter()
        .filter(|r| content(r) && !kept.contains(r))
        .cloned()
        .collect();
    if gone.len() * 2 > with_content {
        gone
    } else {
        Vec::new()
    }
}

/// Whether the top rows of `now` are the rows of `last` from `k` on: at least
/// [`MIN_SHIFT_MATCH`] of them, two with content.
fn top_matches(last: &[String], now: &[String], k: usize) -> bool {
    let run: Vec<&String> = now
        .iter()
        .zip(&last[k.min(last.len())..])
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    run.len() >= MIN_SHIFT_MATCH && run.iter().filter(|r| !r.trim().is_empty()).count() >= 2
}

/// How many rows `now` moved up from `last`: the smallest k for which the top rows of `now` are
/// the rows of `last` from k on (at least [`MIN_SHIFT_MATCH`], two with content). 0 when the
/// top did not move (or nothing matches: another screen, not the same content moved).
fn moved_up_by(last: &[String], now: &[String]) -> usize {
    if top_matches(last, now, 0) {
        return 0;
    }
    (1..last.len())
        .find(|&k| top_matches(last, now, k))
        .unwrap_or(0)
}

enum Found {
    /// A marked sequence starts at this offset (from its `ESC`) and is this long.
    At(usize, usize, Mark),
    /// The bytes from this offset to the end may be the start of one.
    MaybeAt(usize),
    None,
}

fn find_mark(data: &[u8]) -> Found {
    let mut from = 0;
    while let Some(offset) = data[from..].iter().position(|&b| b == 0x1b) {
        let at = from + offset;
        let rest = &data[at + 1..];
        for (sequence, mark) in MARKS {
            if rest.starts_with(sequence) {
                return Found::At(at, 1 + sequence.len(), *mark);
            }
        }
        // Cut short by the end of the chunk: decide with the next one.
        if MARKS.iter().any(|(s, _)| s.starts_with(rest)) {
            return Found::MaybeAt(at);
        }
        from = at + 1;
    }
    Found::None
}

#[cfg(test)]
#[path = "rendered_log_tests.rs"]
mod tests;
