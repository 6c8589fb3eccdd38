//! A session's conversation, turn by turn, from the agent's own records: who said what, how each
//! turn ended, what it cost. `harnex conversation` prints it.
//!
//! The turn boundaries, outcomes, answers, errors and usage are the facts the agent parsers
//! ([`CodexRecords`], [`ClaudeRecords`]) read; this module adds what a reader of the conversation
//! wants beside them, from the same rows:
//! - the prompt. Codex: the `item_completed` `UserMessage` item (0.169+) or the `event_msg`
//!   `user_message` (older versions), else the `response_item` message with role `user` — but
//!   not the context Codex injects as user messages (`<environment_context>`, `<turn_aborted>`,
//!   `<subagent_notification>`, `# AGENTS.md instructions …`). Claude: the text of the `user` row
//!   the parser saw start the turn (prompts only: tool results, meta rows, sidechain rows and
//!   the output of a command Claude ran itself never start one); a slash or shell command
//!   (`/model sonnet`, `!ls`) shows as typed.
//! - who started the turn (`from`): `user`, or what else did (Claude `origin.kind` such as
//!   `task-notification`, Codex `turn_trigger`).
//! - the tools called: Codex `response_item` `function_call` / `custom_tool_call` /
//!   `local_shell_call` / `web_search_call`; Claude main-thread `assistant` `tool_use` blocks.
//! - the rows' `timestamp`s as the turn's start and end.
//!
//! A turn's usage is what the session total grew by during it (the agents count per request,
//! and a turn may make several); its model is the one its last request named. A turn still open
//! at the end of the rows is in progress: no outcome, no end.
//!
//! Pure: lines in, turns out. Texts are kept as the agent wrote them; [`Turn::redacted`] masks
//! secrets for output.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::claude::{ClaudeRecords, user_row_text};
use super::codex::CodexRecords;
use super::copilot::CopilotRecords;
use super::{RecordFact, TurnError, TurnOutcome, Usage};

/// Whose records these are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// Codex's rollout JSONL.
    CodexRollout,
    /// Claude Code's transcript JSONL.
    ClaudeTranscript,
    /// The Copilot CLI's `events.jsonl`.
    CopilotEvents,
}

impl RecordKind {
    /// The records' name as status and the exit record write it (`records.source`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::CodexRollout => "codex-rollout",
            RecordKind::ClaudeTranscript => "claude-transcript",
            RecordKind::CopilotEvents => "copilot-events",
        }
    }

    /// From `records.source`.
    pub fn from_source(source: &str) -> Option<RecordKind> {
        match source {
            "codex-rollout" => Some(RecordKind::CodexRollout),
            "claude-transcript" => Some(RecordKind::ClaudeTranscript),
            "copilot-events" => Some(RecordKind::CopilotEvents),
            _ => None,
        }
    }

    /// From an agent CLI's name (`codex`, `claude`).
    pub fn from_cli(cli: &str) -> Option<RecordKind> {
        match cli {
            "codex" => Some(RecordKind::CodexRollout),
            "claude" => Some(RecordKind::ClaudeTranscript),
            "copilot" => Some(RecordKind::CopilotEvents),
            _ => None,
        }
    }

    /// The agent's name, as the conversation shows who answered.
    pub fn agent(self) -> &'static str {
        match self {
            RecordKind::CodexRollout => "codex",
            RecordKind::ClaudeTranscript => "claude",
            RecordKind::CopilotEvents => "copilot",
        }
    }
}

/// One turn of the conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Turn {
    /// 1 for the first turn in the records, and so on.
    pub n: u64,
    /// What the turn was asked (the user's text), where the records hold it.
    pub prompt: Option<String>,
    /// Who started the turn: `user`, or what else did (`task-notification`, …).
    pub from: Option<String>,
    /// The agent's final message of the turn.
    pub answer: Option<String>,
    /// How the turn ended; `null` while it is in progress.
    pub outcome: Option<TurnOutcome>,
    /// Why a failed turn failed, in the agent's own words.
    pub error: Option<TurnError>,
    /// Tokens the turn used (what the session total grew by during it).
    pub usage: Option<Usage>,
    /// The model of the turn's last request.
    pub model: Option<String>,
    /// When the agent wrote the turn's start (RFC 3339, as the records have it).
    pub started_at: Option<String>,
    /// When the agent wrote the turn's end; `null` while it is in progress.
    pub ended_at: Option<String>,
    /// The tools the agent called during the turn, in order.
    pub tools: Vec<String>,
}

