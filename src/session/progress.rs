//! What counts as progress: the screen's content with its volatile parts masked. Digits (elapsed
//! counters, clocks, token counts) and spinner glyphs change on their own while an agent is
//! stuck; anything else changing on screen — new output, a new prompt, a dialog — is progress.
//! The window title (where spinners also live) does not count.

use std::hash::{Hash, Hasher};

/// Glyphs agents animate in place: Braille spinners, half circles, Claude's stars, bullets that
/// blink.
fn is_spinner_glyph(c: char) -> bool {
    ('\u{2800}'..='\u{28FF}').contains(&c)
        || matches!(
            c,
            '◐' | '◑'
                | '◒'
                | '◓'
                | '✢'
                | '✳'
                | '✶'
                | '✻'
                | '✽'
                | '·'
                | '*'
                | '•'
                | '◦'
                | '⏺'
        )
}

/// A hash of the screen with volatile characters masked.
pub fn fingerprint(rows: &[String]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for row in rows {
        for c in row.chars() {
            let masked = if c.is_ascii_digit() {
                '#'
            } else if is_spinner_glyph(c) {
                '*'
            } else {
                c
            };
            masked.hash(&mut hasher);
        }
        '\n'.hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn ticking_spinners_and_counters_are_not_progress() {
        let a = rows(&["› task", "• Working (3s • esc to interrupt)", "› Ask Codex"]);
        let b = rows(&["› task", "◦ Working (4s • esc to interrupt)", "› Ask Codex"]);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let c = rows(&["✶ Pollinating… (43s)"]);
        let d = rows(&["✻ Pollinating… (44s)"]);
        assert_eq!(fingerprint(&c), fingerprint(&d));
    }

    #[test]
    fn new_text_is_progress() {
        let a = rows(&["› task", "• Working (3s • esc to interrupt)"]);
        let b = rows(&[
            "› task",
            "• Ran cargo test",
            "• Working (3s • esc to interrupt)",
        ]);
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
