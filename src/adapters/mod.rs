//! Adapters know one agent CLI: how to start it, how to read its screen, how to send to it and
//! how to ask it to exit. What is read off the screen, the keys and the delays are data
//! ([`rules`]: one TOML file per agent, overridable by the user); what cannot be data (argument
//! building, records plans, usage parsing, the agent's environment) is Rust, one module per
//! agent. Classification is a pure function of a [`ScreenView`]; the debounce and turn tracking
//! around it live in `session::state`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

mod argv;
pub mod catalog;
mod claude;
mod claude_usage;
mod codex;
mod copilot;
mod dialog;
mod gemini;
mod generic;
mod opencode;
#[cfg(test)]
mod recordings;
pub mod rules;
mod screen_shapes;
mod with_rules;

pub use claude::Claude;
pub use codex::Codex;
pub use copilot::Copilot;
pub use gemini::Gemini;
pub use generic::Generic;
pub use opencode::OpenCode;
pub use rules::{RuleSet, RulesError};
pub use with_rules::WithRules;
// The shared vocabulary, named here too for the adapters' callers.
pub use crate::vocab::{Dialog, ExitSummary};

/// What the emulated terminal shows right now: the input to every classification.
#[derive(Debug, Clone, Default)]
pub struct ScreenView {
    /// Visible rows, trailing blanks trimmed.
    pub rows: Vec<String>,
    /// Cursor (row, column), zero-based.
    pub cursor: (u16, u16),
    /// The text left of the cursor on its row (blank cells as spaces).
    pub before_cursor: String,
    /// Window title (OSC 0/2).
    pub title: String,
    pub alternate_screen: bool,
    pub bracketed_paste: bool,
    /// Application cursor keys (DECCKM): arrows are sent as `ESC O A` instead of `ESC [ A`.
    pub application_cursor: bool,
    /// (rows, cols)
    pub size: (u16, u16),
}

impl ScreenView {
    /// Rows with their indexes, bottom first: footers and prompts live at the bottom.
    pub fn rows_bottom_up(&self) -> impl Iterator<Item = (usize, &str)> {
        self.rows
            .iter()
            .enumerate()
            .rev()
            .map(|(i, r)| (i, r.as_str()))
    }

    /// Whether anything the agent shows moved: rows, cursor or title (a spinning title is activity
    /// even when the rows stand still).
    pub fn differs_from(&self, other: &ScreenView) -> bool {
        self.rows != other.rows || self.cursor != other.cursor || self.title != other.title
    }

    /// The whole screen as text, one line per row, trailing empty rows dropped.
    pub fn text(&self) -> String {
        let last = self
            .rows
            .iter()
            .rposition(|r| !r.trim().is_empty())
            .map_or(0, |i| i + 1);
        let mut text = self.rows[..last].join("\n");
        if last > 0 {
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
impl ScreenView {
    /// A screen for tests: `rows` as shown, the cursor at (row, column) — the column counts
    /// characters — and the window title. The text before the cursor is read off its row as the
    /// emulator reads it (blank cells as spaces).
    pub fn for_test(rows: &[&str], cursor: (u16, u16), title: &str) -> ScreenView {
        let line = rows.get(usize::from(cursor.0)).copied().unwrap_or("");
        let mut before_cursor: String = line.chars().take(usize::from(cursor.1)).collect();
        let short = usize::from(cursor.1).saturating_sub(before_cursor.chars().count());
        before_cursor.extend(std::iter::repeat_n(' ', short));
        let widest = rows.iter().map(|r| r.chars().count()).max().unwrap_or(0);
        ScreenView {
            rows: rows.iter().map(|r| r.to_string()).collect(),
            cursor,
            before_cursor,
            title: title.to_string(),
            size: (
                u16::try_from(rows.len()).unwrap_or(u16::MAX),
                u16::try_from(widest.max(100)).unwrap_or(u16::MAX),
            ),
            ..ScreenView::default()
        }
    }
}

/// What one screen says about the agent, before debouncing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observation {
    /// At its input prompt.
    Prompt,
    Busy,
    Blocked(Dialog),
    Unknown,
}

/// A classification and the rule that produced it, so `harnex explain` can show its reasoning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub observation: Observation,
    /// Rule name, e.g. `generic.prompt-marker`.
    pub rule: String,
    /// Zero-based screen row the rule matched on, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    /// The text that matched (or why nothing did).
    pub evidence: String,
    /// Positive idle evidence: a prompt verdict that needs no quiet period.
    pub settled: bool,
    /// A dialog read from its shape alone (the generic adapter): it counts only once the screen
    /// has been quiet for the adapter's window, so a frame that merely looks like one while
    /// output flows is not reported blocked. A prompt on weak evidence (an input box an agent
    /// draws before it is ready): it counts only after [`TENTATIVE_PROMPT_QUIET`] times the
    /// window.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tentative: bool,
    /// The agent shows it is retrying its model request (the observation stays busy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
}

/// A model request the agent is retrying, as its screen counts it (`Reconnecting... 2/5`,
/// `retrying in 2s · attempt 2/10`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retry {
    pub attempt: u32,
    /// The most attempts the agent will make, where it says.
    pub max: Option<u32>,
}

