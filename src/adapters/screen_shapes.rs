//! Shapes most terminal programs share, read off a [`ScreenView`] without knowing the program:
//! an input line at the cursor, an input box drawn around it, a numbered or highlighted choice
//! list (or options side by side on one row), a `(y/n)` question. The generic adapter builds its verdicts from them.

use std::sync::LazyLock;

use regex::Regex;

use super::ScreenView;

/// Glyphs that open an input line (`› Ask anything`, `❯ `, `$ `, `? Name:`), longest first.
const INPUT_GLYPHS: [&str; 8] = [">>>", ">", "›", "❯", "$", "#", "%", "?"];
/// Left borders of a box-drawn input area.
const VERTICAL_BORDERS: [char; 4] = ['│', '┃', '║', '▌'];
/// Marks of the highlighted row of a choice list.
const SELECTED_MARKS: [char; 7] = ['›', '❯', '>', '●', '▶', '→', '➤'];
/// Marks some lists put on the rows that are not highlighted (radio buttons).
const UNSELECTED_MARKS: [char; 2] = ['○', '◯'];
/// Words a question asks leave to go on with.
const QUESTION_WORDS: [&str; 9] = [
    "allow",
    "trust",
    "do you want",
    "approve",
    "proceed",
    "continue",
    "confirm",
    "permission",
    "are you sure",
];
/// How an option that says yes begins (after its number).
const ACCEPTING: [&str; 10] = [
    "yes", "allow", "trust", "approve", "accept", "continue", "proceed", "ok", "confirm", "run",
];
/// Rows a dialog may leave below its choices (a footer, a box's bottom, a status line).
const MAX_ROWS_BELOW_DIALOG: usize = 6;

/// `(y/n)`, `[Y/n]`, `(yes/no)`: the letters' case says which answer is the default.
static YES_NO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[(\[]\s*([Yy](?:[Ee][Ss])?)\s*/\s*([Nn](?:[Oo])?)\s*[)\]]")
        .expect("valid yes/no regex")
});
/// A numbered option: `1. Yes`, `2) No`, after an optional mark.
static NUMBERED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d{1,2})[.)]\s+(\S.*)$").expect("valid option regex"));

/// `row` without indentation and a leading box border (`│ > text` → `> text`).
fn inside_border(row: &str) -> &str {
    let trimmed = row.trim_start();
    match trimmed.strip_prefix(VERTICAL_BORDERS) {
        Some(rest) => rest.trim_start(),
        None => trimmed,
    }
}

/// The glyph an input line starts with, if `text` is one: the glyph alone or followed by a space.
fn leading_glyph(text: &str) -> Option<&'static str> {
    INPUT_GLYPHS.iter().copied().find(|glyph| {
        text.strip_prefix(glyph)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\u{a0}']))
    })
}

/// The glyph the cursor's line starts with, when the cursor sits after it: the program's input
/// line, whether or not text (typed, or a placeholder) follows.
pub fn input_line_glyph(view: &ScreenView) -> Option<&'static str> {
    let before = inside_border(&view.before_cursor);
    let glyph = leading_glyph(before)?;
    // The cursor is right after the glyph or further on (`>` alone at the line's end is output
    // that stopped there, not an input line: a prompt has its space).
    (before.len() > glyph.len()).then_some(glyph)
}

fn is_horizontal_rule(row: &str) -> bool {
    let t = row.trim();
    let rule = t
        .chars()
        .filter(|c| matches!(c, '─' | '━' | '═' | '╌' | '┄' | '▀' | '▄'))
        .count();
    rule >= 8 && rule * 10 >= t.chars().count() * 8
}

fn has_left_border(row: &str) -> bool {
    row.trim_start().starts_with(VERTICAL_BORDERS)
}

/// Whether the cursor sits in a box-drawn input area: a left border on its row and on a
/// neighbour (or a rule above or below), or rules close above and below its row.
pub fn cursor_in_input_box(view: &ScreenView) -> bool {
    let row = usize::from(view.cursor.0);
    let at = |i: usize| view.rows.get(i).map_or("", String::as_str);
    let rule_within =
        |range: std::ops::Range<usize>| range.into_iter().any(|i| is_horizontal_rule(at(i)));
    let above = rule_within(row.saturating_sub(2)..row);
    let below = rule_within(row + 1..row + 3);
    if has_left_border(&view.before_cursor) {
        let bordered_neighbour =
            (row > 0 && has_left_border(at(row - 1))) || has_left_border(at(row + 1));
        return bordered_neighbour || above || below;
    }
    above && below && view.before_cursor.trim().is_empty()
}

/// A `(y/n)` question the cursor waits after on its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YesNo {
    pub row: usize,
    pub question: String,
    /// `Some(true)` for `[Y/n]`, `Some(false)` for `[y/N]`, `None` when neither is capital.
    pub default_yes: Option<bool>,
}

