//! The files a session leaves in the state dir: its registry entry (`sessions/<slug>.json`,
//! written by its supervisor, with the bearer token) and its exit record (`exits/<slug>.json`).
//! Ruby-compatible field names plus harnex's own; keys this version does not know (another
//! writer's `tmux_*`, newer fields) are kept in `extra` and written back untouched. Liveness and
//! lookup live in [`crate::registry`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::paths::SessionKey;
use crate::registry::{Liveness, url_host};
use crate::session_lock;

/// One live session as written to `sessions/<slug>.json` (Ruby-compatible field names, plus
/// harnex's own: `supervisor_pid`, `supervisor_started`, `adapter`, `mode`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryEntry {
    #[serde(default = "yes")]
    pub ok: bool,
    pub session_id: String,
    pub id: String,
    pub cli: String,
    pub repo_root: PathBuf,
    pub repo_key: String,
    /// The agent's PID (the PTY child).
    pub pid: u32,
    pub host: String,
    pub port: u16,
    pub token: String,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    pub started_at: String,
    #[serde(default)]
    pub supervisor_pid: Option<u32>,
    /// Start time of the supervisor process (clock ticks since boot, from /proc), so a reused
    /// PID is not mistaken for a live supervisor.
    #[serde(default)]
    pub supervisor_started: Option<u64>,
    #[serde(default)]
    pub adapter: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub output_log_path: Option<PathBuf>,
    #[serde(default)]
    pub events_log_path: Option<PathBuf>,
    /// Everything else (status fields, tmux_* keys, …) is carried along untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The file this entry was read from (not stored in it).
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// A registry entry as its supervisor writes it ([`crate::session::registry_writer`]): the
/// session's whole status, kept current, and what a client needs besides to reach the session.
/// Read back as a [`RegistryEntry`] (the status fields land in its `extra`).
#[derive(Debug, Serialize)]
pub struct EntryDocument<'a> {
    #[serde(flatten)]
    pub status: &'a crate::wire::status::Status,
    pub token: &'a str,
    pub cwd: &'a std::path::Path,
    pub supervisor_started: Option<u64>,
}

fn yes() -> bool {
    true
}

impl RegistryEntry {
    pub fn key(&self) -> SessionKey {
        SessionKey::new(self.repo_root.clone(), &self.id)
    }

    /// Whether the session's supervisor (or, for entries without one, the agent) is alive.
    pub fn is_alive(&self) -> bool {
        self.liveness().is_alive()
    }

    /// What says whether its session is alive (its lock file looked at now).
    pub fn liveness(&self) -> Liveness {
        let lock = self
            .file
            .as_deref()
            .map(|file| session_lock::probe(&session_lock::lock_path_of_entry(file)));
        crate::registry::Listed::head(self).liveness(lock)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}:{}", url_host(&self.host), self.port)
    }
}

/// How a session ended, as written to `exits/<slug>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExitRecord {
    pub ok: bool,
    pub id: String,
    pub cli: String,
    pub session_id: String,
    pub repo_root: PathBuf,
    /// The agent's exit status, or 128 + signal number; `null` when nobody saw how it ended
    /// (reason `crashed`: its supervisor died first).
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub signal: Option<i32>,
    pub started_at: String,
    pub exited_at: String,
    pub injected_count: u64,
    /// `success`, `failure`, `boot_failure`, `timeout`, `disconnected`, `stopped`, `killed`,
    /// `crashed`.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ExitRecord {
    /// The exit code a command reports for this run: the agent's, or 1 when it is unknown.
    pub fn command_exit_code(&self) -> i32 {
        self.exit_code.unwrap_or(1)
    }

    /// The agent's exit code for people: the number, or `unknown`.
    pub fn exit_code_text(&self) -> String {
        self.exit_code
            .map_or_else(|| "unknown".to_string(), |code| code.to_string())
    }
}

/// What the exit record of a crashed run adds to the common fields: written by the first command
/// that finds its supervisor dead ([`crate::crash`]).
#[derive(Debug, Clone, Serialize)]
pub struct CrashEnd {
    /// `supervisor_died`.
    pub reason_detail: String,
    /// The agent's process id.
    pub pid: u32,
    pub supervisor_pid: Option<u32>,
    /// Whether the agent outlived its supervisor.
    pub agent_alive: bool,
    /// The agent's state as the registry entry last said.
    pub last_state: Value,
    /// Completed turns as the registry entry last said.
    pub turns: Value,
    pub output_log_path: PathBuf,
    pub events_log_path: PathBuf,
    /// Processes still carrying the run's session id, ended when the crash was recorded.
    pub swept_pids: Vec<u32>,
    /// `parent`, `parent_session_id`, `root`, `root_session_id`, `tags`, as the entry said.
    #[serde(flatten)]
    pub attribution: crate::attribution::Attribution,
}

/// What the exit record of a session that ended under its supervisor adds to the common fields
/// ([`crate::registry::ExitRecord`]).
#[derive(Debug, Clone, Serialize)]
pub struct SessionEnd {
    /// `stopped` (by `harnex stop` or a signal) or `exited` (on its own).
    pub reason_detail: String,
    /// Completed turns.
    pub turns: u64,
    /// Token usage, as the `usage` event.
    pub summary: crate::adapters::ExitSummary,
    /// What changed in git, as the `git` event at `phase: end` (null outside a repository).
    pub git: Option<crate::telemetry::git::GitEnd>,
    pub output_log_path: PathBuf,
    pub transcript_dropped_bytes: u64,
    pub events_log_path: PathBuf,
    /// Where the agent's own records came from (or why there were none).
    pub records: crate::wire::turns::RecordsStatus,
    /// How the last turn ended.
    pub last_turn: Option<crate::wire::turns::TurnEnd>,
    /// `parent`, `parent_session_id`, `root`, `root_session_id`, `tags`, as in the status.
    #[serde(flatten)]
    pub attribution: crate::attribution::Attribution,
    /// The terminal size the agent ran with, so `logs --plain` can render its transcript.
    pub size: crate::wire::status::Size,
}
