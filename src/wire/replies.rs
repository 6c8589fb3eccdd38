//! The API's answers (docs/api.md). Every answer is a JSON object with `ok`; an error is
//! `{"ok": false, "error": "…"}` with a 4xx/5xx status.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::status::{InputState, Size, TurnCounters};
use crate::adapters::Dialog;

/// Any failed request.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorReply {
    pub ok: bool,
    pub error: String,
}

/// `POST /send` (inbox form, delivered now): the delivery's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Delivered {
    pub ok: bool,
    /// `delivered`.
    pub status: String,
    pub message_id: String,
    pub bytes_written: usize,
    pub injected_count: u64,
    /// Whether Enter followed the text (the Ruby name for `submit`).
    pub newline: bool,
    pub cli: String,
    pub input_state: InputState,
    pub force: bool,
    /// The turn this message started; null when sent without Enter.
    pub turn: Option<u64>,
    /// Whether the agent took the Enter (left its prompt).
    pub submitted: bool,
}

/// `POST /send` answered before the delivery (202): `queued` or `delivering`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Accepted {
    pub ok: bool,
    pub status: String,
    pub message_id: String,
}

/// `POST /send` as raw injection (plain-text body, or `{"text"}` without inbox keys).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RawDelivered {
    pub ok: bool,
    pub status: String,
    pub bytes_written: usize,
    pub newline: bool,
}

/// `POST /send` with `keys`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct KeysDelivered {
    pub ok: bool,
    pub status: String,
    /// The keys pressed, comma-separated.
    pub keys: String,
    pub bytes_written: usize,
    pub injected_count: u64,
    pub input_state: InputState,
}

/// `GET /wait`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WaitReply {
    /// False when the wait timed out.
    pub ok: bool,
    pub id: String,
    pub state: String,
    #[serde(serialize_with = "crate::time::serialize_seconds_ms")]
    pub waited_seconds: f64,
    pub turn: TurnCounters,
    /// `timeout` when the condition was not reached in time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dialog: Option<Dialog>,
    /// With `until=turn`: how the turn ended (`outcome`, `error`, `answer`, `usage`, `source`,
    /// `key`), once it did.
    #[serde(flatten, default)]
    pub end: Option<crate::wire::turns::TurnFacts>,
}

/// A (row, col) position, zero-based.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
pub struct Cursor {
    pub row: u16,
    pub col: u16,
}

/// `GET /screen`: the emulated screen as text.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ScreenReply {
    pub ok: bool,
    pub id: String,
    pub text: String,
    pub rows: Vec<String>,
    pub cursor: Cursor,
    pub title: String,
    pub size: Size,
    pub captured_at: String,
}

/// `GET /explain`: which rule decided the state, on which row.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ExplainReply {
    pub ok: bool,
    pub id: String,
    pub adapter: String,
    pub state: String,
    pub state_since: String,
    /// The adapter's classification of the current screen (rule, row, evidence).
    pub verdict: Value,
    pub dialog: Option<Dialog>,
    /// Where the session's screen rules come from: `built-in <agent>.toml`, or the user's
    /// override file merged over it.
    pub rules_file: String,
    /// The file the matched rule is from (the built-in one or the override) and its line there.
    pub rule_file: Option<String>,
    pub rule_line: Option<u64>,
    pub quiet_window_ms: u64,
    pub output_means_busy: bool,
    pub turn: TurnCounters,
    pub title: String,
    pub cursor: Cursor,
    pub rows: Vec<String>,
}

/// One inbox message (`GET /messages/:id`, `GET /inbox`, `DELETE /inbox/:id`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MessageView {
    pub id: String,
    /// `queued`, `delivering`, `delivered`, `failed`, `expired`, `dropped`.
    pub status: String,
    pub queued_at: String,
    pub delivered_at: Option<String>,
    /// The first 80 characters of the text.
    pub text_preview: String,
    pub error: Option<String>,
    pub turn: Option<u64>,
    pub submitted: Option<bool>,
    /// The delivery's answer, once it is done (as `POST /send` would have given it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reply: Option<Value>,
}

/// `GET /messages/:id`: the message with `ok`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MessageReply {
    pub ok: bool,
    #[serde(flatten)]
    pub message: MessageView,
}

/// `DELETE /inbox/:id`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Dropped {
    pub ok: bool,
    pub message: MessageView,
}

/// `GET /inbox`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct InboxReply {
    pub ok: bool,
    pub messages: Vec<MessageView>,
    pub stats: crate::session::inbox::Stats,
}

/// `DELETE /inbox`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Cleared {
    pub ok: bool,
    pub cleared: usize,
}

/// `POST /stop`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Stopping {
    pub ok: bool,
    /// The rung the stop starts on: `exit-sequence`, `SIGTERM`, `SIGKILL`, or what is already under way.
    pub signal: String,
}

/// `POST /events`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EventRecorded {
    pub ok: bool,
    #[serde(rename = "type")]
    pub kind: String,
}
