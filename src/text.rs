//! Plain-text helpers for transcripts: removing terminal escape sequences.

use std::sync::LazyLock;

use regex::Regex;

/// CSI sequences, OSC strings (BEL- or ST-terminated, non-greedy), and other two-byte escapes.
static ANSI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\x1b\[[0-9;?<>=!]*[ -/]*[@-~]",
        r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)",
        r"|\x1b[PX^_][^\x1b]*\x1b\\",
        r"|\x1b[()][0-9A-Za-z]",
        r"|\x1b[=>78cDEHMNOZ]",
    ))
    .expect("the escape pattern is valid")
});

/// Remove escape sequences and carriage returns that would overprint, keeping the text.
pub fn strip_ansi(text: &str) -> String {
    let plain = ANSI.replace_all(text, "");
    plain
        .split('\n')
        .map(|line| {
            // A bare \r returns to the line start: keep what was drawn last.
            let line = line.trim_end_matches('\r');
            line.rsplit('\r').next().unwrap_or(line)
        })
        .collect::<Vec<_>>()
        .join("\n")
        .chars()
        .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
        .collect()
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn truncate_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_csi_and_osc_without_eating_text_between() {
        let raw = "\x1b]10;?\x1b\\\x1b]11;?\x1b\\OpenAI Codex\r\n\x1b[1;32m› type here\x1b[0m\r\n";
        assert_eq!(strip_ansi(raw), "OpenAI Codex\n› type here\n");
    }

    #[test]
    fn carriage_returns_keep_the_last_overprint() {
        assert_eq!(strip_ansi("⠋ work\r⠙ work\rdone\r\n"), "done\n");
        assert_eq!(strip_ansi("answer: x\r\r\nnext"), "answer: x\nnext");
    }
}
