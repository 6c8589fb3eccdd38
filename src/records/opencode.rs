//! OpenCode's own account of its turns: the events its local server streams (`GET /event`, one
//! JSON object per SSE `data:` line), read into [`RecordFact`]s (checked on 1.18.33;
//! `tests/fixtures/records/README.md`).
//!
//! Each event is `{"id", "type", "properties"}`. The ones that carry facts:
//! - `session.created`: `info.id`, `info.directory`; a sub-agent's session has `info.parentID`
//!   (its events are not the person's turns and are skipped).
//! - `message.updated` with `info.role: "user"`: a prompt taken (repeated as OpenCode updates it:
//!   the first one starts the turn).
//! - `message.part.updated` with `part.type: "text"`: the text of a message, whole so far.
//! - `message.updated` with `info.role: "assistant"` and `info.time.completed`: one model
//!   request done, with its `tokens` (`input` without the cached ones, `cache.read`, `output`,
//!   `reasoning`, `total`) and its `error` when it failed.
//! - `session.status` `{"type": "retry", "attempt", "message"}`: OpenCode retries the request.
//! - `session.error`: the turn failed (`APIError` with `data.statusCode`, or
//!   `MessageAbortedError` when the person pressed Esc).
//! - `session.idle`: the session's work is over: the turn ends, failed if an error came first.

use std::collections::HashSet;

use serde_json::Value;

use super::{ErrorKind, RecordFact, TurnError, TurnOutcome, Usage, UsageTally};

/// A parser for one OpenCode server's events, fed in order. It remembers the sessions that are
/// the person's, the turn in progress, the last answer, the error seen and the usage so far.
#[derive(Debug, Default)]
pub struct OpenCodeRecords {
    /// Where the person's OpenCode works: sessions in another folder are not theirs.
    directory: Option<std::path::PathBuf>,
    sessions: HashSet<String>,
    seen_messages: HashSet<String>,
    assistant_messages: HashSet<String>,
    turn_id: Option<String>,
    answer: Option<String>,
    error: Option<(TurnOutcome, TurnError)>,
    usage: UsageTally,
}

