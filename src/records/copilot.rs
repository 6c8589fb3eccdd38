//! The Copilot CLI's records: `$COPILOT_HOME/session-state/<session uuid>/events.jsonl`, read row
//! by row into [`RecordFact`]s (checked on 1.0.102; `tests/fixtures/records/README.md`).
//!
//! Each row is `{"type", "data", "id", "timestamp", "parentId"}`. The rows that carry facts:
//! - `session.start` (first row): `sessionId`, `context.cwd`.
//! - `user.message`: a prompt taken; its `interactionId` names the turn.
//! - `assistant.turn_start` / `assistant.turn_end`: one model round each. A turn that runs a
//!   tool has several rounds; it ends with the round whose `assistant.message` asks for no tool.
//! - `session.usage_record`: one model request's `usage` (`inputTokens`, `outputTokens`,
//!   `cacheReadTokens`, `model`). Copilot writes no session total: the parser adds them up.
//! - `assistant.message`: the round's `content` and `toolRequests`.
//! - `session.error` (`errorType`, `message`, `statusCode`): the model failed. Copilot writes
//!   it after the failed round's `assistant.turn_end`, which has no message before it: such a
//!   round ends nothing until the error (or the next prompt) says how.
//!
//! - a rewind (Esc Esc while Copilot works) cancels the turn and puts a new file in place of the
//!   old one, without the turn's rows: the follower tells the parser
//!   ([`CopilotRecords::rewound`]) and the turn ends interrupted.
//!
//! The file is bound before the spawn: harnex starts Copilot with `--session-id <uuid>`. Feed
//! only whole lines; a line that is not a JSON object, or a row
//! this parser does not know, yields no facts.

use serde_json::Value;

use super::{ErrorKind, RecordFact, TurnError, TurnOutcome, Usage, UsageTally, kind_of_words};

/// A parser for one `events.jsonl`, fed its lines in order. It remembers the turn in progress,
/// its last answer, whether the last round asked for a tool, and the session's usage so far.
#[derive(Debug, Default)]
pub struct CopilotRecords {
    turn_id: Option<String>,
    answer: Option<String>,
    wants_tool: bool,
    /// Whether the current model round wrote a message (a failed round writes none).
    round_answered: bool,
    usage: UsageTally,
}

impl CopilotRecords {
    pub fn new() -> Self {
        Self::default()
    }

