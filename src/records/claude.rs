//! Claude's records: parsing its transcript JSONL rows into [`RecordFact`]s.
//!
//! Claude Code writes `$CLAUDE_CONFIG_DIR/projects/<cwd with / as ->/<session-id>.jsonl`, one JSON
//! object a line with a `type`. What each fact is read from (checked on 2.1.328 against a mock
//! model, see `tests/fixtures/records/README.md`):
//! - `SessionMeta`: the first row carrying both `sessionId` and `cwd` (the first `user` or
//!   `attachment` row; the `mode`/`permission-mode` rows before it have no `cwd`).
//! - `TurnStarted`: a `user` row that is a prompt — not a tool result, not meta, not a sidechain,
//!   not the `[Request interrupted by user]` marker. Its `promptId` is the turn id. A command
//!   Claude runs itself (`/model`, `!ls`) is a turn from its row to its output's (see
//!   `claude_local.rs`).
//! - `Usage`: `assistant` rows' `message.usage`. Claude writes one row per content block (thinking,
//!   text, tool use), each repeating the whole message's usage, so usage is kept per request
//!   (`requestRef` + `message.id`) and a message counts once however many rows it has.
//!   `input_tokens` here is every prompt token the request paid for — Anthropic's `input_tokens` + `cache_creation_input_tokens` +
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
//! - `Subagent`: Claude 2.1.328 writes a sub-agent's rows to a file of its own
//!   (`<session-id>/subagents/agent-<agentId>.jsonl`, rows with `isSidechain: true`); the main
//!   transcript shows an `Agent` tool call whose result says `agentId: <id>` (started), and later a
//!   `<task-notification>` with that `<task-id>` and a final `<status>` (finished), first as a
//!   `queue-operation` row, then as the prompt of a turn of its own (`origin.kind`
//!   `task-notification`). Fed a sidechain file, the first row of each `agentId` is a start;
//!   sidechain rows never start, end or count towards the main turn.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{ErrorKind, RecordFact, TurnError, TurnOutcome, Usage, UsageTally};

#[path = "claude_fields.rs"]
mod fields;
#[path = "claude_local.rs"]
mod local;
use fields::{
    api_error, assistant_text, between, is_tool_result, retry_error, str_at, u32_at, usage_of,
    user_text, word_after,
};

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
    /// The last main-thread assistant message with text: (request/message key, its text so far).
    answer: Option<(String, String)>,
    /// Main-thread requests since the last reply: more than one means Claude is retrying.
    requests_since_reply: u32,
    /// Usage per request/message key (a message spans one row per content block, each with the
    /// whole message's usage), so a message counts once and a changed count replaces the old.
    usage_by_message: HashMap<String, Usage>,
    usage: UsageTally,
    subagents: HashSet<String>,
    /// Sub-agents seen to finish (a task notification can be written twice: queued, then as a prompt).
    finished_subagents: HashSet<String>,
    /// Ids of `Agent` tool calls whose results (with the sub-agent's id) are still to come.
    agent_calls: HashSet<String>,
    /// The open turn is a command Claude runs itself (`/model`, `!ls`; see `claude_local.rs`).
    local_turn: bool,
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
            Some("queue-operation") => {
                let text = str_at(&row, &["content"]).unwrap_or_default();
                self.agent_finished(text, &mut facts);
            }
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

    /// Remembers the main thread's `Agent`/`Task` tool calls: their results name the sub-agent.
    fn note_agent_launches(&mut self, message: &Value) {
        let Some(items) = message.get("content").and_then(Value::as_array) else {
            return;
        };
        for item in items {
            let is_agent = matches!(str_at(item, &["name"]), Some("Agent" | "Task"));
            if let (Some("tool_use"), true, Some(id)) =
                (str_at(item, &["type"]), is_agent, str_at(item, &["id"]))
            {
                self.agent_calls.insert(id.to_string());
            }
        }
    }

    /// An `Agent` tool result: the sub-agent started (its id is in the text as `agentId: <id>`).
    fn agent_launched(&mut self, content: &Value, facts: &mut Vec<RecordFact>) {
        let Some(items) = content.as_array() else {
            return;
        };
        for item in items {
            let Some(call) = str_at(item, &["tool_use_id"]) else {
                continue;
            };
            if !self.agent_calls.remove(call) {
                continue;
            }
            let text = item.get("content").map(user_text).unwrap_or_default();
            let id = word_after(&text, "agentId: ").unwrap_or(call).to_string();
            if self.subagents.insert(id.clone()) {
                facts.push(RecordFact::Subagent {
                    agent_session_id: Some(id),
                    started: true,
                });
            }
        }
    }

    /// A `<task-notification>` naming a sub-agent (`<task-id>`) that is no longer running.
    fn agent_finished(&mut self, text: &str, facts: &mut Vec<RecordFact>) {
        if !text.contains("<task-notification>") {
            return;
        }
        let Some(id) = between(text, "<task-id>", "</task-id>") else {
            return;
        };
        let running = between(text, "<status>", "</status>") == Some("running");
        if running || !self.subagents.contains(id) || !self.finished_subagents.insert(id.into()) {
            return;
        }
        facts.push(RecordFact::Subagent {
            agent_session_id: Some(id.to_string()),
            started: false,
        });
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
        if is_tool_result(content) {
            self.agent_launched(content, facts);
        }
        if !is_prompt {
            return;
        }
        let text = user_text(content);
        self.agent_finished(&text, facts);
        if self.local_command(row, &text, facts) {
            return;
        }
        if text.starts_with(INTERRUPT_MARKER) {
            self.end_turn(TurnOutcome::Interrupted, None, None, facts);
            return;
        }
        // A prompt while a turn is still open (Claude wrote no end for it): that turn is over.
        if self.open_turn.is_some() {
            let answer = self.answer.take().map(|(_, text)| text);
            self.end_turn(TurnOutcome::Completed, answer, None, facts);
        }
        self.start_turn(row, facts);
    }

    /// Opens a turn on this prompt row (its `promptId` is the turn id).
    fn start_turn(&mut self, row: &Value, facts: &mut Vec<RecordFact>) {
        let turn_id = str_at(row, &["promptId"]).map(str::to_string);
        self.open_turn = Some(turn_id.clone());
        self.answer = None;
        self.requests_since_reply = 0;
        self.local_turn = false;
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
        // A request's id and the message's: real message ids are unique, but a proxy or a mock
        // may reuse one, and each request is paid for.
        let id = format!(
            "{}/{}",
            str_at(row, &["requestRef"]).unwrap_or_default(),
            str_at(message, &["id"]).unwrap_or_default()
        );
        self.note_agent_launches(message);
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
            self.usage.withdraw(before);
        }
        self.usage_by_message
            .insert(message_id.to_string(), usage.clone());
        let model = model.filter(|m| !m.starts_with('<'));
        facts.push(self.usage.request(usage, model));
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
        self.local_turn = false;
        facts.push(RecordFact::TurnEnded {
            turn_id,
            outcome,
            answer,
            error,
        });
    }
}

/// The text of a transcript `user` row (a prompt): its string, or its text blocks joined. For
/// readers that show the prompt of a turn [`ClaudeRecords`] saw start on that row.
pub fn user_row_text(row: &Value) -> Option<String> {
    row.pointer("/message/content").map(user_text)
}

#[cfg(test)]
#[path = "claude_tests.rs"]
mod tests;
