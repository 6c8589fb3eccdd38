//! From a parsed rule file to the rules classification runs on: patterns compiled, every
//! setting checked, and a user's override merged into the built-in rules by name. Every error
//! names the file, the line and the rule, and says what to fix.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

use super::format::{
    self, ConditionSpec, DialogSpec, ExitTextSpec, Frame, KbCount, KeystrokeSpec, Means,
    OptionsFrom, Pattern, RecordsSpec, RetrySpec, RuleFile, RuleSpec, Scan, Shape, SubmitDelaySpec,
};
use super::{Origin, RulesError};
use crate::adapters::Keystroke;

/// A compiled condition: every part given must hold.
#[derive(Debug, Clone, Default)]
pub struct Condition {
    pub rows: Option<Regex>,
    pub screen: Option<Regex>,
    pub title: Option<Regex>,
    pub before_cursor: Option<Regex>,
    pub from_match: Option<Regex>,
    pub after_match: Option<Regex>,
    pub on_cursor_row: Option<bool>,
}

/// A reference to a named condition, `!name` negated.
#[derive(Debug, Clone)]
pub struct CondRef {
    pub name: String,
    pub negated: bool,
}

/// What a rule looks at.
#[derive(Debug, Clone)]
pub enum Locator {
    Row {
        pattern: Regex,
        scan: Scan,
        within: Within,
    },
    Title(Regex),
    BeforeCursor(Regex),
    Shape(Shape),
    AtCursor,
}

#[derive(Debug, Clone)]
pub enum Within {
    All,
    BelowCursor,
    LastTextAbove { anchor: Regex, skip: Option<Regex> },
}

#[derive(Debug, Clone)]
pub enum DialogRule {
    /// Fixed keys accept it; Enter is safe when the conditions hold.
    Fixed {
        reason: String,
        keys: Vec<String>,
        enter_is_safe_if: Vec<CondRef>,
    },
    /// Read the options and find the accepting one.
    Options {
        reason: String,
        marker: char,
        from: OptionsFrom,
        accept: Option<Regex>,
        frame: Frame,
        require_option: Option<Regex>,
    },
}

#[derive(Debug, Clone)]
pub struct RetryRule {
    pub attempt: Regex,
    pub line: Option<Regex>,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The name in its file (`input-line`).
    pub name: String,
    /// The name verdicts carry (`codex.input-line`).
    pub full_name: String,
    /// The file it came from and its line there.
    pub origin: Origin,
    pub line: usize,
    pub means: Means,
    pub locator: Locator,
    pub when: Vec<CondRef>,
    pub unless: Vec<CondRef>,
    pub settled_if: Option<Vec<CondRef>>,
    pub tentative_unless: Option<Vec<CondRef>>,
    pub dialog: Option<DialogRule>,
    pub retry: Option<RetryRule>,
    pub tentative: bool,
    pub report_row: bool,
    pub evidence: Option<String>,
}

impl Rule {
    /// Matches every screen: nothing after it is ever tried.
    fn always_matches(&self) -> bool {
        matches!(self.locator, Locator::AtCursor) && self.when.is_empty() && self.unless.is_empty()
    }

    fn references(&self) -> impl Iterator<Item = &CondRef> {
        let fixed = match &self.dialog {
            Some(DialogRule::Fixed {
                enter_is_safe_if, ..
            }) => enter_is_safe_if.as_slice(),
            _ => &[],
        };
        self.when
            .iter()
            .chain(&self.unless)
            .chain(self.settled_if.iter().flatten())
            .chain(self.tentative_unless.iter().flatten())
            .chain(fixed)
    }
}

/// How long to wait between writing a message and pressing Enter.
#[derive(Debug, Clone)]
pub struct SubmitDelay {
    pub base_ms: u64,
    pub per_kb_ms: u64,
    pub count: KbCount,
    /// The pause after a bracketed paste, when it differs (Claude Code takes Enter at once).
    pub after_paste_ms: Option<u64>,
    /// After a bracketed paste, Enter goes once the pasted text shows at the cursor (the pause
    /// is then the longest wait): `None` waits out the pause.
    pub until_shown: Option<PasteShown>,
}

