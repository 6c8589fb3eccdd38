//! Running a [`RuleSet`] on a screen: the rules in order, the first that matches decides the
//! verdict, named after it.

use std::borrow::Cow;

use super::compile::{CondRef, Condition, DialogRule, Locator, Rule, RuleSet, Within};
use super::format::{Frame, Means, OptionsFrom, Scan, Shape};
use crate::adapters::dialog::{choices, selection_dialog};
use crate::adapters::{Dialog, Observation, Retry, ScreenView, Verdict, generic};

/// What a rule's locator found: the row it looks at and the text that matched.
struct Found<'v> {
    row: Option<usize>,
    matched: &'v str,
}

impl RuleSet {
    /// The verdict of the first rule that matches `view`.
    pub fn classify(&self, view: &ScreenView) -> Verdict {
        self.rules
            .iter()
            .find_map(|rule| self.try_rule(rule, view))
            .unwrap_or_else(|| {
                Verdict::new(
                    Observation::Unknown,
                    &format!("{}.no-rule", self.agent),
                    Some(usize::from(view.cursor.0)),
                    "no rule matched",
                )
            })
    }

    fn try_rule(&self, rule: &Rule, view: &ScreenView) -> Option<Verdict> {
        if let Locator::Shape(shape) = rule.locator {
            let verdict = shape_verdict(shape, view, &rule.full_name)?;
            return Some(if rule.tentative {
                verdict.tentative()
            } else {
                verdict
            });
        }
        let found = locate(&rule.locator, view)?;
        let holds = |refs: &[CondRef]| refs.iter().all(|r| self.holds(r, view, found.row));
        let none_holds = |refs: &[CondRef]| !refs.iter().any(|r| self.holds(r, view, found.row));
        if !holds(&rule.when) || !none_holds(&rule.unless) {
            return None;
        }
        let mut evidence = evidence(rule, view, &found, None);
        let mut row = found.row;
        let observation = match rule.means {
            Means::Prompt => Observation::Prompt,
            Means::Busy => Observation::Busy,
            Means::Unknown => Observation::Unknown,
            Means::Blocked => {
                let (dialog, framed) = self.dialog(rule, view, found.row)?;
                if let Some(framed) = framed {
                    evidence = self::evidence(rule, view, &found, Some(&framed));
                }
                Observation::Blocked(dialog)
            }
        };
        let mut retry = None;
        if let Some(spec) = &rule.retry {
            let (at, text) = match &spec.line {
                Some(line) => view.rows_bottom_up().find(|(_, r)| line.is_match(r))?,
                None => {
                    let at = found.row?;
                    (at, view.rows.get(at)?.as_str())
                }
            };
            let caps = spec.attempt.captures(text)?;
            retry = Some(Retry {
                attempt: caps.name("attempt")?.as_str().parse().ok()?,
                max: caps.name("max").and_then(|m| m.as_str().parse().ok()),
            });
            if spec.line.is_some() {
                row = Some(at);
                evidence = text.trim().to_string();
            }
        }
        let mut verdict = Verdict::new(
            observation,
            &rule.full_name,
            row.filter(|_| rule.report_row),
            &evidence,
        );
        if let Some(retry) = retry {
            verdict = verdict.retrying(retry);
        }
        if rule.settled_if.as_deref().is_some_and(holds) {
            verdict = verdict.settled();
        }
        let weak = rule.tentative_unless.as_deref().is_some_and(|r| !holds(r));
        if rule.tentative || weak {
            verdict = verdict.tentative();
        }
        Some(verdict)
    }

    fn holds(&self, reference: &CondRef, view: &ScreenView, at: Option<usize>) -> bool {
        // Names were checked when the rules were compiled; a missing one never holds.
        let value = self
            .conditions
            .get(&reference.name)
            .is_some_and(|c| condition_holds(c, view, at));
        value != reference.negated
    }

    /// The dialog a blocked rule reports, and the unframed rows when it read a framed one.
    fn dialog(
        &self,
        rule: &Rule,
        view: &ScreenView,
        at: Option<usize>,
    ) -> Option<(Dialog, Option<Vec<String>>)> {
        match rule.dialog.as_ref()? {
            DialogRule::Fixed {
                reason,
                keys,
                enter_is_safe_if,
            } => Some((
                Dialog {
                    reason: reason.clone(),
                    accept_keys: keys.clone(),
                    enter_is_safe: enter_is_safe_if.iter().all(|r| self.holds(r, view, at)),
                },
                None,
            )),
            DialogRule::Options {
                reason,
                marker,
                from,
                accept,
                frame,
                require_option,
            } => {
                let rows: Cow<'_, [String]> = match frame {
                    Frame::None => Cow::Borrowed(&view.rows),
                    Frame::Box => Cow::Owned(view.rows.iter().map(|r| unboxed(r)).collect()),
                    Frame::Edge => Cow::Owned(view.rows.iter().map(|r| unframed(r)).collect()),
                };
                let start = match from {
                    OptionsFrom::Match => at.unwrap_or(0),
                    OptionsFrom::Top => 0,
                };
                let options = choices(&rows, *marker, start);
                if let Some(required) = require_option
                    && !options.iter().any(|c| required.is_match(&c.text))
                {
                    return None;
                }
                let dialog = selection_dialog(reason, &options, |t| {
                    accept.as_ref().is_some_and(|a| a.is_match(t))
                });
                let framed = (*frame != Frame::None).then(|| rows.into_owned());
                Some((dialog, framed))
            }
        }
    }
}

