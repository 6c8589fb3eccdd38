//! What a message typed into an agent may contain. A message is text: newlines and tabs stay;
//! escape sequences and every other control character (C0, DEL, C1) are removed before it is
//! typed. Otherwise a message could press keys, or end the bracketed paste it is wrapped in
//! (`ESC [201~`) and have the rest of its text run as keystrokes — `touch pwned\e[201~\r`
//! would run a shell command even with `--no-submit`. Keys are what `send --keys` is for.

use std::borrow::Cow;

const ESC: char = '\x1b';
const BEL: char = '\x07';

/// `text` with escape sequences and control characters removed; `\r\n` and a lone `\r` become
/// `\n`.
pub fn neutralize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_removed_control(c) || c == '\r') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            ESC => skip_escape(&mut chars),
            c if is_removed_control(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether nothing would be typed but whitespace: such a message is refused, not counted as a
/// turn.
pub fn is_blank(text: &str) -> bool {
    neutralize(text).trim().is_empty()
}

fn is_removed_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t' && c != '\r'
}

/// Skip the rest of an escape sequence whose ESC was just read: CSI (`ESC [` … final byte),
/// strings (OSC, DCS, SOS, PM, APC up to BEL or `ESC \`), or a two-character escape.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => {
            // Parameters and intermediates are 0x20-0x3F; the final byte is 0x40-0x7E.
            for c in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&c) || !(' '..='\x7e').contains(&c) {
                    break;
                }
            }
        }
        Some(']' | 'P' | 'X' | '^' | '_') => {
            while let Some(c) = chars.next() {
                if c == BEL {
                    break;
                }
                if c == ESC {
                    chars.next_if_eq(&'\\');
                    break;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paste_markers_cannot_end_the_paste() {
        let attack = "touch pwned\x1b[201~\r\x1b[200~";
        let clean = neutralize(attack);
        assert_eq!(clean, "touch pwned\n");
        assert!(!clean.contains('\x1b'));
    }

    #[test]
    fn text_newlines_and_tabs_stay() {
        let text = "line one\n\tindented: ✓ 日本\nlast";
        assert!(matches!(neutralize(text), Cow::Borrowed(_)));
        assert_eq!(neutralize("a\r\nb\rc"), "a\nb\nc");
    }

    #[test]
    fn controls_and_escapes_are_removed() {
        assert_eq!(neutralize("a\x03b\x04c\x7fd\u{9b}e\0f"), "abcdef");
        assert_eq!(neutralize("\x1b[1;31mred\x1b[0m"), "red");
        assert_eq!(neutralize("x\x1b]52;c;aGk=\x07y"), "xy");
        assert_eq!(neutralize("x\x1bP+q\x1b\\y"), "xy");
        assert_eq!(neutralize("x\x1bOAy\x1b"), "xAy");
    }

    #[test]
    fn blank_messages_are_detected() {
        assert!(is_blank(""));
        assert!(is_blank("  \n\t "));
        assert!(is_blank("\x1b[201~\r"));
        assert!(!is_blank(" a "));
    }
}