/// How the agent shows a paste it has taken: the text at the cursor ends with the message, or
/// with the agent's stand-in for a long paste.
#[derive(Debug, Clone, Default)]
pub struct PasteShown {
    pub placeholder: Option<Regex>,
}

impl SubmitDelay {
    pub fn for_bytes(&self, bytes: usize, bracketed_paste: bool) -> Duration {
        if bracketed_paste && let Some(ms) = self.after_paste_ms {
            return Duration::from_millis(ms);
        }
        let kb = match self.count {
            KbCount::Started => (bytes as u64).div_ceil(1024),
            KbCount::Whole => bytes as u64 / 1024,
        };
        Duration::from_millis(self.base_ms + self.per_kb_ms * kb)
    }
}

/// How long a turn the screen saw end waits for the agent's record of its end, where the rule
/// file does not say (`[records] lag_ms`).
pub const DEFAULT_RECORD_LAG: Duration = Duration::from_secs(3);

/// The record lags a rule file may set, in ms. Shorter and a turn is called over on the
/// screen's word before any agent has written its end (a failed turn would read as completed);
/// longer and `wait` sits for half a minute on a record that is not coming.
pub const RECORD_LAG_MS: RangeInclusive<u64> = 200..=30_000;

/// One agent's screen rules, ready to classify with.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// The adapter key (`codex`).
    pub agent: String,
    /// The built-in file (`codex.toml`).
    pub builtin_file: &'static str,
    /// The user's override merged in, if any.
    pub override_path: Option<PathBuf>,
    pub tested_versions: Vec<String>,
    pub tui: bool,
    pub quiet_window: Option<Duration>,
    pub submit_delay: SubmitDelay,
    pub interrupt_keys: Vec<String>,
    pub exit: Vec<Keystroke>,
    pub exit_text: ExitText,
    /// How long a turn the screen saw end waits for the agent's record of its end.
    pub record_lag: Duration,
    pub conditions: BTreeMap<String, Condition>,
    pub rules: Vec<Rule>,
}

/// What the agent prints at exit, compiled.
#[derive(Debug, Clone, Default)]
pub struct ExitText {
    pub session_id: Option<Regex>,
    /// (failure, success)
    pub gave_up: Option<(Regex, Regex)>,
}

/// Parse a rule file's text.
pub fn parse(text: &str, origin: &Origin) -> Result<RuleFile, RulesError> {
    toml::from_str(text).map_err(|e| RulesError {
        file: origin.to_string(),
        line: e.span().map(|s| line_of(text, s.start)),
        rule: e.span().and_then(|s| rule_around(text, s.start)),
        message: e.message().trim().to_string(),
    })
}

/// The name of the `[[rule]]` table the byte `offset` falls in, read from its `name = "…"`
/// line (the parse failed, so this is all there is to go by).
fn rule_around(text: &str, offset: usize) -> Option<String> {
    let head = text.get(..offset.min(text.len()))?;
    let start = head.rfind("[[rule]]")?;
    // Another table header between the rule's and the offset: not in the rule.
    if head[start + 8..]
        .lines()
        .any(|l| l.trim_start().starts_with('['))
    {
        return None;
    }
    let body = &text[start + 8..];
    let end = body.find("\n[").map_or(body.len(), |i| i + 1);
    body[..end].lines().find_map(|line| {
        let value = line
            .trim()
            .strip_prefix("name")?
            .trim_start()
            .strip_prefix('=')?;
        let value = value.trim();
        let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let rest = &value[1..];
        rest.find(quote).map(|close| rest[..close].to_string())
    })
}

/// One-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Compiles the patterns of one file, reporting errors against it.
struct Compiler<'a> {
    text: &'a str,
    origin: &'a Origin,
    rule: Option<String>,
}

