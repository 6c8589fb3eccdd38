//! How turns end, what they cost, and where that is known from: the fields the `task_complete`
//! and `usage` rows, `GET /wait`, `send --wait-for-idle` and `status --json` share.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::records::{ErrorKind, TurnError, TurnOutcome, Usage};

/// Where a fact came from. The screen is the fast signal; the agent's records (and its hooks)
/// make it true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Screen,
    Record,
    Hook,
}

/// Tokens for one turn (or one model request) and for the session so far, as the agent counts
/// them, and the model that answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnUsage {
    pub turn: Option<Usage>,
    pub session: Option<Usage>,
    pub model: Option<String>,
}

/// How one turn ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnEnd {
    /// harnex's turn number (the delivery that started it); null for a turn harnex did not start
    /// (typed by a person, or started by the agent itself).
    pub turn: Option<u64>,
    #[serde(flatten)]
    pub facts: TurnFacts,
}

/// What is known of a turn's end (the fields a `task_complete` row adds to its `turn`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnFacts {
    pub outcome: TurnOutcome,
    /// Why the turn failed (only with outcome `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TurnError>,
    /// The agent's final message of the turn, secrets masked, at most 64 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TurnUsage>,
    pub source: Source,
    /// The same fact from two sources has one key, and is recorded once.
    pub key: String,
    /// The agent's own id for the turn, where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_turn_id: Option<String>,
}

/// Whether the session's records are being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordsState {
    /// The file is found and followed.
    Following,
    /// The agent has not written its file yet (it does at its first prompt).
    Waiting,
    /// No records for this session; `why` says why. The screen alone tells the state.
    Unavailable,
}

/// Where the session's records come from (`status --json`, the registry entry, the exit record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecordsStatus {
    pub state: RecordsState,
    /// `codex-rollout` or `claude-transcript`.
    pub source: Option<String>,
    /// The record file, once found.
    pub path: Option<PathBuf>,
    /// Why records are unavailable (or not found yet).
    pub why: Option<String>,
    /// The agent's own session id, from the file's first line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_session_id: Option<String>,
}

/// The agent is retrying its model request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Retrying {
    pub attempt: Option<u32>,
    pub max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TurnError>,
    pub source: Source,
}
