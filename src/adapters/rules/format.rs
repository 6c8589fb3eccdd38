//! The rule file as written: the TOML shape of one agent's screen rules, read with serde.
//! Unknown keys are errors, and patterns keep their place in the file so a bad one is reported
//! with its line. `compile` turns this into the [`super::RuleSet`] classification runs on.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A regular expression where it stands in the file.
pub type Pattern = Spanned<String>;

/// One rule file: a built-in `src/adapters/rules/<agent>.toml`, or a user's override of it.
/// In an override every top-level setting is optional (unset keeps the built-in one).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Agent versions the rules were tested on (the first is the one CI pins).
    pub tested_versions: Option<Vec<String>>,
    /// A full-screen TUI that repaints on its own (rather than a line program).
    pub tui: Option<bool>,
    /// How long the screen must hold still before an unsettled prompt counts.
    pub quiet_window_ms: Option<u64>,
    pub submit_delay: Option<SubmitDelaySpec>,
    /// Keys (as `harnex send --keys` names them) that interrupt a turn in progress.
    pub interrupt_keys: Option<Vec<String>>,
    /// What `harnex stop` types first, write by write.
    pub exit: Option<Vec<KeystrokeSpec>>,
    /// What the agent prints at exit.
    pub exit_text: Option<ExitTextSpec>,
    /// How the agent's own records are waited for.
    pub records: Option<RecordsSpec>,
    /// Named tests rules refer to in `if`, `unless`, `settled_if`, `tentative_unless` and
    /// `enter_is_safe_if`.
    #[serde(default)]
    pub conditions: BTreeMap<String, Spanned<ConditionSpec>>,
    /// The rules, tried in order: the first that matches decides.
    #[serde(default)]
    pub rule: Vec<Spanned<RuleSpec>>,
}

/// Pause between writing a message and pressing Enter: `base_ms + per_kb_ms` per KiB.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitDelaySpec {
    pub base_ms: u64,
    pub per_kb_ms: u64,
    /// `started` (default) counts a KiB begun as a whole one; `whole` counts full KiB only.
    #[serde(default)]
    pub count: KbCount,
    /// The pause after a bracketed paste, when it differs from the one above.
    pub after_paste_ms: Option<u64>,
    /// After a bracketed paste, press Enter as soon as the pasted text shows at the cursor; the
    /// pause is then only the longest wait.
    #[serde(default)]
    pub until_shown: bool,
    /// What the agent shows at the cursor instead of a long paste (`\[Pasted Content \d+
    /// chars\]`), for `until_shown`.
    pub paste_placeholder: Option<Pattern>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KbCount {
    #[default]
    Started,
    Whole,
}

/// One write of the exit sequence: `text` typed as is, or named `keys` written together.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeystrokeSpec {
    #[serde(default)]
    pub after_ms: u64,
    pub text: Option<String>,
    pub keys: Option<Vec<String>>,
}

/// How long a turn the screen saw end waits for the agent's record of its end.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsSpec {
    /// Signed, so a negative value gets the range in its error rather than serde's words.
    pub lag_ms: Spanned<i64>,
}

/// Text the agent prints at exit, read from the transcript's end (escape sequences stripped).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitTextSpec {
    /// The agent's own session id: the named group `id` of the last match.
    pub session_id: Option<Pattern>,
    /// The agent gave up on its model: the last `failure` match comes after the last `success`.
    pub gave_up: Option<GaveUpSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaveUpSpec {
    pub failure: Pattern,
    pub success: Pattern,
}

/// A named test on the screen; every part given must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    /// Some row matches.
    pub rows: Option<Pattern>,
    /// The screen's text (rows joined with newlines) matches.
    pub screen: Option<Pattern>,
    /// The window title matches.
    pub title: Option<Pattern>,
    /// The text left of the cursor on its row matches.
    pub before_cursor: Option<Pattern>,
    /// A row from the rule's matched row down (that row included) matches.
    pub from_match: Option<Pattern>,
    /// A row below the rule's matched row matches.
    pub after_match: Option<Pattern>,
    /// The rule's matched row is the cursor's row.
    pub on_cursor_row: Option<bool>,
}

/// What a matching rule says about the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Means {
    Prompt,
    Busy,
    Blocked,
    Unknown,
}