impl Verdict {
    pub fn new(observation: Observation, rule: &str, row: Option<usize>, evidence: &str) -> Self {
        Verdict {
            observation,
            rule: rule.to_string(),
            row,
            evidence: evidence.to_string(),
            settled: false,
            tentative: false,
            retry: None,
        }
    }

    /// What tells one dialog from another: its rule, reason and question (the evidence without
    /// the highlighted option a choice list names in parentheses; the highlight, and with it the
    /// keys that answer, moves with the arrow keys). `None` when the verdict is not a dialog.
    pub fn dialog_key(&self) -> Option<(String, String, String)> {
        let Observation::Blocked(dialog) = &self.observation else {
            return None;
        };
        let question = ["(highlighted: ", "(options: "]
            .iter()
            .filter_map(|marker| self.evidence.find(marker))
            .min()
            .map_or(self.evidence.as_str(), |at| &self.evidence[..at]);
        Some((
            self.rule.clone(),
            dialog.reason.clone(),
            question.trim().to_string(),
        ))
    }

    pub fn retrying(mut self, retry: Retry) -> Self {
        self.retry = Some(retry);
        self
    }

    pub fn settled(mut self) -> Self {
        self.settled = true;
        self
    }

    pub fn tentative(mut self) -> Self {
        self.tentative = true;
        self
    }
}

/// One write of an exit or key sequence, and how long to wait before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keystroke {
    pub delay: Duration,
    pub bytes: Vec<u8>,
}

pub trait Adapter: Send + Sync {
    /// Adapter key: `generic`, `codex`, `claude`, `opencode`, `copilot`.
    fn name(&self) -> &'static str;

    /// The argv to spawn for `harnex run <cli> -- <args>`.
    fn command(&self, cli: &str, args: &[String]) -> Vec<String> {
        let mut argv = vec![cli.to_string()];
        argv.extend(args.iter().cloned());
        argv
    }

    /// Flags to add that depend on the installed program (asked once, at `run`): e.g. Codex's
    /// `--no-daemon` where that Codex has it. Empty by default.
    fn probed_args(&self, _program: &str, _args: &[String]) -> Vec<String> {
        Vec::new()
    }

    /// How the session will find the agent's own records (turn outcomes, answers, usage). An
    /// adapter may add to `argv` what makes the record file known before the spawn. `env` reads
    /// the caller's environment.
    fn records_plan(
        &self,
        _argv: &mut Vec<String>,
        _env: &dyn Fn(&str) -> Option<String>,
        _cwd: &std::path::Path,
    ) -> crate::record_files::RecordsPlan {
        crate::record_files::RecordsPlan::unavailable(format!(
            "the {} adapter reads the screen only",
            self.name()
        ))
    }

    /// A working directory named in the agent's own args (e.g. Codex `-C DIR`).
    fn repo_dir(&self, _args: &[String]) -> Option<PathBuf> {
        None
    }

    /// The screen rules this adapter reads with. Built in by default; [`WithRules`] puts the
    /// user's merged override in their place. Everything below that the rules say is read from
    /// here, so an agent module does not implement it itself.
    fn rules(&self) -> &RuleSet {
        rules::builtin(self.name())
    }

    fn classify(&self, view: &ScreenView) -> Verdict {
        self.rules().classify(view)
    }

