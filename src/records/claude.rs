//! Claude's records: parsing its transcript JSONL rows into [`RecordFact`]s.
//!
//! Claude Code writes `$CLAUDE_CONFIG_DIR/projects/<cwd with / as ->/<session-id>.jsonl`, one JSON
//! object a line with a `type`. What each fact is read from (checked on 2.1.328 against a mock
//! model, see `tests/fixtures/records/README.md`):
//! - `SessionMeta`: the first row carrying both `sessionId` and `cwd` (the first `user` or
//!   `attachment` row; the `mode`/`permission-mode` rows before it have no `cwd`).
//! - `TurnStarted`: a `user` row that is a prompt — not a tool result, not meta, not a sidechain,
//!   not the `[Request interrupted by user]` marker. Its `promptId` is the turn id.
//! - `Usage`: `assistant` rows' `message.usage`. Claude writes one row per content block (thinking,
//!   text, tool use), each repeating the whole message's usage, so usage is kept per `message.id`
//!   and a message counts once however many rows it has. `input_tokens` here is every prompt token
//!   the request paid for — Anthropic's `input_tokens` + `cache_creation_input_tokens` +
//!   `cache_read_input_tokens` — so it means what Codex's does (input including cached);
//!   `cached_input_tokens` is `cache_read_input_tokens`; `reasoning_tokens` is
//!   `output_tokens_details.thinking_tokens`; `total_tokens` is input + output.
//! - `Retrying`: Claude keeps its `system`/`api_error` retry rows out of the transcript (2.1.328),
//!   but writes one `api-request` row per attempt, when the attempt starts (after the back-off).
//!   A second main-thread request with no reply in between is a retry; the transcript does not
//!   say why, so its error kind is `Other` until the turn's end tells. A `system`/`api_error` row,
//!   should a version write one, gives the attempt, the maximum and the HTTP status.
//! - `TurnEnded`: `Completed` on the `system`/`turn_duration` row Claude writes when a turn is done,
//!   with the text of the last main-thread assistant message as the answer; `Failed` on the
//!   assistant row Claude writes when it gives up (`isApiErrorMessage`, `apiErrorStatus`,
//!   `apiError`, its text is Claude's own message; no `turn_duration` follows it); `Interrupted` on
//!   the `[Request interrupted by user…]` user row.
//! - `Subagent`: the first row of each sidechain (`isSidechain: true`, keyed by `agentId`).
//!   Sidechain rows never start, end or count towards the main turn.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{ErrorKind, RecordFact, TurnError, TurnOutcome, Usage, kind_of_status};

/// What Claude writes as the user's turn when the person pressed Esc.
const INTERRUPT_MARKER: &str = "[Request interrupted by user";

/// The query source of the main conversation's model requests (`api-request` rows).
const MAIN_QUERY_SOURCE: &str = "repl_main_thread";

/// The parser's memory between rows of one transcript.
#[derive(Debug, Default)]
pub struct ClaudeRecords {
    meta_sent: bool,
    /// The open turn's id (`promptId`), `Some(None)` for a turn without one.
    open_turn: Option<Option<String>>,
    /// The last main-thread assistant message with text: (message id, its text so far).
    answer: Option<(String, String)>,
    /// Main-thread requests since the last reply: more than one means Claude is retrying.
    requests_since_reply: u32,
    /// Usage per assistant message id, in first-seen order (a message may span several rows).
    usage_by_message: HashMap<String, Usage>,
    session: Usage,
    subagents: HashSet<String>,
}

impl ClaudeRecords {
    pub fn new() -> Self {
        Self::default()
    }

    /// The facts one transcript line adds. Unknown rows and malformed lines add none.
    pub fn feed(&mut self, line: &str) -> Vec<RecordFact> {
        let Ok(row) = serde_json::from_str::<Value>(line) else {
            return Vec::new();
        };
        if !row.is_object() {
            return Vec::new();
        }
        let mut facts = Vec::new();
        self.session_meta(&row, &mut facts);
        if row.get("isSidechain").and_then(Value::as_bool) == Some(true) {
            self.subagent(&row, &mut facts);
            return facts;
        }
        match str_at(&row, &["type"]) {
            Some("user") => self.user(&row, &mut facts),
            Some("assistant") => self.assistant(&row, &mut facts),
            Some("api-request") => self.api_request(&row, &mut facts),
            Some("system") => self.system(&row, &mut facts),
            _ => {}
        }
        facts
    }

    fn session_meta(&mut self, row: &Value, facts: &mut Vec<RecordFact>) {
        if self.meta_sent {
            return;
        }
        let (Some(id), Some(cwd)) = (str_at(row, &["sessionId"]), str_at(row, &["cwd"])) else {
            return;
        };
        self.meta_sent = true;
        facts.push(RecordFact::SessionMeta {
            agent_session_id: id.to_string(),
            cwd: Some(cwd.to_string()),
            parent_session_id: None,
        });
    }