/// The row (or title, or cursor) a rule looks at, if its pattern matches.
fn locate<'v>(locator: &Locator, view: &'v ScreenView) -> Option<Found<'v>> {
    let cursor_row = usize::from(view.cursor.0);
    match locator {
        Locator::Row {
            pattern,
            scan,
            within,
        } => {
            let len = view.rows.len();
            let rows = match within {
                Within::All => 0..len,
                Within::BelowCursor => (cursor_row + 1).min(len)..len,
                Within::LastTextAbove { anchor, skip } => {
                    let (anchor_row, _) =
                        view.rows_bottom_up().find(|(_, r)| anchor.is_match(r))?;
                    let last = view.rows[..anchor_row].iter().rposition(|r| {
                        !r.trim().is_empty() && !skip.as_ref().is_some_and(|s| s.is_match(r))
                    })?;
                    last..last + 1
                }
            };
            let at_row = |i: usize| {
                let m = pattern.find(&view.rows[i])?;
                Some(Found {
                    row: Some(i),
                    matched: m.as_str(),
                })
            };
            match scan {
                Scan::TopDown => rows.into_iter().find_map(at_row),
                Scan::BottomUp => rows.rev().find_map(at_row),
            }
        }
        Locator::Title(pattern) => pattern.find(&view.title).map(|m| Found {
            row: None,
            matched: m.as_str(),
        }),
        Locator::BeforeCursor(pattern) => pattern.find(&view.before_cursor).map(|m| Found {
            row: Some(cursor_row),
            matched: m.as_str(),
        }),
        Locator::AtCursor => Some(Found {
            row: Some(cursor_row),
            matched: "",
        }),
        Locator::Shape(_) => None,
    }
}

fn condition_holds(condition: &Condition, view: &ScreenView, at: Option<usize>) -> bool {
    let any_row = |rows: &[String], re: &regex::Regex| rows.iter().any(|r| re.is_match(r));
    if let Some(re) = &condition.rows
        && !any_row(&view.rows, re)
    {
        return false;
    }
    if let Some(re) = &condition.screen
        && !re.is_match(&view.rows.join("\n"))
    {
        return false;
    }
    if let Some(re) = &condition.title
        && !re.is_match(&view.title)
    {
        return false;
    }
    if let Some(re) = &condition.before_cursor
        && !re.is_match(&view.before_cursor)
    {
        return false;
    }
    if let Some(re) = &condition.from_match
        && !at.is_some_and(|i| any_row(view.rows.get(i..).unwrap_or(&[]), re))
    {
        return false;
    }
    if let Some(re) = &condition.after_match
        && !at.is_some_and(|i| any_row(view.rows.get(i + 1..).unwrap_or(&[]), re))
    {
        return false;
    }
    if let Some(wanted) = condition.on_cursor_row
        && at.is_some_and(|i| i == usize::from(view.cursor.0)) != wanted
    {
        return false;
    }
    true
}

/// The verdict's evidence: the rule's template filled in, else the matched row (from the
/// unframed rows of a framed dialog), else the title.
fn evidence(
    rule: &Rule,
    view: &ScreenView,
    found: &Found<'_>,
    framed: Option<&[String]>,
) -> String {
    let rows = framed.unwrap_or(&view.rows);
    let row_text = found.row.and_then(|i| rows.get(i)).map_or("", |r| r.trim());
    match &rule.evidence {
        Some(template) => fill(template, |name| match name {
            "row" => row_text,
            "match" => found.matched.trim(),
            "before_cursor" => view.before_cursor.trim_end(),
            "title" => view.title.trim(),
            _ => "",
        }),
        None if matches!(rule.locator, Locator::Title(_)) => view.title.trim().to_string(),
        None => row_text.to_string(),
    }
}

/// `template` with each `{name}` replaced by `value(name)`, in one pass (screen text that
/// itself holds `{row}` stays as it is).
fn fill<'a>(template: &str, value: impl Fn(&str) -> &'a str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.push_str(value(&after[..close]));
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn shape_verdict(shape: Shape, view: &ScreenView, rule: &str) -> Option<Verdict> {
    match shape {
        Shape::YesNo => generic::yes_no_shape(view, rule),
        Shape::ChoiceList => generic::choice_list_shape(view, rule),
        Shape::InputLine => generic::input_line_shape(view, rule),
        Shape::InputBox => generic::input_box_shape(view, rule),
    }
}

/// A row with the box drawn around a dialog taken off (`│ ● 1. Allow once │`).
fn unboxed(row: &str) -> String {
    row.trim()
        .trim_start_matches('│')
        .trim_end_matches('│')
        .trim_end()
        .to_string()
}

/// A row of a dialog framed at the screen's edge without its frame (`│ ❯ 1. Yes   │` →
/// ` ❯ 1. Yes`), so its option rows line up as the selection reader expects.
fn unframed(row: &str) -> String {
    let t = row.trim_end();
    let t = t.strip_prefix('│').unwrap_or(t);
    t.strip_suffix('│').unwrap_or(t).trim_end().to_string()
}
