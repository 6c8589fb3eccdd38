//! The generic adapter: any CLI harnex has no rules for (shells, REPLs, unknown agents). Its
//! rules are `rules/generic.toml`; this module reads the shapes they name (`shape = ...`).
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
use super::{Adapter, Dialog, Observation, ScreenView, Verdict};

/// Prompt markers, longest first (the choice-list shape's test for a prompt below a list; the
/// `prompt-marker` rule has its own pattern).
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
}

/// Shape `yes-no`: a `(y/n)` question the cursor waits after.
pub fn yes_no_shape(view: &ScreenView, rule: &str) -> Option<Verdict> {
    screen_shapes::yes_no_question(view).map(|q| yes_no_verdict(&q, rule))
}

/// Shape `choice-list`: a choice list at the bottom of the screen.
pub fn choice_list_shape(view: &ScreenView, rule: &str) -> Option<Verdict> {
    screen_shapes::choice_list(view).map(|l| choice_verdict(&l, rule))
}

/// Shape `input-line`: the cursor's line starts with a prompt glyph.
pub fn input_line_shape(view: &ScreenView, rule: &str) -> Option<Verdict> {
    let glyph = screen_shapes::input_line_glyph(view)?;
    Some(Verdict::new(
        Observation::Prompt,
        rule,
        Some(usize::from(view.cursor.0)),
        &format!("the cursor's line starts with {glyph:?}"),
    ))
}

/// Shape `input-box`: the cursor is in a box-drawn input area.
pub fn input_box_shape(view: &ScreenView, rule: &str) -> Option<Verdict> {
    screen_shapes::cursor_in_input_box(view).then(|| {
        Verdict::new(
            Observation::Prompt,
            rule,
            Some(usize::from(view.cursor.0)),
            "the cursor is in a box-drawn input area",
        )
    })
}

/// `Continue? [Y/n]`: Enter takes a yes default; otherwise `y` and Enter (line programs read
/// the answer when Enter comes).
fn yes_no_verdict(question: &YesNo, rule: &str) -> Verdict {
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
        rule,
        Some(question.row),
        &question.question,
    )
}

/// A choice list: Enter when the highlighted option says yes, else the arrows to the first that
/// does.
fn choice_verdict(list: &ChoiceList, rule: &str) -> Verdict {
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
    Verdict::new(Observation::Blocked(dialog), rule, row, &evidence)
}

#[cfg(test)]
#[path = "generic_tests.rs"]
mod tests;