impl Turn {
    /// The turn with secrets masked in every text it carries.
    pub fn redacted(mut self) -> Turn {
        let mask = |text: &mut Option<String>| {
            if let Some(text) = text {
                *text = crate::redact::redact(text);
            }
        };
        mask(&mut self.prompt);
        mask(&mut self.answer);
        if let Some(error) = &mut self.error {
            error.message = crate::redact::redact(&error.message);
        }
        self
    }
}

enum Parser {
    Codex(CodexRecords),
    Claude(Box<ClaudeRecords>),
    Copilot(CopilotRecords),
}

/// A turn being read: the turn, plus what is needed to finish it.
struct OpenTurn {
    turn: Turn,
    /// The session's usage when the turn began.
    session_before: Usage,
    /// Usage the turn's requests reported, for agents that give no session total.
    requests: Option<Usage>,
    /// Whether a session total was seen during the turn.
    saw_session: bool,
    /// Codex: prompts from its user-message events, preferred over `response_item` copies.
    event_prompts: Vec<String>,
    item_prompts: Vec<String>,
}

/// Reads one record file's lines, in order, into turns.
pub struct ConversationReader {
    kind: RecordKind,
    parser: Parser,
    turns: Vec<Turn>,
    open: Option<OpenTurn>,
    /// The session's usage so far (the last total reported).
    session: Usage,
    /// Codex prompts written before their turn started (older versions).
    early_prompts: Vec<String>,
}

impl ConversationReader {
    pub fn new(kind: RecordKind) -> Self {
        let parser = match kind {
            RecordKind::CodexRollout => Parser::Codex(CodexRecords::new()),
            RecordKind::ClaudeTranscript => Parser::Claude(Box::default()),
            RecordKind::CopilotEvents => Parser::Copilot(CopilotRecords::new()),
        };
        ConversationReader {
            kind,
            parser,
            turns: Vec::new(),
            open: None,
            session: Usage::default(),
            early_prompts: Vec::new(),
        }
    }

    /// Read one line of the record file. Lines that are not JSON objects add nothing.
    pub fn feed(&mut self, line: &str) {
        let Ok(row) = serde_json::from_str::<Value>(line.trim()) else {
            return;
        };
        if !row.is_object() {
            return;
        }
        let facts = match &mut self.parser {
            Parser::Codex(parser) => parser.feed(line),
            Parser::Claude(parser) => parser.feed(line),
            Parser::Copilot(parser) => parser.feed(line),
        };
        let at = row["timestamp"].as_str();
        let mut started_here = false;
        for fact in facts {
            match fact {
                RecordFact::TurnStarted { .. } => {
                    self.start(at);
                    started_here = true;
                }
                RecordFact::Usage {
                    turn,
                    session,
                    model,
                } => self.usage(turn, session, model),
                RecordFact::TurnEnded {
                    outcome,
                    answer,
                    error,
                    ..
                } => self.end(at, outcome, answer, error),
                _ => {}
            }
        }
        match self.kind {
            RecordKind::CodexRollout => self.codex_row(&row, started_here),
            RecordKind::ClaudeTranscript => self.claude_row(&row, started_here),
            RecordKind::CopilotEvents => self.copilot_row(&row),
        }
    }

    /// Copilot: the prompt as typed (`data.content`, without the context it adds), and each
    /// tool it ran.
    fn copilot_row(&mut self, row: &Value) {
        let Some(open) = &mut self.open else { return };
        let data = &row["data"];
        match row["type"].as_str() {
            Some("user.message") => open.turn.prompt = data["content"].as_str().map(str::to_string),
            Some("tool.execution_start") => {
                if let Some(tool) = data["toolName"].as_str() {
                    open.turn.tools.push(tool.to_string());
                }
            }
            _ => {}
        }
    }

