//! The status of a live session: `GET /status`, `harnex status --json`, and (its snapshot part)
//! the registry entry. Ruby-compatible names plus harnex's own fields; docs/api.md.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The whole answer of `GET /status` (and `/health`). The schema is closed
/// (`additionalProperties: false`) so a field added here must be documented.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Status {
    pub ok: bool,
    pub session_id: String,
    pub repo_root: PathBuf,
    pub repo_key: String,
    pub cli: String,
    pub adapter: String,
    pub id: String,
    /// The agent's process id.
    pub pid: u32,
    pub supervisor_pid: u32,
    pub host: String,
    pub port: u16,
    /// `foreground`, `headless` or `tmux`.
    pub mode: String,
    pub command: Vec<String>,
    pub started_at: String,
    pub description: Option<String>,
    pub output_log_path: PathBuf,
    pub events_log_path: PathBuf,
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// What the screen shows now: its input box, title and dialog.
    #[serde(flatten)]
    pub live: Option<LiveView>,
    /// Only in `harnex status --json` (never from the API): the registry entry's own fields.
    #[serde(flatten)]
    pub registered: Option<RegistryFields>,
}

/// What `harnex status --json` adds from the registry entry, as the Ruby harnex's rows have it:
/// scripts call the API with `token` (the user's own; the registry file is 0600).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RegistryFields {
    pub token: String,
    pub cwd: Option<PathBuf>,
    pub registry_path: Option<PathBuf>,
}

/// The session's progress and what it has recorded (the registry entry holds the whole status).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Snapshot {
    pub last_injected_at: Option<String>,
    pub injected_count: u64,
    pub transcript_max_bytes: Option<u64>,
    pub transcript_dropped_bytes: u64,
    /// Modification time of the transcript (null while it is empty).
    pub log_mtime: Option<String>,
    pub log_idle_s: Option<u64>,
    /// `starting`, `prompt`, `busy`, `blocked`, `unknown`, `exited`.
    pub agent_state: String,
    pub state_since: String,
    pub inbox: crate::session::inbox::Stats,
    /// Completed turns (the Ruby name); `turn.completed` too.
    pub turns: u64,
    pub turn: TurnCounters,
    pub last_completed_at: Option<String>,
    pub done_at: Option<String>,
    /// A stop was asked for (the session is ending): a `run` of the same id waits for it.
    pub stopping: bool,
    pub last_progress_at: String,
    pub progress_idle_s: f64,
    /// `meta.model`, when given.
    pub model: Value,
    /// `meta.effort`, when given.
    pub effort: Value,
    pub size: Size,
    pub meta: Option<Map<String, Value>>,
    /// `parent`, `parent_session_id`, `root`, `root_session_id`, `tags`.
    #[serde(flatten)]
    pub attribution: crate::attribution::Attribution,
    pub summary_out: Option<PathBuf>,
    pub watch_path: Option<PathBuf>,
    pub watch_absolute_path: Option<PathBuf>,
    pub watch_debounce_seconds: Option<f64>,
    /// Where the agent's own records come from, or why there are none.
    pub records: crate::wire::turns::RecordsStatus,
    /// Tokens so far, as the agent's records count them (null without records).
    pub usage: Option<crate::wire::turns::Usage>,
    /// The model the records name (null without records).
    pub agent_model: Option<String>,
    /// How the last turn ended.
    pub last_turn: Option<crate::wire::turns::TurnEnd>,
    /// The agent is retrying its model request (null when it is not).
    pub retrying: Option<crate::wire::turns::Retrying>,
    #[serde(flatten)]
    pub health: WriteCounts,
    #[serde(flatten)]
    pub tmux: Option<TmuxPane>,
}

/// The turn counters, one type wherever they are reported (status, `/wait`, `/explain`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnCounters {
    /// Messages sent with Enter (turn numbers handed out).
    pub submitted: u64,
    /// Turns the agent was seen working on.
    pub started: u64,
    /// Turns the agent finished (back at its prompt).
    pub completed: u64,
    /// The turn submitted but not seen started yet.
    pub pending: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
pub struct Size {
    pub cols: u16,
    pub rows: u16,
}

/// What a full disk (or EIO) cost so far: zero in a healthy session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WriteCounts {
    pub write_errors: u64,
    pub dropped_events: u64,
    pub pending_events: u64,
    pub transcript_write_lost_bytes: u64,
    pub diagnostics_dropped: u64,
}

/// The tmux pane of a `run --tmux` session.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TmuxPane {
    pub tmux_target: String,
    pub tmux_session: String,
    pub tmux_window: String,
    pub tmux_socket: Option<PathBuf>,
}

/// Fields only the live session answers.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LiveView {
    pub input_state: InputState,
    /// The window title the agent set (OSC 0/2).
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialog: Option<crate::adapters::Dialog>,
}

/// `input_state` as the Ruby harnex reports it: `{state, input_ready[, action]}`, plus the
/// dialog's keys when blocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InputState {
    /// The agent's state, or the dialog's reason when blocked.
    pub state: String,
    pub input_ready: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub accept_keys: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enter_is_safe: Option<bool>,
}
