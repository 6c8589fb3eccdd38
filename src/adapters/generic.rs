//! The generic adapter: any CLI with a line prompt (shells, REPLs, unknown agents).
//!
//! Ready when the cursor sits right after a prompt-like marker on its row; busy while output
//! flows (the state tracker applies that); unknown otherwise.

use super::{Adapter, Keystroke, Observation, ScreenView, Verdict};

/// Prompt markers, longest first so `>>> ` is reported as itself rather than `> `.
pub const PROMPT_MARKERS: [&str; 7] = [">>> ", "$ ", "# ", "% ", "> ", "› ", "❯ "];

pub struct Generic;

/// The marker the text left of the cursor ends with, if any.
pub fn prompt_marker_before_cursor(view: &ScreenView) -> Option<&'static str> {
    PROMPT_MARKERS
        .iter()
        .copied()
        .find(|m| view.before_cursor.ends_with(m))
}

impl Adapter for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn classify(&self, view: &ScreenView) -> Verdict {
        let row = usize::from(view.cursor.0);
        match prompt_marker_before_cursor(view) {
            Some(marker) => Verdict::new(
                Observation::Prompt,
                "generic.prompt-marker",
                Some(row),
                &format!("cursor right after {:?}", marker.trim_end()),
            ),
            None => Verdict::new(
                Observation::Unknown,
                "generic.no-prompt",
                Some(row),
                &format!(
                    "cursor row text {:?} does not end with a prompt marker",
                    view.before_cursor.trim_end()
                ),
            ),
        }
    }

    /// EOF at an empty line ends shells and REPLs; the stop ladder handles the rest.
    fn exit_sequence(&self) -> Vec<Keystroke> {
        vec![Keystroke {
            delay: std::time::Duration::ZERO,
            bytes: vec![0x15, 0x04], // C-u clears a half-typed line, C-d sends EOF
        }]
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
            ..ScreenView::default()
        }
    }

    #[test]
    fn prompts_are_recognised() {
        for text in ["user@host:~$ ", "root# ", "% ", "> ", ">>> ", "› ", "❯ "] {
            let verdict = Generic.classify(&view(text));
            assert_eq!(verdict.observation, Observation::Prompt, "{text:?}");
        }
        assert!(Generic.classify(&view(">>> ")).evidence.contains(">>>"));
    }

    #[test]
    fn typed_text_or_plain_output_is_not_a_prompt() {
        for text in ["$ echo hi", "working...", "", "$"] {
            let verdict = Generic.classify(&view(text));
            assert_eq!(verdict.observation, Observation::Unknown, "{text:?}");
        }
    }
}
