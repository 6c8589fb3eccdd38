//! The agents' own records — Codex's rollout JSONL, Claude Code's transcript JSONL, the Copilot
//! CLI's events JSONL, Gemini CLI's chat JSONL — read as facts about turns: how each turn ended, what the agent answered,
//! what it cost.
//!
//! Each agent has a pure parser here that turns rows (one JSON object a line, as the agent wrote
//! them) into [`RecordFact`]s. Finding and following the files, and merging the facts with what
//! the screen says, is the supervisor's business; nothing here touches the file system or the
//! clock, so the parsers are tested on recorded files (`tests/fixtures/records/`).

pub mod claude;
pub mod claude_hooks;
pub mod codex;
pub mod conversation;
pub mod copilot;
pub mod gemini;
pub mod opencode;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a turn ended, as the agent's records tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TurnOutcome {
    /// The model answered and the agent finished the turn.
    Completed,
    /// The model (or the way to it) failed and the agent gave up on the turn.
    Failed,
    /// The person (or harnex) interrupted the turn.
    Interrupted,
    /// The turn stopped to ask for something (a permission, an answer).
    NeedsInput,
}

/// Why a turn failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 429: too many requests, or a quota.
    RateLimited,
    /// 529 / "overloaded", or a 5xx the agent retried until it gave up.
    Overloaded,
    /// The stream broke or the connection could not be made.
    Disconnected,
    /// 401/403: the key or the sign-in was refused.
    Auth,
    Other,
}

/// A failed turn's error: its kind, and the agent's own words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnError {
    pub kind: ErrorKind,
    pub message: String,
    /// The HTTP status the agent reported, where it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
}

/// Tokens, as the agent counts them. Fields the agent does not report stay `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub cached_input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
}

/// One fact from an agent's records, in the order the agent wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fact", rename_all = "snake_case")]
pub enum RecordFact {
    /// The record file's first line: which agent session it belongs to.
    SessionMeta {
        /// The agent's own session id (Codex's thread id, Claude's session uuid).
        agent_session_id: String,
        cwd: Option<String>,
        /// Codex: the thread that spawned this one (a sub-agent's rollout).
        parent_session_id: Option<String>,
    },
    /// A turn began (the prompt was taken).
    TurnStarted {
        /// The agent's own id for the turn, where it has one.
        turn_id: Option<String>,
    },
    /// The agent is retrying its model request (attempt `attempt` of `max`, where known).
    Retrying {
        attempt: Option<u32>,
        max: Option<u32>,
        error: TurnError,
    },
    /// Usage grew: `turn` for the request just answered, `session` so far (where reported).
    Usage {
        turn: Option<Usage>,
        session: Option<Usage>,
        model: Option<String>,
    },
    /// A turn ended.
    TurnEnded {
        turn_id: Option<String>,
        outcome: TurnOutcome,
        /// The agent's final message of the turn (not redacted here: the caller redacts).
        answer: Option<String>,
        error: Option<TurnError>,
    },
    /// A sub-agent the agent started itself (Claude sidechain, Codex child thread).
    Subagent {
        agent_session_id: Option<String>,
        started: bool,
    },
}

impl Usage {
    /// What this session total adds to an `earlier` one (a turn's share of the session).
    pub fn since(&self, earlier: &Usage) -> Usage {
        let less =
            |now: Option<u64>, then: Option<u64>| now.map(|n| n.saturating_sub(then.unwrap_or(0)));
        Usage {
            input_tokens: less(self.input_tokens, earlier.input_tokens),
            cached_input_tokens: less(self.cached_input_tokens, earlier.cached_input_tokens),
            output_tokens: less(self.output_tokens, earlier.output_tokens),
            reasoning_tokens: less(self.reasoning_tokens, earlier.reasoning_tokens),
            total_tokens: less(self.total_tokens, earlier.total_tokens),
        }
    }

    /// The same counts as the exit `usage` row's fields.
    pub fn exit_summary(&self, agent_session_id: Option<String>) -> crate::vocab::ExitSummary {
        crate::vocab::ExitSummary {
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            reasoning_tokens: self.reasoning_tokens,
            cached_tokens: self.cached_input_tokens,
            total_tokens: self.total_tokens,
            agent_session_id,
        }
    }
}

/// The kind of an HTTP status an agent reported.
pub fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        429 => ErrorKind::RateLimited,
        401 | 403 => ErrorKind::Auth,
        500..=599 => ErrorKind::Overloaded,
        _ => ErrorKind::Other,
    }
}