    /// The turns read, the last one in progress if the records have not ended it.
    pub fn finish(mut self) -> Vec<Turn> {
        if let Some(open) = self.open.take() {
            let turn = close(open, &self.session);
            self.turns.push(turn);
        }
        self.turns
    }

    fn start(&mut self, at: Option<&str>) {
        if let Some(open) = self.open.take() {
            // A start without an end before it: the records never said how that turn ended.
            let turn = close(open, &self.session);
            self.turns.push(turn);
        }
        self.open = Some(OpenTurn {
            turn: Turn {
                n: self.turns.len() as u64 + 1,
                started_at: at.map(str::to_string),
                ..Turn::default()
            },
            session_before: self.session.clone(),
            requests: None,
            saw_session: false,
            event_prompts: std::mem::take(&mut self.early_prompts),
            item_prompts: Vec::new(),
        });
    }

    fn usage(&mut self, turn: Option<Usage>, session: Option<Usage>, model: Option<String>) {
        let Some(open) = &mut self.open else {
            if let Some(session) = session {
                self.session = session;
            }
            return;
        };
        if let Some(session) = session {
            self.session = session;
            open.saw_session = true;
        }
        if let Some(request) = turn {
            let sum = open.requests.get_or_insert_with(Usage::default);
            sum.add(&request);
        }
        if model.is_some() {
            open.turn.model = model;
        }
    }

    fn end(
        &mut self,
        at: Option<&str>,
        outcome: TurnOutcome,
        answer: Option<String>,
        error: Option<TurnError>,
    ) {
        if self.open.is_none() {
            // An end whose start the records do not have (a file read from its middle).
            self.start(None);
        }
        let Some(mut open) = self.open.take() else {
            return;
        };
        open.turn.outcome = Some(outcome);
        open.turn.answer = answer;
        open.turn.error = error;
        open.turn.ended_at = at.map(str::to_string);
        let turn = close(open, &self.session);
        self.turns.push(turn);
    }

    fn codex_row(&mut self, row: &Value, started_here: bool) {
        let payload = &row["payload"];
        if started_here {
            if let Some(open) = &mut self.open {
                open.turn.from = payload["turn_attribution"]["turn_trigger"]
                    .as_str()
                    .map(str::to_string);
            }
            return;
        }
        match (row["type"].as_str(), payload["type"].as_str()) {
            (Some("event_msg"), Some("item_completed"))
                if payload["item"]["type"] == "UserMessage" =>
            {
                self.codex_prompt(content_text(&payload["item"]["content"]), true);
            }
            (Some("event_msg"), Some("user_message")) => {
                let plain = payload["kind"].as_str().is_none_or(|k| k == "plain");
                if let (true, Some(text)) = (plain, payload["message"].as_str()) {
                    self.codex_prompt(text.to_string(), true);
                }
            }
            (Some("response_item"), Some("message")) if payload["role"] == "user" => {
                self.codex_prompt(content_text(&payload["content"]), false);
            }
            (Some("response_item"), Some(kind)) => {
                if let (Some(tool), Some(open)) = (codex_tool(kind, payload), &mut self.open) {
                    open.turn.tools.push(tool);
                }
            }
            _ => {}
        }
    }

    fn codex_prompt(&mut self, text: String, from_event: bool) {
        if text.trim().is_empty() || is_injected_context(&text) {
            return;
        }
        match &mut self.open {
            Some(open) if from_event => open.event_prompts.push(text),
            Some(open) => open.item_prompts.push(text),
            // Only the user-message events come before their turn (older Codex); the
            // `response_item` copies outside a turn are context Codex adds for the next one.
            None if from_event => self.early_prompts.push(text),
            None => {}
        }
    }

