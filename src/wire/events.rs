//! The event rows (`events/<slug>.jsonl`, schema v1, additive only; docs/events.md). One enum
//! tagged on `type`; the envelope (`schema_version`, `seq`, `ts`, `id`, `session_id`) is added by
//! the writer ([`crate::events::row_line`]), so an event carries only its own fields.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::adapters::ExitSummary;
use crate::wire::turns::{Source, TurnFacts, Usage};

/// The fields every row carries besides its type's (written by [`crate::events::row_line`]).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Envelope {
    /// Always 1 in schema v1.
    pub schema_version: u64,
    /// 1, 2, 3, … within one run (one `session_id`).
    pub seq: u64,
    /// UTC time, RFC 3339 with milliseconds.
    pub ts: String,
    /// The session id (`--id`).
    pub id: String,
    /// 16 hex digits, new for every run.
    pub session_id: String,
}

/// One event: `type` and the type's own fields.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The agent was spawned under its PTY.
    Started {
        pid: u32,
        cli: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        meta: Option<Map<String, Value>>,
        /// The id of the harnex session this one was started from.
        #[serde(skip_serializing_if = "Option::is_none")]
        parent: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        parent_session_id: Option<String>,
        /// The id of the session at the top of the chain (absent at the top).
        #[serde(skip_serializing_if = "Option::is_none")]
        root: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        root_session_id: Option<String>,
        /// Inherited and `--tag` tags (absent when there are none).
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        tags: crate::attribution::Tags,
    },
    /// HEAD at the start and what changed by the end.
    Git(GitRow),
    /// The agent's state changed.
    State {
        from: String,
        to: String,
        reason: String,
    },
    /// A message was written to the agent (before its Enter).
    Send {
        msg: String,
        msg_truncated: bool,
        forced: bool,
        message_id: String,
        /// Null when sent without Enter.
        turn: Option<u64>,
    },
    /// A submitted message was seen being worked on.
    TurnStarted { turn: u64 },
    /// A turn harnex started ended: once per turn, with how it ended (from the agent's records
    /// where they exist, else from the screen).
    TaskComplete {
        turn: u64,
        #[serde(flatten)]
        end: Option<Box<TurnFacts>>,
    },
    /// Written by the `--watch` babysitter: no progress for the stall period.
    LogIdle(LogIdle),
    /// Written by the `--watch` babysitter: it resumed the stalled agent.
    Resume(Resume),
    /// Written by `harnex done`: the session's task is finished.
    Done(Done),
    /// Token usage: the session's totals so far, written as the agent's records count them
    /// (after each model request) and once more at the end of the session.
    Usage(UsageRow),
    /// A sub-agent the agent started itself started or finished.
    Subagent {
        agent_session_id: Option<String>,
        started: bool,
        source: Source,
        key: String,
    },
    /// The dispatch summary record was appended (or there was nowhere to append it).
    Summary { path: Option<String>, exit: String },
    /// The agent exited; always the last row of a run.
    Exited {
        code: Option<i32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
        reason: String,
        /// Only with reason `crashed`: the state the registry entry last said (may be null).
        #[serde(skip_serializing_if = "Option::is_none")]
        last_state: Option<Option<String>>,
    },
}

/// A `usage` row: the session's totals, and on live rows the request that added to them.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct UsageRow {
    #[serde(flatten)]
    pub totals: ExitSummary,
    /// The model request (or, for Claude, the message) that added to the totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// `usage:N` for the Nth live row, `usage:exit` for the row at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `git` at `phase: start` (sha, branch) or `phase: end` (sha and the counts).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GitRow {
    pub phase: GitPhase,
    pub sha: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loc_added: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loc_removed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files_changed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commits: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GitPhase {
    Start,
    End,
}

impl GitRow {
    pub fn start(start: &crate::telemetry::git::GitStart) -> GitRow {
        GitRow {
            phase: GitPhase::Start,
            sha: start.sha.clone(),
            branch: Some(start.branch.clone()),
            loc_added: None,
            loc_removed: None,
            files_changed: None,
            commits: None,
        }
    }

    pub fn end(end: &crate::telemetry::git::GitEnd) -> GitRow {
        GitRow {
            phase: GitPhase::End,
            sha: end.sha.clone(),
            branch: None,
            loc_added: Some(end.loc_added),
            loc_removed: Some(end.loc_removed),
            files_changed: Some(end.files_changed),
            commits: Some(end.commits),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogIdle {
    /// Seconds without progress.
    pub idle_s: f64,
    /// The agent's state at that moment.
    pub state: String,
    /// 1 for the first stall of this watch, 2 for the next, …
    pub stall: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resume {
    pub resume: u64,
    pub max_resumes: u64,
    pub interrupted: bool,
    pub idle_s: f64,
    /// What was resumed: `stall` (no progress) or `failed_turn` (the agent's last turn failed at
    /// the model). Absent in rows of older watchers: a stall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Done {
    /// What was done (the supervisor masks secrets and shortens it to a preview).
    #[serde(default)]
    pub message: Option<String>,
}

/// The events other harnex processes may record in a session's log through `POST /events` (the
/// `--watch` babysitter, `harnex done`), so the log keeps one writer and one `seq`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExternalEvent {
    LogIdle(LogIdle),
    Resume(Resume),
    Done(Done),
}

impl ExternalEvent {
    pub const TYPES: [&'static str; 3] = ["log_idle", "resume", "done"];

    pub fn kind(&self) -> &'static str {
        match self {
            ExternalEvent::LogIdle(_) => "log_idle",
            ExternalEvent::Resume(_) => "resume",
            ExternalEvent::Done(_) => "done",
        }
    }

    pub fn into_event(self) -> Event {
        match self {
            ExternalEvent::LogIdle(e) => Event::LogIdle(e),
            ExternalEvent::Resume(e) => Event::Resume(e),
            ExternalEvent::Done(e) => Event::Done(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte layout of a row is a contract (consumers may compare lines): keys sorted, the
    /// envelope among the event's own fields, no spaces.
    #[test]
    fn a_row_keeps_its_byte_layout() {
        let line = crate::events::row_line(
            "w1",
            "abc",
            4,
            &Event::Send {
                msg: "hi".into(),
                msg_truncated: false,
                forced: true,
                message_id: "m1".into(),
                turn: None,
            },
        );
        let ts = line
            .split("\"ts\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        assert_eq!(
            line,
            format!(
                "{{\"forced\":true,\"id\":\"w1\",\"message_id\":\"m1\",\"msg\":\"hi\",\"msg_truncated\":false,\"schema_version\":1,\"seq\":4,\"session_id\":\"abc\",\"ts\":\"{ts}\",\"turn\":null,\"type\":\"send\"}}\n"
            )
        );
    }
}