    fn subagent(&mut self, row: &Value, facts: &mut Vec<RecordFact>) {
        let id = str_at(row, &["agentId"]).map(str::to_string);
        if self.subagents.insert(id.clone().unwrap_or_default()) {
            facts.push(RecordFact::Subagent {
                agent_session_id: id,
                started: true,
            });
        }
    }

    fn user(&mut self, row: &Value, facts: &mut Vec<RecordFact>) {
        if row.get("isMeta").and_then(Value::as_bool) == Some(true)
            || row.get("isCompactSummary").and_then(Value::as_bool) == Some(true)
        {
            return;
        }
        let Some(content) = row.pointer("/message/content") else {
            return;
        };
        let is_prompt = match content {
            Value::String(_) => true,
            Value::Array(items) => !items.is_empty() && !is_tool_result(content),
            _ => false,
        };
        if !is_prompt {
            return;
        }
        if user_text(content).starts_with(INTERRUPT_MARKER) {
            self.end_turn(TurnOutcome::Interrupted, None, None, facts);
            return;
        }
        // A prompt while a turn is still open (Claude wrote no end for it): that turn is over.
        if self.open_turn.is_some() {
            let answer = self.answer.take().map(|(_, text)| text);
            self.end_turn(TurnOutcome::Completed, answer, None, facts);
        }
        let turn_id = str_at(row, &["promptId"]).map(str::to_string);
        self.open_turn = Some(turn_id.clone());
        self.answer = None;
        self.requests_since_reply = 0;
        facts.push(RecordFact::TurnStarted { turn_id });
    }

    fn assistant(&mut self, row: &Value, facts: &mut Vec<RecordFact>) {
        self.requests_since_reply = 0;
        if row.get("isApiErrorMessage").and_then(Value::as_bool) == Some(true) {
            let error = api_error(row);
            self.end_turn(TurnOutcome::Failed, None, Some(error), facts);
            return;
        }
        let Some(message) = row.get("message") else {
            return;
        };
        let id = str_at(message, &["id"]).unwrap_or_default().to_string();
        if let Some(usage) = message.get("usage").and_then(usage_of) {
            self.record_usage(&id, usage, str_at(message, &["model"]), facts);
        }
        let text = assistant_text(message);
        if text.is_empty() {
            return;
        }
        match &mut self.answer {
            Some((answer_id, answer)) if *answer_id == id => {
                answer.push_str("\n\n");
                answer.push_str(&text);
            }
            _ => self.answer = Some((id, text)),
        }
    }

    fn record_usage(
        &mut self,
        message_id: &str,
        usage: Usage,
        model: Option<&str>,
        facts: &mut Vec<RecordFact>,
    ) {
        let before = self.usage_by_message.get(message_id);
        if before == Some(&usage) {
            return;
        }
        if let Some(before) = before {
            subtract(&mut self.session, before);
        }
        add(&mut self.session, &usage);
        self.usage_by_message
            .insert(message_id.to_string(), usage.clone());
        facts.push(RecordFact::Usage {
            turn: Some(usage),
            session: Some(self.session.clone()),
            model: model.filter(|m| !m.starts_with('<')).map(str::to_string),
        });
    }

    fn api_request(&mut self, row: &Value, facts: &mut Vec<RecordFact>) {
        if str_at(row, &["querySource"]) != Some(MAIN_QUERY_SOURCE) || self.open_turn.is_none() {
            return;
        }
        self.requests_since_reply += 1;
        if self.requests_since_reply < 2 {
            return;
        }
        let attempt = self.requests_since_reply - 1;
        facts.push(RecordFact::Retrying {
            attempt: Some(attempt),
            max: None,
            error: TurnError {
                kind: ErrorKind::Other,
                message: format!(
                    "Claude re-sent its model request (retry {attempt}); its transcript does not say why"
                ),
                http_status: None,
            },
        });
    }

    fn system(&mut self, row: &Value, facts: &mut Vec<RecordFact>) {
        match str_at(row, &["subtype"]) {
            Some("turn_duration") if self.open_turn.is_some() => {
                let answer = self.answer.take().map(|(_, text)| text);
                self.end_turn(TurnOutcome::Completed, answer, None, facts);
            }
            Some("api_error") => facts.push(RecordFact::Retrying {
                attempt: u32_at(row, "retryAttempt"),
                max: u32_at(row, "maxRetries"),
                error: retry_error(row),
            }),
            _ => {}
        }
    }

    /// Closes the open turn, if any (a second end for the same turn is dropped).
    fn end_turn(
        &mut self,
        outcome: TurnOutcome,
        answer: Option<String>,
        error: Option<TurnError>,
        facts: &mut Vec<RecordFact>,
    ) {
        let Some(turn_id) = self.open_turn.take() else {
            return;
        };
        self.answer = None;
        self.requests_since_reply = 0;
        facts.push(RecordFact::TurnEnded {
            turn_id,
            outcome,
            answer,
            error,
        });
    }
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
}

