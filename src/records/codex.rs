//! Codex's records: the rollout file (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl`)
//! read row by row into [`RecordFact`]s.
//!
//! Each row is `{"timestamp", "type", "payload"}`. The rows that carry facts (checked on Codex
//! 0.169.0 and 0.171.0, which write the same rows; see `tests/fixtures/records/README.md`):
//! - `session_meta` (first row): `id`, `cwd`, `source` (a sub-agent's names its parent thread;
//!   its `session_id` is the parent's, so a rollout is known by `id`, never by `session_id`).
//! - `turn_context`: the turn's `model` — kept to label the usage that follows.
//! - `event_msg` `task_started` (`turn_id`), `token_count` (`info` null until the model
//!   answers; then `total_token_usage` for the session, `last_token_usage` for the request),
//!   `task_complete` (`last_agent_message`, and `error` when the model failed), `turn_aborted`,
//!   `item_completed` with a `CollabAgentToolCall` item (`spawn_agent`: the child thread ids).
//!
//! Codex does not write its retries (`Reconnecting... 2/5`) to the rollout: `stream_error` rows
//! are read if a version ever writes them, but the screen is where retries show today.
//! `error` rows are read the same way: a turn that ends without an answer after one is failed.
//!
//! Feed only whole lines (the follower keeps a partial last line until its newline arrives).
//! A line that is not a JSON object, or a row this parser does not know, yields no facts.

use serde_json::Value;

use super::{ErrorKind, RecordFact, TurnError, TurnOutcome, Usage, kind_of_status};

/// A parser for one rollout file, fed its lines in order. It remembers what later rows need:
/// the model of the current turn and an `error` row seen during it.
#[derive(Debug, Default)]
pub struct CodexRecords {
    model: Option<String>,
    turn_error: Option<TurnError>,
}

impl CodexRecords {
    pub fn new() -> Self {
        Self::default()
    }

    /// The facts in one rollout line (without or with its trailing newline).
    pub fn feed(&mut self, line: &str) -> Vec<RecordFact> {
        let Ok(row) = serde_json::from_str::<Value>(line.trim()) else {
            return Vec::new();
        };
        let payload = &row["payload"];
        match row["type"].as_str() {
            Some("session_meta") => session_meta(payload).into_iter().collect(),
            Some("turn_context") => {
                if let Some(model) = payload["model"].as_str() {
                    self.model = Some(model.to_string());
                }
                Vec::new()
            }
            Some("event_msg") if payload["type"] == "item_completed" => spawned(&payload["item"]),
            Some("event_msg") => self.event(payload).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    fn event(&mut self, payload: &Value) -> Option<RecordFact> {
        match payload["type"].as_str()? {
            "task_started" => {
                self.turn_error = None;
                Some(RecordFact::TurnStarted {
                    turn_id: turn_id(payload),
                })
            }
            "token_count" => {
                let info = &payload["info"];
                let turn = usage(&info["last_token_usage"]);
                let session = usage(&info["total_token_usage"]);
                if turn.is_none() && session.is_none() {
                    // `info: null`: a request went out, nothing was counted yet.
                    return None;
                }
                Some(RecordFact::Usage {
                    turn,
                    session,
                    model: self.model.clone(),
                })
            }
            "task_complete" => Some(self.task_complete(payload)),
            "turn_aborted" => Some(RecordFact::TurnEnded {
                turn_id: turn_id(payload),
                outcome: TurnOutcome::Interrupted,
                answer: None,
                error: None,
            }),
            "stream_error" => {
                let error = turn_error(payload)?;
                let (attempt, max) = attempt_of(&error.message)
                    .or_else(|| payload["additional_details"].as_str().and_then(attempt_of))
                    .unzip();
                Some(RecordFact::Retrying {
                    attempt,
                    max,
                    error,
                })
            }
            "error" => {
                self.turn_error = turn_error(payload);
                None
            }
            _ => None,
        }
    }

    fn task_complete(&mut self, payload: &Value) -> RecordFact {
        let answer = payload["last_agent_message"].as_str().map(str::to_string);
        let pending = self.turn_error.take();
        // The error Codex gives up with is on `task_complete` itself (0.169, 0.171); an earlier
        // `error` row counts only when the turn produced no answer.
        let error = turn_error(&payload["error"]).or(if answer.is_none() { pending } else { None });
        let outcome = if error.is_some() {
            TurnOutcome::Failed
        } else {
            TurnOutcome::Completed
        };
        RecordFact::TurnEnded {
            turn_id: turn_id(payload),
            outcome,
            answer,
            error,
        }
    }
}

/// The threads a `spawn_agent` call started: an `item_completed` row whose item is a
/// `CollabAgentToolCall` names them in `receiver_thread_ids`. Each child writes its own
/// rollout, whose `session_meta` names this thread as `parent_thread_id`.
fn spawned(item: &Value) -> Vec<RecordFact> {
    if item["type"] != "CollabAgentToolCall" || item["tool"] != "spawn_agent" {
        return Vec::new();
    }
    let Some(ids) = item["receiver_thread_ids"].as_array() else {
        return Vec::new();
    };
    ids.iter()
        .filter_map(Value::as_str)
        .map(|id| RecordFact::Subagent {
            agent_session_id: Some(id.to_string()),
            started: true,
        })
        .collect()
}

fn session_meta(payload: &Value) -> Option<RecordFact> {
    let id = payload["id"].as_str()?;
    Some(RecordFact::SessionMeta {
        agent_session_id: id.to_string(),
        cwd: payload["cwd"].as_str().map(str::to_string),
        parent_session_id: find_str(&payload["source"], "parent_thread_id", 4)
            .or_else(|| payload["parent_thread_id"].as_str())
            .map(str::to_string),
    })
}

/// A sub-agent's `source` is `{"subagent": {"thread_spawn": {"parent_thread_id": …}}}`; look
/// for the key a few levels down rather than pin the nesting, which changes between versions.
fn find_str<'a>(value: &'a Value, key: &str, depth: u8) -> Option<&'a str> {
    let map = value.as_object()?;
    if let Some(found) = map.get(key).and_then(Value::as_str) {
        return Some(found);
    }
    if depth == 0 {
        return None;
    }
    map.values().find_map(|v| find_str(v, key, depth - 1))
}

