//! Gemini CLI's chat records: `~/.gemini/tmp/<project>/chats/session-<time>-<id8>.jsonl`, read
//! row by row into [`RecordFact`]s (checked on 0.61.0; `tests/fixtures/records/README.md`).
//!
//! The rows that carry facts:
//! - the header (first row): `sessionId` (the one harnex gave with `--session-id`).
//! - `{"type": "user", "content": [{"text"}]}`: a prompt taken (a row whose content is a tool's
//!   `functionResponse` continues the turn).
//! - `{"type": "gemini", "content", "tokens", "model"}`: one model reply with its request's
//!   `tokens` (`input`, `output`, `cached`, `thoughts`, `total`). A reply that calls a tool is
//!   written again under the same `id` with `toolCalls` once the tool ran: its tokens count once.
//!   The reply with text and no tool call ends the turn.
//! - `{"type": "error", "content"}`: the request failed and Gemini gave up on the turn
//!   (`[API Error: {"error": {"code": 400, …}}]`, or a quota's words without a status).
//! - `{"type": "info", "content": "Request cancelled."}`: the person pressed Esc.
//!
//! `{"$set": …}` rows update the header and say nothing about turns. Known gap: Gemini writes a
//! reply's text before the tool it asks for runs, with nothing in the row saying a tool follows,
//! so a reply with both text and a tool call reads as the turn's end.

use serde_json::Value;

use super::{RecordFact, TurnError, TurnOutcome, Usage, UsageTally};

/// A parser for one chat file, fed its lines in order. It remembers the turn in progress, the
/// replies already counted and the session's usage so far.
#[derive(Debug, Default)]
pub struct GeminiRecords {
    turn_id: Option<String>,
    counted: Vec<String>,
    usage: UsageTally,
}

impl GeminiRecords {
    pub fn new() -> Self {
        Self::default()
    }

    /// The facts in one line (without or with its trailing newline).
    pub fn feed(&mut self, line: &str) -> Vec<RecordFact> {
        let Ok(row) = serde_json::from_str::<Value>(line.trim()) else {
            return Vec::new();
        };
        if let Some(id) = row["sessionId"].as_str() {
            return vec![RecordFact::SessionMeta {
                agent_session_id: id.to_string(),
                cwd: None,
                parent_session_id: None,
            }];
        }
        let text = row["content"].as_str().unwrap_or("");
        match row["type"].as_str() {
            Some("user") if is_prompt(&row["content"]) => {
                self.turn_id = row["id"].as_str().map(str::to_string);
                vec![RecordFact::TurnStarted {
                    turn_id: self.turn_id.clone(),
                }]
            }
            Some("gemini") => self.reply(&row),
            Some("error") => self.end(TurnOutcome::Failed, None, Some(error_of(text))),
            Some("info") if text.trim() == "Request cancelled." => {
                self.end(TurnOutcome::Interrupted, None, None)
            }
            _ => Vec::new(),
        }
    }

    fn reply(&mut self, row: &Value) -> Vec<RecordFact> {
        let id = row["id"].as_str().unwrap_or("").to_string();
        let mut facts = Vec::new();
        if !self.counted.contains(&id) {
            facts.extend(self.usage(&row["tokens"], row["model"].as_str()));
            self.counted.push(id);
        }
        let calls_tool = row["toolCalls"].as_array().is_some_and(|c| !c.is_empty());
        let answer = row["content"].as_str().unwrap_or("");
        if !calls_tool && !answer.is_empty() {
            facts.extend(self.end(TurnOutcome::Completed, Some(answer.to_string()), None));
        }
        facts
    }

    fn end(
        &mut self,
        outcome: TurnOutcome,
        answer: Option<String>,
        error: Option<TurnError>,
    ) -> Vec<RecordFact> {
        // An error or a cancel outside a turn (a slash command's) ends nothing.
        let Some(turn_id) = self.turn_id.take() else {
            return Vec::new();
        };
        self.counted.clear();
        vec![RecordFact::TurnEnded {
            turn_id: Some(turn_id),
            outcome,
            answer,
            error,
        }]
    }

    fn usage(&mut self, tokens: &Value, model: Option<&str>) -> Option<RecordFact> {
        let count = |key: &str| tokens[key].as_u64();
        let input = count("input")?;
        let output = count("output").unwrap_or(0);
        let turn = Usage {
            input_tokens: Some(input),
            cached_input_tokens: count("cached"),
            output_tokens: Some(output),
            reasoning_tokens: count("thoughts"),
            total_tokens: count("total").or(Some(input + output)),
        };
        Some(self.usage.request(turn, model))
    }
}

/// A user row that is a prompt, not a tool's result handed back to the model.
fn is_prompt(content: &Value) -> bool {
    match content {
        Value::String(text) => !text.is_empty(),
        Value::Array(parts) => parts.iter().any(|p| p["text"].is_string()),
        _ => false,
    }
}

