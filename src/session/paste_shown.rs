//! Whether the agent has taken a bracketed paste, read from its screen: the text left of the
//! cursor ends with the end of the message (the agent drew it in its input box), or with the
//! stand-in the agent shows for a long paste (`[Pasted Content 4113 chars]`). Enter pressed
//! before that can be read as part of the paste (Codex) and is lost.

use crate::adapters::ScreenView;
use crate::adapters::rules::PasteShown;

/// The most of the message's end compared: enough to tell it from other text, short enough that
/// a wrapped row still ends with it.
const PROBE_CHARS: usize = 12;

/// Whether `view` shows the pasted `message` at the cursor.
pub fn shown(view: &ScreenView, message: &str, how: &PasteShown) -> bool {
    let at_cursor = view.before_cursor.trim_end();
    if at_cursor.is_empty() {
        return false;
    }
    if let Some(placeholder) = &how.placeholder
        && placeholder
            .find_iter(at_cursor)
            .any(|m| m.end() == at_cursor.len())
    {
        return true;
    }
    let probe = probe(message);
    !probe.is_empty() && at_cursor.ends_with(probe)
}

/// The end of the message's last line as the input box shows it last: its last words within
/// [`PROBE_CHARS`] (a wrapped row starts at a word), or the end of a longer last word.
fn probe(message: &str) -> &str {
    let line = message.lines().next_back().unwrap_or("").trim();
    let Some((start, _)) = line.char_indices().rev().nth(PROBE_CHARS - 1) else {
        return line;
    };
    let tail = &line[start..];
    match tail.find(' ') {
        Some(space) if !tail[space..].trim().is_empty() => tail[space..].trim_start(),
        _ => tail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(before_cursor: &str) -> ScreenView {
        ScreenView {
            rows: vec![before_cursor.to_string()],
            cursor: (0, before_cursor.chars().count() as u16),
            before_cursor: before_cursor.to_string(),
            title: String::new(),
            alternate_screen: false,
            bracketed_paste: true,
            application_cursor: false,
            size: (40, 120),
        }
    }

    fn codex() -> PasteShown {
        PasteShown {
            placeholder: Some(regex::Regex::new(r"\[Pasted Content \d+ chars\]").expect("re")),
        }
    }

    #[test]
    fn the_message_at_the_cursor_is_shown_and_an_empty_input_box_is_not() {
        let msg = "msg-001 first line\nsecond line\nthird and last line";
        assert!(shown(&view("  third and last line"), msg, &codex()));
        assert!(shown(
            &view("› msg-000 a single line  "),
            "msg-000 a single line",
            &codex()
        ));
        assert!(!shown(&view("› "), msg, &codex()));
        assert!(!shown(&view(""), msg, &codex()));
        // Other text on the cursor row that shares the last word is not this message.
        assert!(!shown(&view("• done: second line"), msg, &codex()));
        assert!(shown(&view("› hi"), "hi", &codex()));
    }

    #[test]
    fn a_long_word_is_compared_by_its_end_as_a_wrapped_row_shows_it() {
        let word = "x".repeat(30) + "tail-of-word";
        assert!(shown(&view("tail-of-word"), &word, &PasteShown::default()));
        assert!(!shown(&view("tail-of-wor"), &word, &PasteShown::default()));
    }

    #[test]
    fn the_agents_stand_in_for_a_long_paste_counts_only_with_a_pattern() {
        let long = "msg-002 ".to_string() + &"word ".repeat(900);
        let at_cursor = view("› [Pasted Content 4113 chars]");
        assert!(shown(&at_cursor, &long, &codex()));
        assert!(!shown(&at_cursor, &long, &PasteShown::default()));
        // Only at the cursor: a stand-in further left with other text after it is not this one.
        assert!(!shown(
            &view("› [Pasted Content 4113 chars] and more"),
            &long,
            &codex()
        ));
    }
}