fn turn_id(payload: &Value) -> Option<String> {
    payload["turn_id"]
        .as_str()
        .or(payload["turn_attribution"]["turn_id"].as_str())
        .map(str::to_string)
}

fn usage(value: &Value) -> Option<Usage> {
    if !value.is_object() {
        return None;
    }
    let n = |key: &str| value[key].as_u64();
    Some(Usage {
        input_tokens: n("input_tokens"),
        cached_input_tokens: n("cached_input_tokens"),
        output_tokens: n("output_tokens"),
        reasoning_tokens: n("reasoning_output_tokens"),
        total_tokens: n("total_tokens"),
    })
}

/// An error as Codex writes it — a `task_complete`'s `error`, or an `error`/`stream_error`
/// row's payload: `message` plus `codex_error_info`, which is a string for unit variants
/// (`"other"`, `"unauthorized"`) and an object for the rest
/// (`{"response_too_many_failed_attempts": {"http_status_code": 429}}`).
fn turn_error(source: &Value) -> Option<TurnError> {
    let message = source["message"].as_str()?.to_string();
    let info = &source["codex_error_info"];
    let (variant, http_status) = match info {
        Value::String(name) => (name.as_str(), None),
        Value::Object(map) => match map.iter().next() {
            Some((name, detail)) => (
                name.as_str(),
                detail["http_status_code"]
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok()),
            ),
            None => ("", None),
        },
        _ => ("", None),
    };
    Some(TurnError {
        kind: kind_of(variant, http_status, &message),
        message,
        http_status,
    })
}

/// The kind of a Codex error: its HTTP status first, then its `codex_error_info` variant,
/// then its words (a cut stream is `"other"` with `stream disconnected before completion: …`).
fn kind_of(variant: &str, http_status: Option<u16>, message: &str) -> ErrorKind {
    if let Some(kind) = http_status
        .map(kind_of_status)
        .filter(|k| *k != ErrorKind::Other)
    {
        return kind;
    }
    match variant {
        "usage_limit_exceeded" => return ErrorKind::RateLimited,
        "unauthorized" => return ErrorKind::Auth,
        "internal_server_error" | "server_overloaded" => return ErrorKind::Overloaded,
        "http_connection_failed"
        | "response_stream_connection_failed"
        | "response_stream_disconnected" => return ErrorKind::Disconnected,
        _ => {}
    }
    let lower = message.to_ascii_lowercase();
    if lower.contains("stream disconnected") || lower.contains("error sending request") {
        ErrorKind::Disconnected
    } else if lower.contains("429") || lower.contains("rate limit") {
        ErrorKind::RateLimited
    } else if lower.contains("overloaded") {
        ErrorKind::Overloaded
    } else if lower.contains("401") || lower.contains("unauthorized") {
        ErrorKind::Auth
    } else {
        ErrorKind::Other
    }
}

/// `Reconnecting... 2/5` → (2, 5).
fn attempt_of(text: &str) -> Option<(u32, u32)> {
    let (before, after) = text.split_once('/')?;
    let attempt = before.rsplit(|c: char| !c.is_ascii_digit()).next()?;
    let max = after.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((attempt.parse().ok()?, max.parse().ok()?))
}

#[cfg(test)]
#[path = "codex_tests.rs"]
mod tests;
