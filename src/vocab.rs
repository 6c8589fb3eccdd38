//! The words every layer shares: the agent's state, the dialog it is blocked on, how its process
//! ended and what it reported at exit. Adapters, telemetry and the supervisor all stand on this
//! module, and none of them on each other. Plain data, no behaviour beyond naming.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    Starting,
    Prompt,
    Busy,
    Blocked,
    Unknown,
    Exited,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Starting => "starting",
            AgentState::Prompt => "prompt",
            AgentState::Busy => "busy",
            AgentState::Blocked => "blocked",
            AgentState::Unknown => "unknown",
            AgentState::Exited => "exited",
        }
    }

    pub fn parse(text: &str) -> Option<AgentState> {
        Some(match text {
            "starting" => AgentState::Starting,
            "prompt" => AgentState::Prompt,
            "busy" => AgentState::Busy,
            "blocked" => AgentState::Blocked,
            "unknown" => AgentState::Unknown,
            "exited" => AgentState::Exited,
            _ => return None,
        })
    }
}

/// A dialog the agent is blocked on, and how to answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Dialog {
    /// `workspace-trust`, `confirmation`, `permission`, `bypass-permissions`, …
    pub reason: String,
    /// Keys that accept the dialog, in order (names as `harnex send --keys` takes them).
    pub accept_keys: Vec<String>,
    /// Whether a bare Enter is a safe answer (it is not when the default choice quits).
    pub enter_is_safe: bool,
}

/// How the agent process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildExit {
    /// Exit status, or 128 + signal.
    pub code: i32,
    pub signal: Option<i32>,
}

/// Values parsed from the end of a session's transcript.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ExitSummary {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
    pub agent_session_id: Option<String>,
}