fn u64_at(value: &Value, pointer: &str) -> Option<u64> {
    value.pointer(pointer).and_then(Value::as_u64)
}

fn u32_at(value: &Value, key: &str) -> Option<u32> {
    value
        .get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

fn is_tool_result(content: &Value) -> bool {
    content.as_array().is_some_and(|items| {
        items
            .iter()
            .any(|item| str_at(item, &["type"]) == Some("tool_result"))
    })
}

/// A user row's text: the string itself, or its text blocks joined.
fn user_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        _ => text_blocks(content),
    }
}

fn assistant_text(message: &Value) -> String {
    message.get("content").map(text_blocks).unwrap_or_default()
}

fn text_blocks(content: &Value) -> String {
    let Some(items) = content.as_array() else {
        return String::new();
    };
    let texts: Vec<&str> = items
        .iter()
        .filter(|item| str_at(item, &["type"]) == Some("text"))
        .filter_map(|item| str_at(item, &["text"]))
        .collect();
    texts.join("\n\n")
}

/// Usage in harnex's terms (see the module docs for how cache tokens count); `None` when the
/// row reports no token count at all.
fn usage_of(raw: &Value) -> Option<Usage> {
    let fresh = u64_at(raw, "/input_tokens");
    let written = u64_at(raw, "/cache_creation_input_tokens");
    let read = u64_at(raw, "/cache_read_input_tokens");
    let input = match (fresh, written, read) {
        (None, None, None) => None,
        _ => Some(fresh.unwrap_or(0) + written.unwrap_or(0) + read.unwrap_or(0)),
    };
    let output = u64_at(raw, "/output_tokens");
    let total = match (input, output) {
        (None, None) => None,
        _ => Some(input.unwrap_or(0) + output.unwrap_or(0)),
    };
    total?;
    Some(Usage {
        input_tokens: input,
        cached_input_tokens: read,
        output_tokens: output,
        reasoning_tokens: u64_at(raw, "/output_tokens_details/thinking_tokens"),
        total_tokens: total,
    })
}

fn add(sum: &mut Usage, usage: &Usage) {
    combine(sum, usage, u64::saturating_add);
}

fn subtract(sum: &mut Usage, usage: &Usage) {
    combine(sum, usage, u64::saturating_sub);
}

fn combine(sum: &mut Usage, usage: &Usage, op: fn(u64, u64) -> u64) {
    let pairs = [
        (&mut sum.input_tokens, usage.input_tokens),
        (&mut sum.cached_input_tokens, usage.cached_input_tokens),
        (&mut sum.output_tokens, usage.output_tokens),
        (&mut sum.reasoning_tokens, usage.reasoning_tokens),
        (&mut sum.total_tokens, usage.total_tokens),
    ];
    for (total, value) in pairs {
        if let Some(value) = value {
            *total = Some(op(total.unwrap_or(0), value));
        }
    }
}

/// The error of an assistant row Claude wrote when it gave up on the model.
fn api_error(row: &Value) -> TurnError {
    let status = u32_at(row, "apiErrorStatus").and_then(|s| u16::try_from(s).ok());
    let kind = match status {
        Some(status) => kind_of_status(status),
        None => kind_of_label(
            str_at(row, &["apiError"])
                .or(str_at(row, &["apiErrorType"]))
                .or(str_at(row, &["error"])),
        ),
    };
    let text = row
        .get("message")
        .map(assistant_text)
        .filter(|text| !text.is_empty());
    TurnError {
        kind,
        message: text.unwrap_or_else(|| "Claude reported an API error".to_string()),
        http_status: status,
    }
}

/// The error of a `system`/`api_error` retry row (`error.status`, `error.message`).
fn retry_error(row: &Value) -> TurnError {
    let error = row.get("error");
    let status = error
        .and_then(|e| u32_at(e, "status"))
        .and_then(|s| u16::try_from(s).ok());
    let message = error
        .and_then(|e| str_at(e, &["message"]))
        .unwrap_or("Claude is retrying its model request");
    let kind = match status {
        Some(status) => kind_of_status(status),
        None => kind_of_label(Some(message)),
    };
    TurnError {
        kind,
        message: message.to_string(),
        http_status: status,
    }
}

/// The kind of an error Claude names without an HTTP status (`apiError`, `error`).
fn kind_of_label(label: Option<&str>) -> ErrorKind {
    let label = label.unwrap_or_default().to_ascii_lowercase();
    let has = |word: &str| label.contains(word);
    if has("connection") || has("timeout") || has("timed out") || has("stream") {
        ErrorKind::Disconnected
    } else if has("rate_limit") || has("rate limit") {
        ErrorKind::RateLimited
    } else if has("overloaded") || has("server_error") {
        ErrorKind::Overloaded
    } else if has("authentication") || has("permission") || has("auth") {
        ErrorKind::Auth
    } else {
        ErrorKind::Other
    }
}

#[cfg(test)]
#[path = "claude_tests.rs"]
mod tests;
