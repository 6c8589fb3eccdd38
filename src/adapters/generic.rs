//! The generic adapter: any CLI harnex has no rules for (shells, REPLs, unknown agents).
//!
//! Everything it reads is a shape most programs share (`screen_shapes`), and every verdict
//! waits for a quiet screen, so a frame that only looks like a prompt or a dialog while output
//! flows counts for nothing. In order: a `(y/n)` question the cursor waits after, or a choice
//! list with one option highlighted at the bottom of the screen → blocked, with the keys that
//! answer; the cursor right after a prompt marker, on a line that starts with a prompt glyph, or
//! in a box-drawn input area → prompt; busy while output flows (the state tracker applies
//! that); unknown otherwise.

use super::dialog::{Choice, selection_dialog};
use super::screen_shapes::{self, ChoiceList, YesNo};
use super::{Adapter, Dialog, Keystroke, Observation, ScreenView, Verdict};

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
        if let Some(question) = screen_shapes::yes_no_question(view) {
            return yes_no_verdict(&question);
        }
        if let Some(list) = screen_shapes::choice_list(view) {
            return choice_verdict(&list);
        }
        let row = usize::from(view.cursor.0);
        if let Some(marker) = prompt_marker_before_cursor(view) {
            return Verdict::new(
                Observation::Prompt,
                "generic.prompt-marker",
                Some(row),
                &format!("cursor right after {:?}", marker.trim_end()),
            );
        }
        if let Some(glyph) = screen_shapes::input_line_glyph(view) {
            return Verdict::new(
                Observation::Prompt,
                "generic.input-line",
                Some(row),
                &format!("the cursor's line starts with {glyph:?}"),
            );
        }
        if screen_shapes::cursor_in_input_box(view) {
            return Verdict::new(
                Observation::Prompt,
                "generic.input-box",
                Some(row),
                "the cursor is in a box-drawn input area",
            );
        }
        Verdict::new(
            Observation::Unknown,
            "generic.no-prompt",
            Some(row),
            &format!(
                "cursor row text {:?} shows no prompt, input box or dialog",
                view.before_cursor.trim_end()
            ),
        )
    }

    /// EOF at an empty line ends shells and REPLs; the stop ladder handles the rest.
    fn exit_sequence(&self) -> Vec<Keystroke> {
        vec![Keystroke {
            delay: std::time::Duration::ZERO,
            bytes: vec![0x15, 0x04], // C-u clears a half-typed line, C-d sends EOF
        }]
    }
}

/// `Continue? [Y/n]`: Enter takes a yes default; otherwise `y` and Enter (line programs read
/// the answer when Enter comes).
fn yes_no_verdict(question: &YesNo) -> Verdict {
    let default_yes = question.default_yes == Some(true);
    let dialog = Dialog {
        reason: "generic-yes-no".into(),
        accept_keys: if default_yes {
            vec!["Enter".into()]
        } else {
            vec!["y".into(), "Enter".into()]
        },
        enter_is_safe: default_yes,
    };
    Verdict::new(
        Observation::Blocked(dialog),
        "generic.yes-no",
        Some(question.row),
        &question.question,
    )
    .tentative()
}

/// A choice list: Enter when the highlighted option says yes, else the arrows to the first that
/// does.
fn choice_verdict(list: &ChoiceList) -> Verdict {
    let options: Vec<Choice> = list
        .options
        .iter()
        .map(|o| Choice {
            row: o.row,
            text: o.text.clone(),
            selected: o.highlighted,
        })
        .collect();
    let dialog = selection_dialog("generic-choice", &options, screen_shapes::accepts);
    let highlighted = list.highlighted();
    let options = match highlighted {
        Some(h) => format!("highlighted: {}", h.text),
        // Side-by-side options show their highlight in colour only.
        None => {
            let texts: Vec<&str> = list.options.iter().map(|o| o.text.as_str()).collect();
            format!("options: {}, none marked", texts.join(" / "))
        }
    };
    let evidence = match &list.question {
        Some(q) => format!("{q} ({options})"),
        None => options,
    };
    let row = highlighted.or(list.options.first()).map(|o| o.row);
    Verdict::new(
        Observation::Blocked(dialog),
        "generic.choice-list",
        row,
        &evidence,
    )
    .tentative()
}

#[cfg(test)]
#[path = "generic_tests.rs"]
mod tests;
