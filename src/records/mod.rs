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

impl TurnError {
    /// An error as the agent reported it: its kind from the HTTP status where the agent gave
    /// one, else `without_status` (what the agent's own words or labels say).
    pub fn with_status_or(
        message: impl Into<String>,
        http_status: Option<u16>,
        without_status: ErrorKind,
    ) -> TurnError {
        TurnError {
            kind: http_status.map_or(without_status, kind_of_status),
            message: message.into(),
            http_status,
        }
    }

    /// An error as the agent reported it: its kind from the HTTP status where the agent gave
    /// one, else from its words ([`kind_of_words`]).
    pub fn reported(message: impl Into<String>, http_status: Option<u16>) -> TurnError {
        let message = message.into();
        let kind = kind_of_words(&message);
        TurnError::with_status_or(message, http_status, kind)
    }
}

impl Usage {
    /// Count `more` in: a count either has is summed, one neither has stays unknown.
    pub fn add(&mut self, more: &Usage) {
        self.combine(more, u64::saturating_add);
    }

    /// Take `less` out again (a count the agent wrote anew).
    pub fn subtract(&mut self, less: &Usage) {
        self.combine(less, u64::saturating_sub);
    }

    fn combine(&mut self, other: &Usage, op: fn(u64, u64) -> u64) {
        let pairs = [
            (&mut self.input_tokens, other.input_tokens),
            (&mut self.cached_input_tokens, other.cached_input_tokens),
            (&mut self.output_tokens, other.output_tokens),
            (&mut self.reasoning_tokens, other.reasoning_tokens),
            (&mut self.total_tokens, other.total_tokens),
        ];
        for (total, value) in pairs {
            if let Some(value) = value {
                *total = Some(op(total.unwrap_or(0), value));
            }
        }
    }

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

/// A session's usage added up request by request, for agents whose records count each model
/// request alone (Copilot, Gemini, OpenCode, Claude).
#[derive(Debug, Default)]
pub struct UsageTally {
    session: Usage,
}

impl UsageTally {
    /// The fact of one model request's usage: the request's count and the session's so far.
    pub fn request(&mut self, request: Usage, model: Option<&str>) -> RecordFact {
        self.session.add(&request);
        RecordFact::Usage {
            turn: Some(request),
            session: Some(self.session.clone()),
            model: model.map(str::to_string),
        }
    }

    /// Take a request counted before out again: the agent wrote its count anew.
    pub fn withdraw(&mut self, request: &Usage) {
        self.session.subtract(request);
    }
}

/// The kind of an error an agent describes in words only (no HTTP status).
pub fn kind_of_words(message: &str) -> ErrorKind {
    let lower = message.to_lowercase();
    let has = |word: &str| lower.contains(word);
    if has("rate limit") || has("quota") {
        ErrorKind::RateLimited
    } else if has("overloaded") {
        ErrorKind::Overloaded
    } else if has("fetch failed") || has("econn") {
        ErrorKind::Disconnected
    } else {
        ErrorKind::Other
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

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: Option<u64>, cached: Option<u64>) -> Usage {
        Usage {
            input_tokens: input,
            cached_input_tokens: cached,
            ..Usage::default()
        }
    }

    #[test]
    fn a_tally_adds_each_request_to_the_session_and_keeps_unknown_counts_unknown() {
        let mut tally = UsageTally::default();
        let first = tally.request(usage(Some(10), None), Some("m"));
        assert_eq!(
            first,
            RecordFact::Usage {
                turn: Some(usage(Some(10), None)),
                session: Some(usage(Some(10), None)),
                model: Some("m".into()),
            }
        );
        let RecordFact::Usage { session, .. } = tally.request(usage(Some(5), Some(2)), None) else {
            panic!("a usage fact")
        };
        assert_eq!(session, Some(usage(Some(15), Some(2))));
        tally.withdraw(&usage(Some(5), Some(2)));
        let RecordFact::Usage { session, .. } = tally.request(usage(Some(u64::MAX), None), None)
        else {
            panic!("a usage fact")
        };
        assert_eq!(session, Some(usage(Some(u64::MAX), Some(0))), "saturates");
    }

    #[test]
    fn an_error_takes_its_kind_from_the_status_else_from_its_words() {
        let error = TurnError::reported("Rate limit reached", Some(400));
        assert_eq!(
            (error.kind, error.http_status),
            (ErrorKind::Other, Some(400))
        );
        assert_eq!(error.message, "Rate limit reached");
        for (words, kind) in [
            ("Rate limit reached", ErrorKind::RateLimited),
            ("You exceeded your quota", ErrorKind::RateLimited),
            ("The model is overloaded", ErrorKind::Overloaded),
            ("TypeError: fetch failed", ErrorKind::Disconnected),
            ("connect ECONNREFUSED", ErrorKind::Disconnected),
            ("bad request", ErrorKind::Other),
        ] {
            assert_eq!(TurnError::reported(words, None).kind, kind, "{words}");
        }
        let labelled = TurnError::with_status_or("x", None, ErrorKind::Auth);
        assert_eq!(labelled.kind, ErrorKind::Auth);
        assert_eq!(
            TurnError::with_status_or("x", Some(529), ErrorKind::Auth).kind,
            ErrorKind::Overloaded
        );
    }
}
