//! What the commands print with their JSON results when the answer is their own rather than the
//! session API's (timeouts, the outcome of a wait, `done`, `pane --json`, …). docs/api.md and
//! the commands' `--help` name these fields.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// The line `run --detach` and `run --tmux` print once the session is up (Ruby-compatible), with
/// the mode's own fields.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RunStarted {
    pub ok: bool,
    pub id: String,
    pub cli: String,
    pub pid: u32,
    pub port: u16,
    pub output_log_path: Option<std::path::PathBuf>,
    /// `prompt`, or `blocked` when the agent came up at a dialog.
    pub agent_state: String,
    #[serde(flatten)]
    pub mode: StartedMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Where a started session runs.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum StartedMode {
    /// Detached: the supervisor's own stdout and stderr go to `log`.
    Headless { log: std::path::PathBuf },
    /// In a tmux window.
    Tmux {
        window: String,
        pane: String,
        tmux_session: Option<String>,
    },
}

/// A command that ran out of time, or a wait that ended without reaching its goal.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct WaitOutcome {
    pub ok: bool,
    pub id: String,
    /// `timeout` when the deadline passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `wait --until task_complete`: the event that ended the wait, its turn and seq.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<Value>,
    #[serde(serialize_with = "crate::time::serialize_seconds_ms")]
    pub waited_seconds: f64,
    /// `wait --until task_complete`: how the turn ended (`outcome`, `error`, `answer`, `usage`,
    /// `source`, `key`), as the `task_complete` row says.
    #[serde(flatten)]
    pub end: Option<crate::wire::turns::TurnFacts>,
}

/// `harnex send` that ran out of time.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SendTimeout {
    pub ok: bool,
    pub id: String,
    pub status: String,
    /// The message, when the session took it (null when it never answered).
    pub message_id: Option<String>,
    /// Where the message stands: `cancelled`, `delivering`, `delivered`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    pub error: String,
    #[serde(serialize_with = "crate::time::serialize_seconds_ms")]
    pub waited_seconds: f64,
}

/// `harnex send --wait-for-idle`: how the turn the message started ended.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TurnOutcome {
    pub ok: bool,
    pub id: String,
    pub message_id: Option<String>,
    pub turn: u64,
    pub submitted: Value,
    #[serde(serialize_with = "crate::time::serialize_seconds_ms")]
    pub waited_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// harnex's own failure as text (`timeout`, a dialog, the agent exited), or the agent's
    /// turn error (`{kind, message, http_status}`) when the outcome is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<SendError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialog: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<Value>,
    /// How the turn ended: `completed`, `failed`, `interrupted`, `needs_input`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<crate::records::TurnOutcome>,
    /// The agent's final message of the turn (secrets masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::wire::turns::TurnUsage>,
    /// Where the outcome is known from: `record`, `hook` or `screen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::wire::turns::Source>,
}

/// An error in a command's answer: harnex's own (text) or the agent's failed turn.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum SendError {
    Text(String),
    Turn(crate::records::TurnError),
}

impl From<&str> for SendError {
    fn from(text: &str) -> SendError {
        SendError::Text(text.to_string())
    }
}

impl From<String> for SendError {
    fn from(text: String) -> SendError {
        SendError::Text(text)
    }
}

/// `harnex stop` that did not see the end it asked for.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StopTimeout {
    pub ok: bool,
    pub id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<Value>,
    pub error: String,
}

/// `harnex stop` of a session whose supervisor was already gone.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SupervisorGone {
    pub ok: bool,
    pub id: String,
    pub session_id: String,
    /// `supervisor_gone`.
    pub status: String,
    pub swept_pids: Vec<u32>,
}

/// `harnex done`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DoneRecorded {
    pub ok: Value,
    pub id: String,
    /// `done`.
    pub event: String,
}

/// `harnex pane --json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PaneText {
    pub ok: bool,
    pub id: String,
    pub lines: Option<u64>,
    pub text: String,
    pub captured_at: String,
    /// `tmux` or `screen`.
    pub source: String,
    /// The tmux pane (`%N`), for a tmux session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pane: Option<String>,
}

/// `harnex conversation --json`: who said what, turn by turn, from the agent's own records.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Conversation {
    pub ok: bool,
    /// The session (null for `--file`).
    pub id: Option<String>,
    /// Whose records: `codex-rollout` or `claude-transcript`.
    pub source: String,
    /// The record file read.
    pub path: std::path::PathBuf,
    /// The turns (with `--turn N`, that one), texts redacted.
    pub turns: Vec<crate::records::conversation::Turn>,
}

/// A status row for a registry entry that cannot be read (`status --json`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CorruptStatus {
    pub ok: bool,
    pub id: String,
    pub repo_key: String,
    /// `corrupt`.
    pub agent_state: String,
    pub registry_path: std::path::PathBuf,
    pub error: String,
    /// Whether a live supervisor holds the entry (it rewrites it within seconds).
    pub supervisor_alive: bool,
}

/// `harnex explain --replay CAST --json`: each state change of a recorded session.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub ok: bool,
    pub adapter: String,
    /// Where the adapter's screen rules came from (`built-in <agent>.toml` or the override).
    pub rules_file: String,
    pub steps: Vec<ReplayStep>,
    /// (time, turn) when each turn was seen to start.
    pub turns_started: Vec<(f64, u64)>,
    /// (time, turn) when each turn was seen to complete.
    pub turns_completed: Vec<(f64, u64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayStep {
    /// Seconds into the recording.
    pub time: f64,
    pub from: String,
    pub to: String,
    pub verdict: crate::adapters::Verdict,
    pub dialog: Option<crate::adapters::Dialog>,
}