    /// The facts in one line (without or with its trailing newline).
    pub fn feed(&mut self, line: &str) -> Vec<RecordFact> {
        let Ok(row) = serde_json::from_str::<Value>(line.trim()) else {
            return Vec::new();
        };
        let data = &row["data"];
        let fact = match row["type"].as_str() {
            Some("session.start") => data["sessionId"]
                .as_str()
                .map(|id| RecordFact::SessionMeta {
                    agent_session_id: id.to_string(),
                    cwd: data["context"]["cwd"].as_str().map(str::to_string),
                    parent_session_id: None,
                }),
            Some("user.message") => {
                self.turn_id = data["interactionId"].as_str().map(str::to_string);
                self.answer = None;
                self.wants_tool = false;
                self.round_answered = false;
                Some(RecordFact::TurnStarted {
                    turn_id: self.turn_id.clone(),
                })
            }
            Some("session.usage_record") => self.usage(&data["usage"]),
            Some("assistant.turn_start") => {
                self.round_answered = false;
                None
            }
            Some("assistant.message") => {
                self.round_answered = true;
                self.wants_tool = data["toolRequests"]
                    .as_array()
                    .is_some_and(|t| !t.is_empty());
                if let Some(text) = data["content"].as_str().filter(|t| !t.is_empty()) {
                    self.answer = Some(text.to_string());
                }
                None
            }
            // A round that asked for a tool is followed by another round of the same turn; a
            // round without a message failed, and the error row comes next.
            Some("assistant.turn_end") if !self.wants_tool && self.round_answered => {
                self.turn_id.take().map(|turn_id| RecordFact::TurnEnded {
                    turn_id: Some(turn_id),
                    outcome: TurnOutcome::Completed,
                    answer: self.answer.take(),
                    error: None,
                })
            }
            Some("session.error") => self.turn_id.take().map(|turn_id| {
                let http_status = data["statusCode"]
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok());
                let message = data["message"].as_str().unwrap_or("");
                let without_status = match data["errorType"].as_str() {
                    Some("rate_limit") => ErrorKind::RateLimited,
                    _ => kind_of_words(message),
                };
                RecordFact::TurnEnded {
                    turn_id: Some(turn_id),
                    outcome: TurnOutcome::Failed,
                    answer: None,
                    error: Some(TurnError::with_status_or(
                        message,
                        http_status,
                        without_status,
                    )),
                }
            }),
            _ => None,
        };
        fact.into_iter().collect()
    }

    /// Copilot rewrote its file without the last turn: the person rewound (Esc Esc while it
    /// worked), which cancels the turn in progress.
    pub fn rewound(&mut self) -> Vec<RecordFact> {
        self.answer = None;
        self.turn_id
            .take()
            .map(|turn_id| RecordFact::TurnEnded {
                turn_id: Some(turn_id),
                outcome: TurnOutcome::Interrupted,
                answer: None,
                error: None,
            })
            .into_iter()
            .collect()
    }

    fn usage(&mut self, usage: &Value) -> Option<RecordFact> {
        let count = |key: &str| usage[key].as_u64();
        let input = count("inputTokens")?;
        let output = count("outputTokens").unwrap_or(0);
        let turn = Usage {
            input_tokens: Some(input),
            cached_input_tokens: count("cacheReadTokens"),
            output_tokens: Some(output),
            reasoning_tokens: count("reasoningTokens"),
            total_tokens: Some(input + output),
        };
        Some(self.usage.request(turn, usage["model"].as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "Done. The mock agent finished the task.";

    /// A trusted folder, a 4 s turn, then a turn whose model runs `touch harnex-tool-ran` after
    /// the person approved it (two model rounds), then Ctrl+D.
    fn facts() -> Vec<RecordFact> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/records/copilot-1.0.102-turn-command.jsonl");
        let text = std::fs::read_to_string(path).expect("fixture");
        let mut records = CopilotRecords::new();
        text.lines().flat_map(|l| records.feed(l)).collect()
    }

    #[test]
    fn the_first_row_names_the_session_and_its_folder() {
        let RecordFact::SessionMeta {
            agent_session_id,
            cwd,
            ..
        } = &facts()[0]
        else {
            panic!("{:?}", facts()[0])
        };
        assert_eq!(agent_session_id, "a43bd4f9-0eb2-49a7-b2b3-8326bcf51d17");
        assert_eq!(cwd.as_deref(), Some("/tmp/wtf-rec/cp/repo"));
    }

    #[test]
    fn each_prompt_is_one_turn_even_when_its_tool_takes_two_rounds() {
        let facts = facts();
        let started = facts
            .iter()
            .filter(|f| matches!(f, RecordFact::TurnStarted { .. }))
            .count();
        let ended: Vec<_> = facts
            .iter()
            .filter_map(|f| match f {
                RecordFact::TurnEnded {
                    outcome, answer, ..
                } => Some((*outcome, answer.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(started, 2);
        assert_eq!(
            ended,
            [
                (TurnOutcome::Completed, Some(ANSWER.to_string())),
                (TurnOutcome::Completed, Some(ANSWER.to_string()))
            ]
        );
        // The tool turn ends after its second round, not after the one that asked for the tool.
        let last_usage = facts
            .iter()
            .rposition(|f| matches!(f, RecordFact::Usage { .. }))
            .expect("usage");
        let last_end = facts
            .iter()
            .rposition(|f| matches!(f, RecordFact::TurnEnded { .. }))
            .expect("end");
        assert!(last_usage < last_end);
    }

    #[test]
    fn every_request_counts_and_the_session_adds_them_up() {
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
        assert_eq!(usage.len(), 3, "three model requests: {usage:?}");
        let (turn, session, model) = usage.last().cloned().expect("usage");
        assert_eq!(model.as_deref(), Some("mock-model"));
        let turn = turn.expect("turn usage");
        assert_eq!(turn.input_tokens, Some(1234));
        assert_eq!(turn.output_tokens, Some(56));
        assert_eq!(turn.total_tokens, Some(1290));
        let session = session.expect("session usage");
        assert_eq!(session.input_tokens, Some(3 * 1234));
        assert_eq!(session.total_tokens, Some(3 * 1290));
    }

    /// A 429 on every attempt: Copilot retries 5 times, writes the round's `turn_end` with no
    /// message, then `session.error`.
    #[test]
    fn a_turn_the_model_failed_ends_failed_with_the_error_not_completed() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/records/copilot-1.0.102-rate-limited.jsonl");
        let text = std::fs::read_to_string(path).expect("fixture");
        let mut records = CopilotRecords::new();
        let ends: Vec<_> = text
            .lines()
            .flat_map(|l| records.feed(l))
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
        assert_eq!(ends.len(), 1, "{ends:?}");
        let (outcome, answer, error) = ends[0].clone();
        assert_eq!(outcome, TurnOutcome::Failed);
        assert_eq!(answer, None);
        let error = error.expect("the error");
        assert_eq!(error.kind, ErrorKind::RateLimited);
        assert_eq!(error.http_status, Some(429));
        assert!(
            error.message.contains("429 Rate limit reached"),
            "{error:?}"
        );
    }

    #[test]
    fn torn_or_unknown_rows_yield_nothing() {
        let mut records = CopilotRecords::new();
        assert!(records.feed("{\"type\": \"user.mess").is_empty());
        assert!(
            records
                .feed("{\"type\": \"hook.start\", \"data\": {}}")
                .is_empty()
        );
        // A turn end with no turn in progress is not a second end.
        assert!(
            records
                .feed("{\"type\": \"assistant.turn_end\", \"data\": {\"turnId\": \"0\"}}")
                .is_empty()
        );
    }

    #[test]
    fn a_rewind_interrupts_the_turn_in_progress_and_only_it() {
        let mut records = CopilotRecords::new();
        assert!(records.rewound().is_empty(), "no turn, nothing to undo");
        records.feed(r#"{"type":"user.message","data":{"interactionId":"i1"}}"#);
        records.feed(r#"{"type":"assistant.turn_start","data":{"turnId":"0"}}"#);
        let facts = records.rewound();
        assert!(matches!(
            facts.as_slice(),
            [RecordFact::TurnEnded { outcome: TurnOutcome::Interrupted, turn_id: Some(id), .. }]
                if id == "i1"
        ));
        assert!(records.rewound().is_empty());
    }
}