pub fn yes_no_question(view: &ScreenView) -> Option<YesNo> {
    let found = YES_NO.captures_iter(&view.before_cursor).last()?;
    let whole = found.get(0)?;
    let after = &view.before_cursor[whole.end()..];
    if !after
        .chars()
        .all(|c| c.is_whitespace() || matches!(c, '?' | ':'))
    {
        return None;
    }
    let capital = |i: usize| {
        found
            .get(i)
            .and_then(|m| m.as_str().chars().next())
            .is_some_and(char::is_uppercase)
    };
    let default_yes = match (capital(1), capital(2)) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    };
    let row = usize::from(view.cursor.0);
    Some(YesNo {
        row,
        question: view.rows.get(row).map_or("", |r| r.trim()).to_string(),
        default_yes,
    })
}

/// One option of a choice list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOption {
    pub row: usize,
    /// The option's words, without its mark and number.
    pub text: String,
    pub highlighted: bool,
}

/// A list of choices with one highlighted, the question above it if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceList {
    pub question: Option<String>,
    pub options: Vec<ListOption>,
}

impl ChoiceList {
    pub fn highlighted(&self) -> Option<&ListOption> {
        self.options.iter().find(|o| o.highlighted)
    }

    pub fn last_row(&self) -> usize {
        self.options.last().map_or(0, |o| o.row)
    }
}

/// Whether an option's words say yes (`Yes, continue`, `Allow once`, `Trust folder`).
pub fn accepts(text: &str) -> bool {
    let lower = text.to_lowercase();
    ACCEPTING.iter().any(|word| {
        lower
            .strip_prefix(word)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric()))
    })
}

/// `(highlighted, number, words)` of a numbered option row.
fn numbered_option(row: &str) -> Option<(bool, u32, String)> {
    let text = inside_border(row);
    let (highlighted, rest) = match text.chars().next() {
        Some(c) if SELECTED_MARKS.contains(&c) => (true, text[c.len_utf8()..].trim_start()),
        Some(c) if UNSELECTED_MARKS.contains(&c) => (false, text[c.len_utf8()..].trim_start()),
        _ => (false, text),
    };
    let caps = NUMBERED.captures(rest)?;
    let number = caps.get(1)?.as_str().parse().ok()?;
    let words = caps.get(2)?.as_str().trim_end_matches(VERTICAL_BORDERS);
    Some((highlighted, number, words.trim().to_string()))
}

/// The question a list answers: the nearest row above it (within ten) that asks one.
fn question_above(rows: &[String], first: usize) -> Option<(usize, String)> {
    (first.saturating_sub(10)..first)
        .rev()
        .map(|i| {
            (
                i,
                inside_border(&rows[i]).trim_end_matches(VERTICAL_BORDERS),
            )
        })
        .map(|(i, t)| (i, t.trim()))
        .find(|(_, t)| is_question(t))
        .map(|(i, t)| (i, t.to_string()))
}

fn is_question(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("permission required")
        || lower.contains('?') && QUESTION_WORDS.iter().any(|w| lower.contains(w))
}

/// Numbered options on consecutive rows (a wrapped option may take one more row), numbers
/// counting up by one, exactly one highlighted.
fn numbered_list(rows: &[String]) -> Option<ChoiceList> {
    let mut best = None;
    let mut run: Vec<(ListOption, u32)> = Vec::new();
    let mut gap = 0;
    for (i, row) in rows.iter().enumerate() {
        match numbered_option(row) {
            Some((highlighted, number, text))
                if run.last().is_some_and(|(_, n)| number == n + 1) || run.is_empty() =>
            {
                run.push((
                    ListOption {
                        row: i,
                        text,
                        highlighted,
                    },
                    number,
                ));
                gap = 0;
            }
            Some((highlighted, number, text)) => {
                keep_if_list(&mut best, std::mem::take(&mut run));
                run.push((
                    ListOption {
                        row: i,
                        text,
                        highlighted,
                    },
                    number,
                ));
                gap = 0;
            }
            None if !run.is_empty() && gap == 0 && !row.trim().is_empty() => gap += 1,
            None => {
                keep_if_list(&mut best, std::mem::take(&mut run));
                gap = 0;
            }
        }
    }
    keep_if_list(&mut best, run);
    best.map(|options: Vec<ListOption>| {
        let question = question_above(rows, options[0].row).map(|(_, q)| q);
        ChoiceList { question, options }
    })
}