impl Compiler<'_> {
    fn error(&self, offset: usize, message: impl Into<String>) -> RulesError {
        RulesError {
            file: self.origin.to_string(),
            line: Some(line_of(self.text, offset)),
            rule: self.rule.clone(),
            message: message.into(),
        }
    }

    fn regex(&self, key: &str, pattern: &Pattern) -> Result<Regex, RulesError> {
        regex::RegexBuilder::new(pattern.get_ref())
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                let detail = e.to_string();
                let last = detail.lines().last().unwrap_or("").trim().to_string();
                self.error(
                    pattern.span().start,
                    format!("`{key}` is not a valid regular expression ({last}); fix the pattern"),
                )
            })
    }

    fn opt_regex(&self, key: &str, pattern: &Option<Pattern>) -> Result<Option<Regex>, RulesError> {
        pattern.as_ref().map(|p| self.regex(key, p)).transpose()
    }

    fn submit_delay(&self, spec: &SubmitDelaySpec) -> Result<SubmitDelay, RulesError> {
        let placeholder = self.opt_regex("paste_placeholder", &spec.paste_placeholder)?;
        if let (Some(pattern), false) = (&spec.paste_placeholder, spec.until_shown) {
            return Err(self.error(
                pattern.span().start,
                "`paste_placeholder` is read only with `until_shown = true`: set it, or remove the placeholder",
            ));
        }
        Ok(SubmitDelay {
            base_ms: spec.base_ms,
            per_kb_ms: spec.per_kb_ms,
            count: spec.count,
            after_paste_ms: spec.after_paste_ms,
            until_shown: spec.until_shown.then_some(PasteShown { placeholder }),
        })
    }

    fn exit_text(&self, spec: &ExitTextSpec) -> Result<ExitText, RulesError> {
        let session_id = self.opt_regex("session_id", &spec.session_id)?;
        if let (Some(re), Some(pattern)) = (&session_id, &spec.session_id)
            && !re.capture_names().any(|n| n == Some("id"))
        {
            return Err(self.error(
                pattern.span().start,
                "`session_id` needs a named group `(?P<id>...)` around the id",
            ));
        }
        let gave_up = match &spec.gave_up {
            Some(g) => Some((
                self.regex("failure", &g.failure)?,
                self.regex("success", &g.success)?,
            )),
            None => None,
        };
        Ok(ExitText {
            session_id,
            gave_up,
        })
    }

    fn record_lag(&self, spec: &RecordsSpec) -> Result<Duration, RulesError> {
        let ms = *spec.lag_ms.get_ref();
        let Some(ms) = u64::try_from(ms)
            .ok()
            .filter(|ms| RECORD_LAG_MS.contains(ms))
        else {
            return Err(self.error(
                spec.lag_ms.span().start,
                format!(
                    "`lag_ms = {ms}` is out of range: give {} to {} (how many ms a turn the \
                     screen saw end waits for the agent's record of it)",
                    RECORD_LAG_MS.start(),
                    RECORD_LAG_MS.end()
                ),
            ));
        };
        Ok(Duration::from_millis(ms))
    }

    fn condition(&self, spec: &ConditionSpec, at: usize) -> Result<Condition, RulesError> {
        let condition = Condition {
            rows: self.opt_regex("rows", &spec.rows)?,
            screen: self.opt_regex("screen", &spec.screen)?,
            title: self.opt_regex("title", &spec.title)?,
            before_cursor: self.opt_regex("before_cursor", &spec.before_cursor)?,
            from_match: self.opt_regex("from_match", &spec.from_match)?,
            after_match: self.opt_regex("after_match", &spec.after_match)?,
            on_cursor_row: spec.on_cursor_row,
        };
        let empty = [
            spec.rows.is_none(),
            spec.screen.is_none(),
            spec.title.is_none(),
            spec.before_cursor.is_none(),
            spec.from_match.is_none(),
            spec.after_match.is_none(),
            spec.on_cursor_row.is_none(),
        ]
        .iter()
        .all(|none| *none);
        if empty {
            return Err(self.error(
                at,
                "the condition tests nothing: give it `rows`, `screen`, `title`, `before_cursor`, \
                 `from_match`, `after_match` or `on_cursor_row`",
            ));
        }
        Ok(condition)
    }

    fn cond_refs(&self, names: &[String], at: usize) -> Result<Vec<CondRef>, RulesError> {
        names
            .iter()
            .map(|n| {
                let (negated, name) = match n.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, n.trim()),
                };
                if !valid_name(name) {
                    return Err(self.error(at, format!("{n:?} is not a condition name")));
                }
                Ok(CondRef {
                    name: name.to_string(),
                    negated,
                })
            })
            .collect()
    }

    fn rule(&mut self, agent: &str, spec: &RuleSpec, at: usize) -> Result<Rule, RulesError> {
        if !valid_name(&spec.name) {
            self.rule = None;
            return Err(self.error(
                at,
                format!(
                    "rule name {:?} must be lowercase letters, digits and dashes",
                    spec.name
                ),
            ));
        }
        self.rule = Some(spec.name.clone());
        let means = spec.means.ok_or_else(|| {
            self.error(
                at,
                "the rule needs `means` (prompt, busy, blocked or unknown)",
            )
        })?;
        let locator = self.locator(spec, at)?;
        let dialog = self.dialog(spec, means, &locator, at)?;
        let retry = self.retry(spec.retry.as_ref(), means, &locator, at)?;
        if spec.settled_if.is_some() && means != Means::Prompt {
            return Err(self.error(at, "`settled_if` is for `means = \"prompt\"` rules only"));
        }
        if spec.tentative_unless.is_some() && means != Means::Prompt {
            return Err(self.error(
                at,
                "`tentative_unless` is for `means = \"prompt\"` rules only",
            ));
        }
        if let Some(template) = &spec.evidence {
            check_template(template).map_err(|m| self.error(at, m))?;
        }
        Ok(Rule {
            name: spec.name.clone(),
            full_name: format!("{agent}.{}", spec.name),
            origin: self.origin.clone(),
            line: line_of(self.text, at),
            means,
            locator,
            when: self.cond_refs(&spec.when, at)?,
            unless: self.cond_refs(&spec.unless, at)?,
            settled_if: spec
                .settled_if
                .as_ref()
                .map(|n| self.cond_refs(n, at))
                .transpose()?,
            tentative_unless: spec
                .tentative_unless
                .as_ref()
                .map(|n| self.cond_refs(n, at))
                .transpose()?,
            dialog,
            retry,
            tentative: spec.tentative,
            report_row: spec.report_row,
            evidence: spec.evidence.clone(),
        })
    }

    fn locator(&self, spec: &RuleSpec, at: usize) -> Result<Locator, RulesError> {
        let given = [
            spec.row.is_some(),
            spec.title.is_some(),
            spec.before_cursor.is_some(),
            spec.shape.is_some(),
            spec.at_cursor,
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given != 1 {
            return Err(self.error(
                at,
                "give the rule exactly one of `row`, `title`, `before_cursor`, `shape` or \
                 `at_cursor = true` (what it looks at)",
            ));
        }
        if spec.row.is_none() && (spec.scan.is_some() || spec.within.is_some()) {
            return Err(self.error(at, "`scan` and `within` go with `row` only"));
        }
        let last_text = spec.within == Some(format::Within::LastTextAbove);
        if last_text != spec.anchor.is_some() || (!last_text && spec.skip.is_some()) {
            return Err(self.error(
                at,
                "`within = \"last-text-above\"` needs `anchor` (and may have `skip`); they go \
                 together only",
            ));
        }
        Ok(if let Some(row) = &spec.row {
            let within = match (spec.within.unwrap_or_default(), &spec.anchor) {
                (format::Within::BelowCursor, _) => Within::BelowCursor,
                (format::Within::LastTextAbove, Some(anchor)) => Within::LastTextAbove {
                    anchor: self.regex("anchor", anchor)?,
                    skip: self.opt_regex("skip", &spec.skip)?,
                },
                _ => Within::All,
            };
            Locator::Row {
                pattern: self.regex("row", row)?,
                scan: spec.scan.unwrap_or_default(),
                within,
            }
        } else if let Some(title) = &spec.title {
            Locator::Title(self.regex("title", title)?)
        } else if let Some(before) = &spec.before_cursor {
            Locator::BeforeCursor(self.regex("before_cursor", before)?)
        } else if let Some(shape) = spec.shape {
            Locator::Shape(shape)
        } else {
            Locator::AtCursor
        })
    }

    fn dialog(
        &self,
        spec: &RuleSpec,
        means: Means,
        locator: &Locator,
        at: usize,
    ) -> Result<Option<DialogRule>, RulesError> {
        let shaped = matches!(
            locator,
            Locator::Shape(Shape::YesNo) | Locator::Shape(Shape::ChoiceList)
        );
        if shaped != (means == Means::Blocked) && matches!(locator, Locator::Shape(_)) {
            return Err(self.error(
                at,
                "shapes `yes-no` and `choice-list` mean \"blocked\"; `input-line` and \
                 `input-box` do not",
            ));
        }
        let Some(dialog) = &spec.dialog else {
            if means == Means::Blocked && !shaped {
                return Err(self.error(
                    at,
                    "a `means = \"blocked\"` rule needs a `dialog` (its reason and how to \
                     accept it)",
                ));
            }
            return Ok(None);
        };
        if means != Means::Blocked || shaped {
            return Err(self.error(
                at,
                "`dialog` is for `means = \"blocked\"` rules that are not shapes",
            ));
        }
        self.dialog_rule(dialog, at).map(Some)
    }

    fn dialog_rule(&self, spec: &DialogSpec, at: usize) -> Result<DialogRule, RulesError> {
        if spec.reason.trim().is_empty() {
            return Err(self.error(at, "the dialog needs a `reason` (e.g. \"permission\")"));
        }
        if let Some(keys) = &spec.keys {
            if spec.marker.is_some()
                || spec.accept.is_some()
                || spec.require_option.is_some()
                || spec.frame != Frame::None
                || spec.from != OptionsFrom::Match
            {
                return Err(self.error(
                    at,
                    "a dialog has either fixed `keys` or a `marker` to read its options, not both",
                ));
            }
            check_keys(keys).map_err(|m| self.error(at, m))?;
            return Ok(DialogRule::Fixed {
                reason: spec.reason.clone(),
                keys: keys.clone(),
                enter_is_safe_if: self
                    .cond_refs(spec.enter_is_safe_if.as_deref().unwrap_or(&[]), at)?,
            });
        }
        if spec.enter_is_safe_if.is_some() {
            return Err(self.error(at, "`enter_is_safe_if` goes with fixed `keys` only"));
        }
        let marker = spec.marker.as_deref().unwrap_or("");
        let mut chars = marker.chars();
        let (Some(marker), None) = (chars.next(), chars.next()) else {
            return Err(self.error(
                at,
                "the dialog needs `keys = [...]` or a one-character `marker` (the mark on the \
                 highlighted option)",
            ));
        };
        Ok(DialogRule::Options {
            reason: spec.reason.clone(),
            marker,
            from: spec.from,
            accept: self.opt_regex("accept", &spec.accept)?,
            frame: spec.frame,
            require_option: self.opt_regex("require_option", &spec.require_option)?,
        })
    }

    fn retry(
        &self,
        spec: Option<&RetrySpec>,
        means: Means,
        locator: &Locator,
        at: usize,
    ) -> Result<Option<RetryRule>, RulesError> {
        let Some(spec) = spec else { return Ok(None) };
        if means != Means::Busy {
            return Err(self.error(at, "`retry` is for `means = \"busy\"` rules only"));
        }
        if spec.line.is_none() && !matches!(locator, Locator::Row { .. }) {
            return Err(self.error(
                at,
                "`retry` without `line` reads the matched row: give the rule a `row` pattern",
            ));
        }
        let attempt = self.regex("attempt", &spec.attempt)?;
        if !attempt.capture_names().any(|n| n == Some("attempt")) {
            return Err(self.error(
                spec.attempt.span().start,
                "`attempt` needs a named group `(?P<attempt>\\d+)` (and optionally `max`)",
            ));
        }
        Ok(Some(RetryRule {
            attempt,
            line: self.opt_regex("line", &spec.line)?,
        }))
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("`evidence` has a `{` without `}`")?;
        let name = &after[..close];
        if !["row", "match", "before_cursor", "title"].contains(&name) {
            return Err(format!(
                "`evidence` names {{{name}}}; use {{row}}, {{match}}, {{before_cursor}} or {{title}}"
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

fn check_keys(keys: &[String]) -> Result<(), String> {
    if keys.is_empty() {
        return Err("`keys` is empty: name at least one key".into());
    }
    for key in keys {
        crate::keys::key_bytes(key, false)?;
    }
    Ok(())
}

fn keystrokes(specs: &[KeystrokeSpec]) -> Result<Vec<Keystroke>, String> {
    specs
        .iter()
        .map(|s| {
            let bytes = match (&s.text, &s.keys) {
                (Some(text), None) => text.as_bytes().to_vec(),
                (None, Some(keys)) => {
                    check_keys(keys)?;
                    let mut bytes = Vec::new();
                    for key in keys {
                        bytes.extend(crate::keys::key_bytes(key, false)?);
                    }
                    bytes
                }
                _ => return Err("each `exit` write has `text` or `keys` (one of them)".into()),
            };
            Ok(Keystroke {
                delay: Duration::from_millis(s.after_ms),
                bytes,
            })
        })
        .collect()
}

/// The settings and rules of one file, compiled.
struct Compiled {
    conditions: BTreeMap<String, Condition>,
    rules: Vec<(Rule, Option<String>)>,
    disabled: Vec<(String, usize)>,
    exit: Option<Vec<Keystroke>>,
    exit_text: Option<ExitText>,
    submit_delay: Option<SubmitDelay>,
    record_lag: Option<Duration>,
}

fn compile_file(
    agent: &str,
    file: &RuleFile,
    text: &str,
    origin: &Origin,
) -> Result<Compiled, RulesError> {
    let mut compiler = Compiler {
        text,
        origin,
        rule: None,
    };
    let mut conditions = BTreeMap::new();
    for (name, spec) in &file.conditions {
        let at = spec.span().start;
        if !valid_name(name) {
            return Err(compiler.error(
                at,
                format!("condition name {name:?} must be lowercase letters, digits and dashes"),
            ));
        }
        conditions.insert(name.clone(), compiler.condition(spec.get_ref(), at)?);
    }
    let mut rules = Vec::new();
    let mut disabled = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for spec in &file.rule {
        let at = spec.span().start;
        let rule = spec.get_ref();
        if !seen.insert(rule.name.clone()) {
            compiler.rule = Some(rule.name.clone());
            return Err(compiler.error(at, "a second rule with this name: rename one"));
        }
        if !rule.enabled {
            disabled.push((rule.name.clone(), line_of(text, at)));
            continue;
        }
        let compiled = compiler.rule(agent, rule, at)?;
        rules.push((compiled, rule.before.clone()));
    }
    compiler.rule = None;
    let exit = file
        .exit
        .as_deref()
        .map(keystrokes)
        .transpose()
        .map_err(|m| compiler.error(text.find("[[exit]]").unwrap_or(0), m))?;
    if let Some(keys) = &file.interrupt_keys {
        check_keys(keys).map_err(|m| {
            compiler.error(
                text.find("interrupt_keys").unwrap_or(0),
                format!("`interrupt_keys`: {m}"),
            )
        })?;
    }
    let exit_text = file
        .exit_text
        .as_ref()
        .map(|spec| compiler.exit_text(spec))
        .transpose()?;
    let submit_delay = file
        .submit_delay
        .as_ref()
        .map(|spec| compiler.submit_delay(spec))
        .transpose()?;
    let record_lag = file
        .records
        .as_ref()
        .map(|spec| compiler.record_lag(spec))
        .transpose()?;
    Ok(Compiled {
        conditions,
        rules,
        disabled,
        exit,
        exit_text,
        submit_delay,
        record_lag,
    })
}

impl ExitText {
    /// The agent's session id in `plain_tail`: the last match's `id`.
    pub fn session_id(&self, plain_tail: &str) -> Option<String> {
        let re = self.session_id.as_ref()?;
        re.captures_iter(plain_tail)
            .last()
            .and_then(|c| c.name("id").map(|m| m.as_str().to_string()))
    }

    /// Whether the last failure marker in `plain_tail` comes after the last success marker.
    pub fn gave_up(&self, plain_tail: &str) -> bool {
        let Some((failure, success)) = &self.gave_up else {
            return false;
        };
        let last = |re: &Regex| re.find_iter(plain_tail).last().map(|m| m.start());
        match (last(failure), last(success)) {
            (Some(failure), Some(success)) => failure > success,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

impl RuleSet {
    /// A built-in rule file: every setting must be given, and nothing is an override.
    pub fn builtin(
        agent: &str,
        file_name: &'static str,
        text: &str,
    ) -> Result<RuleSet, RulesError> {
        let origin = Origin::BuiltIn(file_name);
        let file = parse(text, &origin)?;
        let compiled = compile_file(agent, &file, text, &origin)?;
        let missing = |what: &str| RulesError {
            file: origin.to_string(),
            line: None,
            rule: None,
            message: format!("a built-in rule file must set `{what}`"),
        };
        if let Some((rule, line)) = compiled.disabled.first() {
            return Err(RulesError {
                file: origin.to_string(),
                line: Some(*line),
                rule: Some(rule.clone()),
                message: "a built-in rule is deleted, not disabled".into(),
            });
        }
        if let Some((rule, _)) = compiled.rules.iter().find(|(_, before)| before.is_some()) {
            return Err(RulesError {
                file: origin.to_string(),
                line: Some(rule.line),
                rule: Some(rule.name.clone()),
                message: "`before` is for overrides; a built-in file lists its rules in order"
                    .into(),
            });
        }
        let submit_delay = compiled
            .submit_delay
            .ok_or_else(|| missing("submit_delay"))?;
        let set = RuleSet {
            agent: agent.to_string(),
            builtin_file: file_name,
            override_path: None,
            tested_versions: file
                .tested_versions
                .clone()
                .ok_or_else(|| missing("tested_versions"))?,
            tui: file.tui.unwrap_or(false),
            quiet_window: file.quiet_window_ms.map(Duration::from_millis),
            submit_delay,
            interrupt_keys: file
                .interrupt_keys
                .clone()
                .ok_or_else(|| missing("interrupt_keys"))?,
            exit: compiled.exit.ok_or_else(|| missing("exit"))?,
            exit_text: compiled.exit_text.unwrap_or_default(),
            record_lag: compiled.record_lag.unwrap_or(DEFAULT_RECORD_LAG),
            conditions: compiled.conditions,
            rules: compiled.rules.into_iter().map(|(r, _)| r).collect(),
        };
        set.check_references()?;
        set.check_reachable()?;
        Ok(set)
    }

    /// These rules with a user's override file merged in: same name replaces (in place), a
    /// new name adds (before the rule named in `before`, else last), `enabled = false`
    /// removes; top-level settings given replace the built-in ones.
    pub fn with_override(&self, path: PathBuf, text: &str) -> Result<RuleSet, RulesError> {
        let origin = Origin::Override(path.clone());
        let file = parse(text, &origin)?;
        let compiled = compile_file(&self.agent, &file, text, &origin)?;
        let error = |line: usize, rule: &str, message: String| RulesError {
            file: origin.to_string(),
            line: Some(line),
            rule: Some(rule.to_string()),
            message,
        };
        let mut merged = self.clone();
        merged.override_path = Some(path.clone());
        if let Some(versions) = &file.tested_versions {
            merged.tested_versions = versions.clone();
        }
        if let Some(tui) = file.tui {
            merged.tui = tui;
        }
        if let Some(ms) = file.quiet_window_ms {
            merged.quiet_window = Some(Duration::from_millis(ms));
        }
        if let Some(submit) = compiled.submit_delay {
            merged.submit_delay = submit;
        }
        if let Some(keys) = &file.interrupt_keys {
            merged.interrupt_keys = keys.clone();
        }
        if let Some(exit) = compiled.exit {
            merged.exit = exit;
        }
        if let Some(lag) = compiled.record_lag {
            merged.record_lag = lag;
        }
        // Each part given replaces the built-in one.
        if let Some(text) = compiled.exit_text {
            if text.session_id.is_some() {
                merged.exit_text.session_id = text.session_id;
            }
            if text.gave_up.is_some() {
                merged.exit_text.gave_up = text.gave_up;
            }
        }
        merged.conditions.extend(compiled.conditions);
        for (name, line) in &compiled.disabled {
            let before = merged.rules.len();
            merged.rules.retain(|r| &r.name != name);
            if merged.rules.len() == before {
                return Err(error(
                    *line,
                    name,
                    format!(
                        "`enabled = false` names no rule of the {} adapter; its rules are: {}",
                        self.agent,
                        self.rule_names()
                    ),
                ));
            }
        }
        for (rule, before) in compiled.rules {
            if let Some(at) = merged.rules.iter().position(|r| r.name == rule.name) {
                if before.is_some() {
                    return Err(error(
                        rule.line,
                        &rule.name,
                        "`before` places a new rule; this one replaces the rule of its name in \
                         place: drop `before`, or disable the old rule and add one under a \
                         new name"
                            .into(),
                    ));
                }
                merged.rules[at] = rule;
                continue;
            }
            match before {
                None => merged.rules.push(rule),
                Some(target) => {
                    let Some(at) = merged.rules.iter().position(|r| r.name == target) else {
                        return Err(error(
                            rule.line,
                            &rule.name,
                            format!(
                                "`before = {target:?}` names no rule; the rules are: {}",
                                merged.rule_names()
                            ),
                        ));
                    };
                    merged.rules.insert(at, rule);
                }
            }
        }
        merged.check_references()?;
        merged.check_reachable()?;
        Ok(merged)
    }

    fn rule_names(&self) -> String {
        let names: Vec<&str> = self.rules.iter().map(|r| r.name.as_str()).collect();
        names.join(", ")
    }

    /// Every condition a rule names exists.
    fn check_references(&self) -> Result<(), RulesError> {
        for rule in &self.rules {
            for reference in rule.references() {
                if !self.conditions.contains_key(&reference.name) {
                    let known: Vec<&str> = self.conditions.keys().map(String::as_str).collect();
                    return Err(RulesError {
                        file: rule.origin.to_string(),
                        line: Some(rule.line),
                        rule: Some(rule.name.clone()),
                        message: format!(
                            "names condition {:?}, which no [conditions] entry defines (known: {}); \
                             define it or fix the name",
                            reference.name,
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// No rule sits after one that matches every screen (it could never decide).
    fn check_reachable(&self) -> Result<(), RulesError> {
        if let Some(at) = self.rules.iter().position(Rule::always_matches)
            && let Some(dead) = self.rules.get(at + 1)
        {
            return Err(RulesError {
                file: dead.origin.to_string(),
                line: Some(dead.line),
                rule: Some(dead.name.clone()),
                message: format!(
                    "can never match: rule {:?} before it matches every screen; add \
                     `before = {:?}` to place it earlier",
                    self.rules[at].name, self.rules[at].name
                ),
            });
        }
        Ok(())
    }
}