/// A failed request's error from Gemini's words: `[API Error: <the API's JSON error>]`, or its
/// own sentence (a quota's has no status in it).
fn error_of(text: &str) -> TurnError {
    let api = text
        .strip_prefix("[API Error: ")
        .and_then(|rest| {
            rest.split_once("]\n")
                .map_or(rest.strip_suffix(']'), |(j, _)| Some(j))
        })
        .and_then(|json| serde_json::from_str::<Value>(json).ok());
    let http_status = api
        .as_ref()
        .and_then(|v| v["error"]["code"].as_u64())
        .and_then(|c| u16::try_from(c).ok());
    let message = api
        .as_ref()
        .and_then(|v| v["error"]["message"].as_str())
        .unwrap_or(text);
    // The kind from the whole text: a quota's words may stand outside the API's message.
    TurnError::with_status_or(message, http_status, super::kind_of_words(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ErrorKind;

    const ANSWER: &str = "Done. The mock agent finished the task.";

    fn facts(name: &str) -> Vec<RecordFact> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/records")
            .join(name);
        let text = std::fs::read_to_string(path).expect("fixture");
        let mut records = GeminiRecords::new();
        text.lines().flat_map(|l| records.feed(l)).collect()
    }

    fn ends(facts: &[RecordFact]) -> Vec<(TurnOutcome, Option<String>, Option<TurnError>)> {
        facts
            .iter()
            .filter_map(|f| match f {
                RecordFact::TurnEnded {
                    outcome,
                    answer,
                    error,
                    ..
                } => Some((*outcome, answer.clone(), error.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn twenty_prompts_are_twenty_completed_turns_with_their_usage() {
        let facts = facts("gemini-0.61.0-twenty-turns.jsonl");
        assert!(
            matches!(&facts[0], RecordFact::SessionMeta { agent_session_id, .. }
            if agent_session_id == "59a506da-067f-416c-b5fd-6afc4f362d07")
        );
        let started = facts
            .iter()
            .filter(|f| matches!(f, RecordFact::TurnStarted { .. }))
            .count();
        assert_eq!(started, 20);
        let ends = ends(&facts);
        assert_eq!(ends.len(), 20);
        assert!(
            ends.iter()
                .all(|e| *e == (TurnOutcome::Completed, Some(ANSWER.into()), None))
        );
        let Some(RecordFact::Usage {
            turn,
            session,
            model,
        }) = facts
            .iter()
            .rfind(|f| matches!(f, RecordFact::Usage { .. }))
        else {
            panic!("no usage")
        };
        let turn = turn.clone().expect("turn usage");
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
        let session = session.clone().expect("session usage");
        assert_eq!(session.total_tokens, Some(20 * 1290));
        assert_eq!(model.as_deref(), Some("gemini-3.8-flash"));
    }

    #[test]
    fn a_tool_turn_ends_with_the_reply_after_the_tool_and_counts_each_reply_once() {
        let facts = facts("gemini-0.61.0-tool.jsonl");
        let started = facts
            .iter()
            .filter(|f| matches!(f, RecordFact::TurnStarted { .. }))
            .count();
        assert_eq!(started, 1, "the tool's result is not a prompt");
        assert_eq!(
            ends(&facts),
            [(TurnOutcome::Completed, Some(ANSWER.into()), None)]
        );
        let usage = facts
            .iter()
            .filter(|f| matches!(f, RecordFact::Usage { .. }))
            .count();
        assert_eq!(usage, 2, "the call (written twice) and the answer");
        assert!(matches!(facts.last(), Some(RecordFact::TurnEnded { .. })));
    }

    #[test]
    fn failed_requests_end_their_turns_failed_with_the_status_or_the_quota() {
        let ends = ends(&facts("gemini-0.61.0-errors.jsonl"));
        assert_eq!(ends.len(), 2, "{ends:?}");
        let (outcome, answer, error) = &ends[0];
        assert_eq!((*outcome, answer), (TurnOutcome::Failed, &None));
        let error = error.clone().expect("error");
        assert_eq!(error.kind, ErrorKind::Other);
        assert_eq!(error.http_status, Some(400));
        assert_eq!(error.message, "Request contains an invalid argument.");
        let quota = ends[1].2.clone().expect("error");
        assert_eq!(ends[1].0, TurnOutcome::Failed);
        assert_eq!(
            (quota.kind, quota.http_status),
            (ErrorKind::RateLimited, None)
        );
        assert!(quota.message.contains("Quota exceeded"), "{quota:?}");
    }

    #[test]
    fn a_cancelled_request_is_an_interrupted_turn_and_stray_rows_end_nothing() {
        let mut records = GeminiRecords::new();
        assert!(
            records
                .feed(r#"{"type":"error","content":"[API Error: x]"}"#)
                .is_empty()
        );
        records.feed(r#"{"id":"u1","type":"user","content":[{"text":"Go"}]}"#);
        let facts = records.feed(r#"{"id":"i1","type":"info","content":"Request cancelled."}"#);
        assert_eq!(ends(&facts), [(TurnOutcome::Interrupted, None, None)]);
        assert!(records.feed("not json").is_empty());
    }

    #[test]
    fn api_errors_are_read_from_their_json_and_5xx_is_overloaded() {
        let error = error_of(
            r#"[API Error: {"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]"#,
        );
        assert_eq!(
            (error.kind, error.http_status, error.message.as_str()),
            (ErrorKind::Overloaded, Some(503), "The model is overloaded.")
        );
        let error = error_of("[API Error: fetch failed]");
        assert_eq!(error.kind, ErrorKind::Disconnected);
    }
}