/// The order rows are searched in: the first matching row is the one the rule looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scan {
    #[default]
    BottomUp,
    TopDown,
}

/// Which rows a `row` pattern is tried on (`within`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Within {
    #[default]
    All,
    /// Rows below the cursor's.
    BelowCursor,
    /// Only the last row with text above the lowest row matching `anchor`, leaving out rows
    /// matching `skip`.
    LastTextAbove,
}

/// Screen shapes read by code rather than a pattern (the generic adapter's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// A `(y/n)` question the cursor waits after.
    YesNo,
    /// A numbered, marked or side-by-side choice list at the bottom of the screen.
    ChoiceList,
    /// The cursor's line starts with a prompt glyph.
    InputLine,
    /// The cursor is in a box-drawn input area.
    InputBox,
}

/// How the rows of a framed dialog are read: `box` takes the frame off a box drawn anywhere
/// (`│ ● 1. Allow │`), `edge` one drawn at the screen's left edge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Frame {
    #[default]
    None,
    Box,
    Edge,
}

/// Where a dialog's option list starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptionsFrom {
    /// The matched row.
    #[default]
    Match,
    /// The top of the screen.
    Top,
}

/// The dialog a `blocked` rule reports, and how to find the keys that accept it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialogSpec {
    /// `workspace-trust`, `permission`, `confirmation`, …
    pub reason: String,
    /// Fixed keys that accept it (instead of reading its options).
    pub keys: Option<Vec<String>>,
    /// With `keys`: Enter is safe when these conditions hold.
    pub enter_is_safe_if: Option<Vec<String>>,
    /// The mark on the highlighted option (one character), to read the options.
    pub marker: Option<String>,
    #[serde(default)]
    pub from: OptionsFrom,
    /// An option whose text matches accepts the dialog (the first such one).
    pub accept: Option<Pattern>,
    #[serde(default)]
    pub frame: Frame,
    /// The rule matches only when some option's text matches this.
    pub require_option: Option<Pattern>,
}

/// A retry of the model request, read off the screen: `attempt` has the named groups
/// `attempt` (and optionally `max`); it is tried on the matched row, or on the lowest row
/// matching `line`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    pub attempt: Pattern,
    pub line: Option<Pattern>,
}

/// One named rule. Exactly one of `row`, `title`, `before_cursor`, `shape` or `at_cursor`
/// says what it looks at.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    /// `false` in an override removes the built-in rule of that name.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// In an override, where a new rule goes: before the rule named here (default: last).
    pub before: Option<String>,
    pub means: Option<Means>,
    pub row: Option<Pattern>,
    /// The order `row` searches the rows in (default bottom-up).
    pub scan: Option<Scan>,
    /// Which rows `row` is tried on (default all).
    pub within: Option<Within>,
    /// With `within = "last-text-above"`: the row that text is above.
    pub anchor: Option<Pattern>,
    /// With `within = "last-text-above"`: rows that do not count as text.
    pub skip: Option<Pattern>,
    pub title: Option<Pattern>,
    pub before_cursor: Option<Pattern>,
    pub shape: Option<Shape>,
    /// Matches always, on the cursor's row (the last rule, saying why nothing else did).
    #[serde(default)]
    pub at_cursor: bool,
    /// Conditions that must all hold (`!name` for one that must not).
    #[serde(default, rename = "if")]
    pub when: Vec<String>,
    /// Conditions none of which may hold.
    #[serde(default)]
    pub unless: Vec<String>,
    /// A prompt is settled (positive idle evidence, no quiet period) when these all hold.
    pub settled_if: Option<Vec<String>>,
    /// A prompt on weak evidence (an input box drawn before the agent is ready) counts only
    /// after a longer quiet unless these all hold.
    pub tentative_unless: Option<Vec<String>>,
    pub dialog: Option<DialogSpec>,
    pub retry: Option<RetrySpec>,
    /// A blocked verdict that counts only once the screen is quiet.
    #[serde(default)]
    pub tentative: bool,
    /// Whether the verdict names the matched row (default true).
    #[serde(default = "yes")]
    pub report_row: bool,
    /// The verdict's evidence: `{row}` the matched row, `{match}` the matched text,
    /// `{before_cursor}`, `{title}`. Default: the matched row (or title).
    pub evidence: Option<String>,
}

fn yes() -> bool {
    true
}