/// Keep `run` as the list found (the lowest one wins) if it has two options or more and
/// exactly one highlighted.
fn keep_if_list(best: &mut Option<Vec<ListOption>>, run: Vec<(ListOption, u32)>) {
    let options: Vec<ListOption> = run.into_iter().map(|(o, _)| o).collect();
    if options.len() >= 2 && options.iter().filter(|o| o.highlighted).count() == 1 {
        *best = Some(options);
    }
}

/// Unnumbered options, the highlighted one led by a mark and the others lined up with its text
/// (`❯ Yes` / `  No`), under a question (within ten rows) or above a key hint (`Enter to
/// confirm · Esc to cancel`). The lowest such list wins.
fn marked_list(rows: &[String]) -> Option<ChoiceList> {
    let mut found = None;
    for (i, row) in rows.iter().enumerate() {
        let Some(mark) = row
            .trim_start()
            .chars()
            .next()
            .filter(|c| SELECTED_MARKS.contains(c))
        else {
            continue;
        };
        // Lists end at a blank row: look for this one from the blank row above it.
        let from = rows[..i]
            .iter()
            .rposition(|r| r.trim().is_empty())
            .map_or(0, |blank| blank + 1);
        let options = super::dialog::choices(rows, mark, from);
        let (Some(first), Some(last)) = (options.first(), options.last()) else {
            continue;
        };
        if options.len() < 2 || options.iter().filter(|o| o.selected).count() != 1 {
            continue;
        }
        let question = question_above(rows, first.row).map(|(_, q)| q);
        let hint_below = rows
            .iter()
            .skip(last.row + 1)
            .take(3)
            .any(|r| is_key_hint(r));
        if question.is_none() && !hint_below {
            continue;
        }
        found = Some(ChoiceList {
            question,
            options: options
                .into_iter()
                .map(|c| ListOption {
                    row: c.row,
                    text: c.text,
                    highlighted: c.selected,
                })
                .collect(),
        });
    }
    found
}

/// Options side by side on one row (`Allow once   Allow always   Reject`), one saying yes and
/// one saying no, under a question or beside a key hint. Which one is highlighted is drawn in
/// colour only, so none is marked.
fn inline_list(rows: &[String]) -> Option<ChoiceList> {
    let mut found = None;
    for (i, row) in rows.iter().enumerate() {
        let text = inside_border(row);
        let cells: Vec<&str> = text
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let options: Vec<&str> = cells
            .iter()
            .copied()
            .take_while(|c| c.chars().count() <= 24 && (accepts(c) || declines(c)))
            .collect();
        if options.len() < 2 || !options.iter().any(|c| accepts(c)) {
            continue;
        }
        if !options.iter().any(|c| declines(c)) {
            continue;
        }
        let question = question_above(rows, i);
        let hint = is_key_hint(text) || rows.get(i + 1).is_some_and(|r| is_key_hint(r));
        if question.is_none() && !hint {
            continue;
        }
        found = Some(ChoiceList {
            question: question.map(|(_, q)| q),
            options: options
                .into_iter()
                .map(|c| ListOption {
                    row: i,
                    text: c.to_string(),
                    highlighted: false,
                })
                .collect(),
        });
    }
    found
}

/// Whether an option's words say no (`Reject`, `Deny`, `No, exit`, `Don't trust`).
pub fn declines(text: &str) -> bool {
    let lower = text.to_lowercase();
    [
        "reject", "deny", "no", "cancel", "decline", "don't", "do not", "skip",
    ]
    .iter()
    .any(|word| {
        lower
            .strip_prefix(word)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric()))
    })
}

/// `Enter to confirm · Esc to cancel`, `Press enter to continue`, `↑↓ to select`.
fn is_key_hint(row: &str) -> bool {
    let lower = row.to_lowercase();
    (lower.contains("enter") || lower.contains("esc") || lower.contains("↑"))
        && ["confirm", "cancel", "continue", "select", "choose"]
            .iter()
            .any(|w| lower.contains(w))
}

/// The choice list the program waits on: at the bottom of what it drew (at most a few rows of
/// footer below), and not above a prompt the cursor sits at (a list printed earlier).
pub fn choice_list(view: &ScreenView) -> Option<ChoiceList> {
    let list = numbered_list(&view.rows)
        .or_else(|| marked_list(&view.rows))
        .or_else(|| inline_list(&view.rows))?;
    let last_content = view.rows.iter().rposition(|r| !r.trim().is_empty())?;
    if last_content > list.last_row() + MAX_ROWS_BELOW_DIALOG {
        return None;
    }
    let cursor_row = usize::from(view.cursor.0);
    let at_a_prompt_below = cursor_row > list.last_row()
        && (input_line_glyph(view).is_some()
            || super::generic::prompt_marker_before_cursor(view).is_some());
    (!at_a_prompt_below).then_some(list)
}

#[cfg(test)]
#[path = "screen_shapes_tests.rs"]
mod tests;