    fn claude_row(&mut self, row: &Value, started_here: bool) {
        let Some(open) = &mut self.open else {
            return;
        };
        if started_here {
            open.turn.prompt = user_row_text(row).map(|text| typed_command(&text).unwrap_or(text));
            open.turn.from = row["origin"]["kind"]
                .as_str()
                .map(|kind| if kind == "human" { "user" } else { kind })
                .map(str::to_string);
            return;
        }
        if row["type"] != "assistant" || row["isSidechain"] == true {
            return;
        }
        let blocks = row["message"]["content"].as_array().into_iter().flatten();
        for block in blocks {
            if let (Some("tool_use"), Some(name)) = (block["type"].as_str(), block["name"].as_str())
            {
                open.turn.tools.push(name.to_string());
            }
        }
    }
}

/// The turn with its prompt and usage settled.
fn close(mut open: OpenTurn, session: &Usage) -> Turn {
    let prompts = if open.event_prompts.is_empty() {
        std::mem::take(&mut open.item_prompts)
    } else {
        std::mem::take(&mut open.event_prompts)
    };
    if !prompts.is_empty() {
        open.turn.prompt = Some(prompts.join("\n\n"));
    }
    open.turn.usage = if open.saw_session {
        Some(session.since(&open.session_before))
    } else {
        open.requests
    };
    open.turn
}

/// Every turn in `lines` (a record file's lines, in order).
pub fn read_turns<'a>(kind: RecordKind, lines: impl IntoIterator<Item = &'a str>) -> Vec<Turn> {
    let mut reader = ConversationReader::new(kind);
    for line in lines {
        reader.feed(line);
    }
    reader.finish()
}

/// A Codex message's text parts (`input_text`, `text`, …) joined.
fn content_text(content: &Value) -> String {
    let Some(items) = content.as_array() else {
        return content.as_str().unwrap_or_default().to_string();
    };
    let texts: Vec<&str> = items.iter().filter_map(|i| i["text"].as_str()).collect();
    texts.join("\n")
}

/// Context Codex sends as a user message without the user having typed it: a whole
/// `<tag>…</tag>` block (`environment_context`, `user_instructions`, `turn_aborted`,
/// `subagent_notification`, …) or the project's AGENTS.md.
fn is_injected_context(text: &str) -> bool {
    let text = text.trim();
    if text.starts_with("# AGENTS.md instructions for ") {
        return true;
    }
    let Some(rest) = text.strip_prefix('<') else {
        return false;
    };
    let tag_len = rest
        .find(|c: char| !(c.is_ascii_lowercase() || c == '_' || c == '-'))
        .unwrap_or(0);
    let tag = &rest[..tag_len];
    !tag.is_empty() && rest[tag_len..].starts_with('>') && text.ends_with(&format!("</{tag}>"))
}

/// A command Claude ran as the user typed it — a slash command (`/greet some args`, from
/// `<command-name>/greet</command-name>` and `<command-args>`) or a shell command (`!ls`, from
/// `<bash-input>ls</bash-input>`) — rather than the tags Claude writes it in.
fn typed_command(text: &str) -> Option<String> {
    let inner = |tag: &str| {
        let open = format!("<{tag}>");
        let start = text.find(&open)? + open.len();
        let len = text[start..].find(&format!("</{tag}>"))?;
        Some(text[start..start + len].trim())
    };
    if text.trim_start().starts_with("<bash-input>") {
        return inner("bash-input").map(|command| format!("!{command}"));
    }
    let name = inner("command-name").filter(|name| !name.is_empty())?;
    Some(
        match inner("command-args").filter(|args| !args.is_empty()) {
            Some(args) => format!("{name} {args}"),
            None => name.to_string(),
        },
    )
}

/// The name of the tool a Codex `response_item` calls, if it is a call.
fn codex_tool(kind: &str, payload: &Value) -> Option<String> {
    match kind {
        "function_call" | "custom_tool_call" => payload["name"].as_str().map(str::to_string),
        "local_shell_call" => Some("local_shell".to_string()),
        "web_search_call" => Some("web_search".to_string()),
        _ => None,
    }
}

#[cfg(test)]
#[path = "conversation_tests.rs"]
mod tests;