impl OpenCodeRecords {
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser that takes only sessions working in `dir` (OpenCode's `info.directory`).
    pub fn for_directory(dir: &std::path::Path) -> Self {
        OpenCodeRecords {
            directory: Some(dir.to_path_buf()),
            ..Self::default()
        }
    }

    /// The facts in one event's JSON (an SSE `data:` payload).
    pub fn feed(&mut self, line: &str) -> Vec<RecordFact> {
        let Ok(event) = serde_json::from_str::<Value>(line.trim()) else {
            return Vec::new();
        };
        let props = &event["properties"];
        if event["type"] == "session.created" {
            return self.session_created(&props["info"]);
        }
        let session = props["sessionID"].as_str().unwrap_or("");
        if !self.sessions.contains(session) {
            return Vec::new();
        }
        match event["type"].as_str() {
            Some("message.updated") => self.message(&props["info"]),
            Some("message.part.updated") => {
                let part = &props["part"];
                let of_answer = part["messageID"]
                    .as_str()
                    .is_some_and(|m| self.assistant_messages.contains(m));
                if let (true, Some("text"), Some(text)) =
                    (of_answer, part["type"].as_str(), part["text"].as_str())
                    && !text.is_empty()
                {
                    self.answer = Some(text.to_string());
                }
                Vec::new()
            }
            Some("session.status") if props["status"]["type"] == "retry" => {
                let status = &props["status"];
                vec![RecordFact::Retrying {
                    attempt: status["attempt"]
                        .as_u64()
                        .and_then(|a| u32::try_from(a).ok()),
                    max: None,
                    error: TurnError::reported(status["message"].as_str().unwrap_or(""), None),
                }]
            }
            Some("session.error") => {
                if self.turn_id.is_some() {
                    self.error = Some(error_of(&props["error"]));
                }
                Vec::new()
            }
            Some("session.idle") => self.end(),
            _ => Vec::new(),
        }
    }

    fn session_created(&mut self, info: &Value) -> Vec<RecordFact> {
        let Some(id) = info["id"].as_str() else {
            return Vec::new();
        };
        let directory = info["directory"].as_str().map(std::path::Path::new);
        let elsewhere = match (&self.directory, directory) {
            (Some(ours), Some(theirs)) => !same_dir(ours, theirs),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if info["parentID"].is_string() || elsewhere {
            return Vec::new();
        }
        self.sessions.insert(id.to_string());
        vec![RecordFact::SessionMeta {
            agent_session_id: id.to_string(),
            cwd: info["directory"].as_str().map(str::to_string),
            parent_session_id: None,
        }]
    }

    fn message(&mut self, info: &Value) -> Vec<RecordFact> {
        let Some(id) = info["id"].as_str() else {
            return Vec::new();
        };
        match info["role"].as_str() {
            Some("user") if self.seen_messages.insert(id.to_string()) => {
                self.turn_id = Some(id.to_string());
                self.answer = None;
                self.error = None;
                vec![RecordFact::TurnStarted {
                    turn_id: self.turn_id.clone(),
                }]
            }
            Some("assistant") => {
                self.assistant_messages.insert(id.to_string());
                let done = info["time"]["completed"].is_number();
                if done && self.seen_messages.insert(id.to_string()) {
                    self.usage(&info["tokens"], info["modelID"].as_str())
                        .into_iter()
                        .collect()
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }

    fn end(&mut self) -> Vec<RecordFact> {
        let Some(turn_id) = self.turn_id.take() else {
            return Vec::new();
        };
        let (outcome, answer, error) = match self.error.take() {
            Some((outcome, error)) => (outcome, None, Some(error)),
            None => (TurnOutcome::Completed, self.answer.take(), None),
        };
        self.answer = None;
        vec![RecordFact::TurnEnded {
            turn_id: Some(turn_id),
            outcome,
            answer,
            error,
        }]
    }

    fn usage(&mut self, tokens: &Value, model: Option<&str>) -> Option<RecordFact> {
        let count = |v: &Value| v.as_u64().unwrap_or(0);
        let cached = count(&tokens["cache"]["read"]);
        let input = count(&tokens["input"]) + cached;
        // OpenCode counts the reasoning tokens apart too; harnex's output includes them.
        let reasoning = count(&tokens["reasoning"]);
        let output = count(&tokens["output"]) + reasoning;
        // A request that failed before the model answered counts nothing.
        if input + output == 0 {
            return None;
        }
        let turn = Usage {
            // OpenCode counts the cached tokens apart; harnex's input includes them.
            input_tokens: Some(input),
            cached_input_tokens: Some(cached),
            output_tokens: Some(output),
            reasoning_tokens: Some(reasoning),
            total_tokens: tokens["total"].as_u64().or(Some(input + output)),
        };
        Some(self.usage.request(turn, model))
    }
}

fn same_dir(a: &std::path::Path, b: &std::path::Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// The outcome and error of a `session.error`.
fn error_of(error: &Value) -> (TurnOutcome, TurnError) {
    let data = &error["data"];
    let message = data["message"]
        .as_str()
        .or(error["name"].as_str())
        .unwrap_or("")
        .to_string();
    if error["name"] == "MessageAbortedError" {
        let aborted = TurnError {
            kind: ErrorKind::Other,
            message,
            http_status: None,
        };
        return (TurnOutcome::Interrupted, aborted);
    }
    let http_status = data["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok());
    (
        TurnOutcome::Failed,
        TurnError::reported(message, http_status),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "Done. The mock agent finished the task.";

    /// A turn answered after 2 s, then a turn the mock failed with 400 (OpenCode retried it five
    /// times on the words "Rate limit reached", then gave up).
    fn facts() -> Vec<RecordFact> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/records/opencode-1.18.33-events.jsonl");
        let text = std::fs::read_to_string(path).expect("fixture");
        let mut records = OpenCodeRecords::new();
        text.lines().flat_map(|l| records.feed(l)).collect()
    }

    #[test]
    fn the_session_is_named_and_each_prompt_is_one_turn() {
        let facts = facts();
        assert!(
            matches!(&facts[0], RecordFact::SessionMeta { agent_session_id, cwd, .. }
            if agent_session_id == "ses_dc3ca25b8ffeXtl5w3cnZ0UHcv"
                && cwd.as_deref() == Some("/tmp/rec/repo"))
        );
        let started = facts
            .iter()
            .filter(|f| matches!(f, RecordFact::TurnStarted { .. }))
            .count();
        assert_eq!(started, 2);
    }

    #[test]
    fn an_answered_turn_is_completed_and_a_failed_one_failed_with_its_status() {
        let ends: Vec<_> = facts()
            .into_iter()
            .filter_map(|f| match f {
                RecordFact::TurnEnded {
                    outcome,
                    answer,
                    error,
                    ..
                } => Some((outcome, answer, error)),
                _ => None,
            })
            .collect();
        assert_eq!(ends.len(), 2, "{ends:?}");
        assert_eq!(
            ends[0],
            (TurnOutcome::Completed, Some(ANSWER.to_string()), None)
        );
        let (outcome, answer, error) = &ends[1];
        assert_eq!((*outcome, answer), (TurnOutcome::Failed, &None));
        let error = error.clone().expect("error");
        assert_eq!(
            (error.kind, error.http_status, error.message.as_str()),
            (ErrorKind::Other, Some(400), "Rate limit reached")
        );
    }

    #[test]
    fn usage_counts_the_cached_tokens_in_the_input_once_per_request() {
        let usage: Vec<_> = facts()
            .into_iter()
            .filter_map(|f| match f {
                RecordFact::Usage {
                    turn,
                    session,
                    model,
                } => Some((turn, session, model)),
                _ => None,
            })
            .collect();
        assert_eq!(
            usage.len(),
            1,
            "the failed request counts nothing: {usage:?}"
        );
        let (turn, _, model) = usage[0].clone();
        let turn = turn.expect("turn");
        assert_eq!(
            (
                turn.input_tokens,
                turn.cached_input_tokens,
                turn.output_tokens
            ),
            (Some(1234), Some(200), Some(56))
        );
        assert_eq!(
            (turn.reasoning_tokens, turn.total_tokens),
            (Some(7), Some(1290))
        );
        assert_eq!(model.as_deref(), Some("mock-model"));
    }

    #[test]
    fn retries_are_reported_while_opencode_retries() {
        let retries: Vec<_> = facts()
            .into_iter()
            .filter_map(|f| match f {
                RecordFact::Retrying { attempt, .. } => attempt,
                _ => None,
            })
            .collect();
        assert_eq!(retries, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn an_aborted_turn_is_interrupted_and_sub_agent_sessions_are_skipped() {
        let mut records = OpenCodeRecords::new();
        records.feed(r#"{"type":"session.created","properties":{"info":{"id":"s1"}}}"#);
        let child =
            r#"{"type":"session.created","properties":{"info":{"id":"s2","parentID":"s1"}}}"#;
        assert!(records.feed(child).is_empty());
        let child_prompt = r#"{"type":"message.updated","properties":{"sessionID":"s2","info":{"id":"m0","role":"user"}}}"#;
        assert!(records.feed(child_prompt).is_empty());
        let prompt = r#"{"type":"message.updated","properties":{"sessionID":"s1","info":{"id":"m1","role":"user"}}}"#;
        assert_eq!(records.feed(prompt).len(), 1);
        assert!(
            records.feed(prompt).is_empty(),
            "an update of the same prompt"
        );
        records.feed(r#"{"type":"session.error","properties":{"sessionID":"s1","error":{"name":"MessageAbortedError","data":{"message":"The operation was aborted."}}}}"#);
        let idle = r#"{"type":"session.idle","properties":{"sessionID":"s1"}}"#;
        let facts = records.feed(idle);
        assert!(matches!(
            facts.as_slice(),
            [RecordFact::TurnEnded {
                outcome: TurnOutcome::Interrupted,
                ..
            }]
        ));
        assert!(records.feed(idle).is_empty(), "a second idle ends nothing");
    }

    #[test]
    fn sessions_in_another_folder_are_not_followed() {
        let mut records = OpenCodeRecords::for_directory(std::path::Path::new("/repo"));
        let other = r#"{"type":"session.created","properties":{"info":{"id":"s1","directory":"/elsewhere"}}}"#;
        assert!(records.feed(other).is_empty());
        let ours =
            r#"{"type":"session.created","properties":{"info":{"id":"s2","directory":"/repo"}}}"#;
        assert_eq!(records.feed(ours).len(), 1);
    }
}
