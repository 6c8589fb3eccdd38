//! The emulated terminal: a `vt100::Parser` sized like the PTY, the window title, and — for
//! headless sessions, where no real terminal exists — replies to the agent's terminal queries.
//!
//! Owned by the monitor thread alone.

use std::num::NonZeroU16;

use crate::adapters::ScreenView;

/// Collects what the parser reports besides the grid: the title and query replies.
#[derive(Default)]
pub struct Callbacks {
    title: String,
    /// Answer queries (only when headless: a real terminal answers them otherwise).
    answer_queries: bool,
    replies: Vec<u8>,
    /// Inside a synchronized update (`CSI ? 2026 h` … `l`): the frame is half drawn.
    synchronized: bool,
}

impl vt100::Callbacks for Callbacks {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.title = String::from_utf8_lossy(title).into_owned();
    }

    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        if i1 == Some(b'?') && matches!(c, 'h' | 'l') && params.iter().any(|p| p == &[2026]) {
            self.synchronized = c == 'h';
            return;
        }
        if !self.answer_queries {
            return;
        }
        let first = params.first().and_then(|p| p.first()).copied().unwrap_or(0);
        match (i1, c, first) {
            // Cursor position report.
            (None, 'n', 6) => {
                let (row, col) = screen.cursor_position();
                self.replies
                    .extend_from_slice(format!("\x1b[{};{}R", row + 1, col + 1).as_bytes());
            }
            // Device status: OK.
            (None, 'n', 5) => self.replies.extend_from_slice(b"\x1b[0n"),
            // Primary device attributes: a VT220-class terminal with ANSI colour.
            (None, 'c', 0) => self.replies.extend_from_slice(b"\x1b[?62;22c"),
            // Secondary device attributes.
            (Some(b'>'), 'c', 0) => self.replies.extend_from_slice(b"\x1b[>1;10;0c"),
            // Text area size in characters.
            (None, 't', 18) => {
                let (rows, cols) = screen.size();
                self.replies
                    .extend_from_slice(format!("\x1b[8;{rows};{cols}t").as_bytes());
            }
            // `CSI ? u` (kitty keyboard protocol query) gets no answer on purpose: terminals
            // without the protocol stay silent, and the DA1 reply that follows tells the agent so.
            _ => {}
        }
    }

    fn unhandled_osc(&mut self, _: &mut vt100::Screen, params: &[&[u8]]) {
        if !self.answer_queries {
            return;
        }
        // Foreground / background colour queries: white on black.
        match params {
            [b"10", b"?"] => self
                .replies
                .extend_from_slice(b"\x1b]10;rgb:ffff/ffff/ffff\x1b\\"),
            [b"11", b"?"] => self
                .replies
                .extend_from_slice(b"\x1b]11;rgb:0000/0000/0000\x1b\\"),
            _ => {}
        }
    }
}

pub struct Screen {
    parser: vt100::Parser<Callbacks>,
}

/// A size vt100 accepts (it needs at least one row and column).
fn nonzero(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN)
}

impl Screen {
    pub fn new(rows: u16, cols: u16, answer_queries: bool) -> Screen {
        let callbacks = Callbacks {
            answer_queries,
            ..Callbacks::default()
        };
        Screen {
            parser: vt100::Parser::new_with_callbacks(nonzero(rows), nonzero(cols), 0, callbacks),
        }
    }

    /// Feed output bytes; returns the replies the agent is waiting for (empty when none).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.parser.process(bytes);
        std::mem::take(&mut self.parser.callbacks_mut().replies)
    }

    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.parser.set_size(nonzero(rows), nonzero(cols));
    }

    /// The agent is in the middle of a synchronized update: a real terminal would not show
    /// this frame yet, so it should not be classified.
    pub fn mid_frame(&self) -> bool {
        self.parser.callbacks().synchronized
    }

    pub fn title(&self) -> &str {
        &self.parser.callbacks().title
    }

    pub fn view(&self) -> ScreenView {
        let screen = self.parser.screen();
        let (rows, cols) = screen.size();
        let (rows, cols) = (rows.get(), cols.get());
        let cursor = screen.cursor_position();
        ScreenView {
            rows: screen
                .rows(0, cols)
                .map(|r| r.trim_end().to_string())
                .collect(),
            cursor,
            before_cursor: text_before(screen, cursor.0, cursor.1),
            title: self.title().to_string(),
            alternate_screen: screen.alternate_screen(),
            bracketed_paste: screen.bracketed_paste(),
            application_cursor: screen.application_cursor(),
            size: (rows, cols),
        }
    }
}

/// The cells of `row` left of `col`, blank cells as spaces.
fn text_before(screen: &vt100::Screen, row: u16, col: u16) -> String {
    let mut text = String::new();
    for c in 0..col {
        match screen.cell(row, c) {
            Some(cell) if cell.is_wide_continuation() => {}
            Some(cell) if cell.has_contents() => text.push_str(cell.contents()),
            _ => text.push(' '),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_queries_are_answered_at_the_right_position_when_headless() {
        let mut screen = Screen::new(24, 80, true);
        let replies = screen.feed(b"ab\r\ncd\x1b[6n");
        assert_eq!(replies, b"\x1b[2;3R");
        assert_eq!(screen.feed(b"\x1b[c"), b"\x1b[?62;22c");
        assert_eq!(
            screen.feed(b"\x1b]11;?\x1b\\"),
            b"\x1b]11;rgb:0000/0000/0000\x1b\\"
        );
        assert!(screen.feed(b"\x1b[?u").is_empty());
    }

    #[test]
    fn queries_are_left_to_the_real_terminal_in_the_foreground() {
        let mut screen = Screen::new(24, 80, false);
        assert!(screen.feed(b"\x1b[6n\x1b[c").is_empty());
    }

    #[test]
    fn view_has_rows_cursor_title_and_text_before_cursor() {
        let mut screen = Screen::new(5, 20, false);
        screen.feed(b"\x1b]0;my title\x07hello\r\n$ ");
        let view = screen.view();
        assert_eq!(view.rows[0], "hello");
        assert_eq!(view.cursor, (1, 2));
        assert_eq!(view.before_cursor, "$ ");
        assert_eq!(view.title, "my title");
        assert_eq!(view.size, (5, 20));
        assert_eq!(view.text(), "hello\n$\n");
    }

    #[test]
    fn synchronized_updates_are_tracked() {
        let mut screen = Screen::new(5, 20, false);
        screen.feed(b"\x1b[?2026hhalf");
        assert!(screen.mid_frame());
        screen.feed(b" done\x1b[?2026l");
        assert!(!screen.mid_frame());
    }

    #[test]
    fn resizing_changes_the_view() {
        let mut screen = Screen::new(5, 20, false);
        screen.resize(10, 40);
        assert_eq!(screen.view().size, (10, 40));
        screen.resize(0, 0);
        assert_eq!(screen.view().size, (1, 1));
    }
}