    /// Variables the agent needs set to run under harnex, over the caller's environment.
    fn agent_env(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// Whether the agent is a full-screen TUI that repaints on its own (clocks, spinners, an
    /// input box drawn while it works) rather than a line program that is quiet while idle. The
    /// timing defaults below follow from it.
    fn is_tui(&self) -> bool {
        self.rules().tui
    }

    /// How long the screen must stay unchanged before an unsettled prompt counts.
    fn quiet_window(&self) -> Duration {
        if let Some(window) = self.rules().quiet_window {
            window
        } else if self.is_tui() {
            TUI_QUIET_WINDOW
        } else {
            Duration::from_millis(250)
        }
    }

    /// Whether a changing screen by itself means the agent is working. True for agents that
    /// print nothing while idle; false for TUIs that repaint clocks and spinners on their own.
    fn output_means_busy(&self) -> bool {
        !self.is_tui()
    }

    /// How long the prompt must hold after a message was taken without any busy frame being seen
    /// (a very fast answer) before the turn counts as done. Line agents show busy whenever their
    /// screen moves, so they need none.
    fn unseen_turn_grace(&self) -> Duration {
        if self.is_tui() {
            TUI_UNSEEN_TURN_GRACE
        } else {
            Duration::ZERO
        }
    }

    /// Pause between writing the text and pressing Enter, so the agent does not take the
    /// Enter as part of a paste. None for line programs (the terminal's line discipline hands
    /// them the line at the Enter, however fast it came); for a TUI what its rule file says,
    /// which may be less after a bracketed paste (the end marker tells the agent where the paste
    /// ends, and Enter comes after it).
    fn submit_delay(&self, bytes: usize, bracketed_paste: bool) -> Duration {
        if !self.is_tui() {
            return Duration::ZERO;
        }
        self.rules().submit_delay.for_bytes(bytes, bracketed_paste)
    }

    /// After a bracketed paste: how the screen shows that the agent took it, so Enter goes then
    /// (within the pause [`Self::submit_delay`] gives); `None` waits the pause out.
    fn paste_shown(&self) -> Option<&rules::PasteShown> {
        if !self.is_tui() {
            return None;
        }
        self.rules().submit_delay.until_shown.as_ref()
    }

    /// How long a turn the screen saw end waits for the agent's own record of its end before
    /// the screen's word stands (its rule file's `[records] lag_ms`).
    fn record_lag(&self) -> Duration {
        self.rules().record_lag
    }

    /// What `harnex stop` types first.
    fn exit_sequence(&self) -> Vec<Keystroke> {
        self.rules().exit.clone()
    }

    /// Named keys (as `harnex send --keys` takes them) that interrupt a turn in progress and
    /// leave an empty input line, so a message sent next is not queued behind a hung request.
    fn interrupt_keys(&self) -> Vec<String> {
        self.rules().interrupt_keys.clone()
    }

    /// Token usage the transcript's end states (`plain_tail`: escape sequences stripped):
    /// Codex's `Token usage:` line. None by default.
    fn exit_tokens(&self, _plain_tail: &str) -> ExitSummary {
        ExitSummary::default()
    }

    /// What the transcript's end says: the token usage it states and the agent's own session
    /// id (its rules' `exit_text.session_id`).
    fn parse_exit_summary(&self, transcript_tail: &str) -> ExitSummary {
        let plain = crate::text::strip_ansi(transcript_tail);
        let mut summary = self.exit_tokens(&plain);
        summary.agent_session_id = self.rules().exit_text.session_id(&plain);
        summary
    }

    /// Token usage and the agent's own session id at exit. By default what the transcript's end
    /// says, completed from the agent's own records where it keeps usage there (`cwd`: where
    /// the agent ran).
    fn exit_usage(&self, transcript_tail: &str, cwd: &std::path::Path) -> ExitSummary {
        self.usage_from_records(self.parse_exit_summary(transcript_tail), cwd)
    }

    /// Usage from the agent's own records, for agents that print none (Claude); `parsed` is
    /// what the transcript said.
    fn usage_from_records(&self, parsed: ExitSummary, _cwd: &std::path::Path) -> ExitSummary {
        parsed
    }

    /// The transcript's end (escape sequences stripped) says the agent lost its model
    /// connection and gave up, rather than finishing its last turn (its rules'
    /// `exit_text.gave_up`).
    fn gave_up_on_model(&self, plain_tail: &str) -> bool {
        self.rules().exit_text.gave_up(plain_tail)
    }
}

/// How many quiet windows a tentative prompt needs before it counts.
pub const TENTATIVE_PROMPT_QUIET: u32 = 4;

/// Full-screen agents repaint on their own: a prompt needs this much quiet without idle evidence.
pub const TUI_QUIET_WINDOW: Duration = Duration::from_millis(300);
/// How long a full-screen agent's prompt must hold after a turn answered too fast to show busy.
pub const TUI_UNSEEN_TURN_GRACE: Duration = Duration::from_secs(3);

/// The adapter for a CLI name (or path). Unknown CLIs get the generic adapter.
pub fn for_cli(cli: &str) -> Box<dyn Adapter> {
    match cli_name(cli).as_str() {
        "codex" => Box::new(Codex),
        "claude" => Box::new(Claude),
        "opencode" => Box::new(OpenCode),
        "copilot" => Box::new(Copilot),
        "gemini" => Box::new(Gemini),
        _ => Box::new(Generic),
    }
}

/// The adapter for a CLI with the user's rule override merged in (when there is one): what
/// `run` and the session use. A bad override is an error naming its file and line.
pub fn configured_for_cli(cli: &str) -> Result<Box<dyn Adapter>, RulesError> {
    let adapter = for_cli(cli);
    let rules = rules::load(adapter.name())?;
    if rules.override_path.is_none() {
        return Ok(adapter);
    }
    Ok(Box::new(WithRules::new(adapter, rules)))
}

/// The program name of a CLI given as a path (`/usr/bin/codex` → `codex`).
pub fn cli_name(cli: &str) -> String {
    std::path::Path::new(cli)
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_else(|| cli.to_lowercase())
}
