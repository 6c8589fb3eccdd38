//! A raw transcript (the agent's PTY bytes) rendered the way a person watching the terminal
//! would have read it: one line per screen row, for `harnex logs --plain`.
//!
//! The bytes go through a `vt100` emulator of the session's size, in chunks, so a transcript of
//! any length costs one screen of memory. Rows come out
//! - when they scroll off the top of the screen (inline agents such as Codex scroll their
//!   history up; plain programs print lines);
//! - when the screen is about to be wiped (`ESC [2J`, `ESC c`) or left (the end of the
//!   alternate screen, `ESC [?1049l` and kin): full-screen agents such as Claude Code draw with
//!   cursor moves and never scroll, so what they showed lives only in these frames;
//! - at the end (or, while following, when the output pauses): the screen's rows with content.
//!
//! Repaints are collapsed: a row equal to the one before it is not repeated (a spinner line, a
//! blank gap), and a frame's row that is among the last two screenfuls of rows printed is not
//! printed again (a redrawn input box or status line).
//!
//! Owned by one thread (the `logs` command); not shared.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU16;

/// The size used when the session's own is not recorded: harnex's default PTY size.
pub const DEFAULT_SIZE: (u16, u16) = (120, 40);

/// Escape sequences (after `ESC`) that wipe or leave the screen a person was reading.
const WIPES: &[&[u8]] = &[b"[2J", b"[?1049l", b"[?1047l", b"[?47l", b"c"];

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

/// Rows printed lately, for collapsing a frame drawn again.
struct Recent {
    order: VecDeque<String>,
    counts: HashMap<String, usize>,
    capacity: usize,
}

impl Recent {
    fn new(capacity: usize) -> Recent {
        Recent {
            order: VecDeque::with_capacity(capacity),
            counts: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    fn contains(&self, row: &str) -> bool {
        self.counts.contains_key(row)
    }

    fn push(&mut self, row: &str) {
        if self.order.len() == self.capacity
            && let Some(old) = self.order.pop_front()
            && let Some(count) = self.counts.get_mut(&old)
        {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&old);
            }
        }
        self.order.push_back(row.to_string());
        *self.counts.entry(row.to_string()).or_default() += 1;
    }
}

/// The renderer. Feed it transcript bytes; it calls `out` with each new row.
pub struct RenderedLog {
    parser: vt100::Parser<ScrolledRows>,
    /// The end of the last chunk when it may be the start of a wipe sequence.
    carry: Vec<u8>,
    /// The row printed last (collapses a row drawn again right below or in place).
    last: Option<String>,
    recent: Recent,
    /// Rows a frame printed while they stayed on the screen (following): when they scroll off
    /// later they were already printed.
    shown_on_screen: HashMap<String, usize>,
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
            recent: Recent::new(usize::from(rows.max(1)) * 2),
            shown_on_screen: HashMap::new(),
        }
    }

    /// Feed the next bytes of the transcript.
    pub fn feed(&mut self, bytes: &[u8], out: &mut impl FnMut(&str)) {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(bytes);
        let mut start = 0;
        while start < data.len() {
            match find_wipe(&data[start..]) {
                Wipe::At(at, len) => {
                    self.process(&data[start..start + at], out);
                    self.frame(out);
                    self.shown_on_screen.clear();
                    self.process(&data[start + at..start + at + len], out);
                    start += at + len;
                }
                Wipe::MaybeAt(at) => {
                    self.process(&data[start..start + at], out);
                    self.carry = data[start + at..].to_vec();
                    return;
                }
                Wipe::None => {
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
            if let Some(count) = self.shown_on_screen.get_mut(&row) {
                *count -= 1;
                if *count == 0 {
                    self.shown_on_screen.remove(&row);
                }
                continue;
            }
            self.emit(row, out);
        }
    }

    /// Print the screen's rows with content that are not among the rows printed lately;
    /// returns the rows printed.
    fn frame(&mut self, out: &mut impl FnMut(&str)) -> Vec<String> {
        let screen = self.parser.screen();
        let cols = screen.size().1.get();
        let rows: Vec<String> = screen
            .rows(0, cols)
            .map(|r| r.trim_end().to_string())
            .filter(|r| !r.trim().is_empty() && !self.recent.contains(r))
            .collect();
        let mut printed = Vec::new();
        for row in rows {
            if self.emit(row.clone(), out) {
                printed.push(row);
            }
        }
        printed
    }

    /// Print `row` unless it repeats the row before; returns whether it was printed.
    fn emit(&mut self, row: String, out: &mut impl FnMut(&str)) -> bool {
        if self.last.as_deref() == Some(row.as_str()) {
            return false;
        }
        out(&row);
        self.recent.push(&row);
        self.last = Some(row);
        true
    }
}

enum Wipe {
    /// A wipe sequence starts at this offset (from its `ESC`) and is this long.
    At(usize, usize),
    /// The bytes from this offset to the end may be the start of one.
    MaybeAt(usize),
    None,
}

fn find_wipe(data: &[u8]) -> Wipe {
    let mut from = 0;
    while let Some(offset) = data[from..].iter().position(|&b| b == 0x1b) {
        let at = from + offset;
        let rest = &data[at + 1..];
        for wipe in WIPES {
            if rest.starts_with(wipe) {
                return Wipe::At(at, 1 + wipe.len());
            }
        }
        // Cut short by the end of the chunk: decide with the next one.
        if WIPES.iter().any(|w| w.starts_with(rest)) {
            return Wipe::MaybeAt(at);
        }
        from = at + 1;
    }
    Wipe::None
}

#[cfg(test)]
#[path = "rendered_log_tests.rs"]
mod tests;
