//! Reading the fields of Claude's transcript rows: text, usage, and API errors, for
//! [`ClaudeRecords`](super::ClaudeRecords).

use serde_json::Value;

use crate::records::{ErrorKind, TurnError, Usage};

pub(super) fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
}

pub(super) fn u64_at(value: &Value, pointer: &str) -> Option<u64> {
    value.pointer(pointer).and_then(Value::as_u64)
}

pub(super) fn u32_at(value: &Value, key: &str) -> Option<u32> {
    value
        .get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// The word after `marker` in `text` (up to whitespace or punctuation).
pub(super) fn word_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_')
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|word| !word.is_empty())
}

/// The text between the first `open` and the next `close`.
pub(super) fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(&text[start..start + len])
}

pub(super) fn is_tool_result(content: &Value) -> bool {
    content.as_array().is_some_and(|items| {
        items
            .iter()
            .any(|item| str_at(item, &["type"]) == Some("tool_result"))
    })
}

/// A user row's text: the string itself, or its text blocks joined.
pub(super) fn user_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        _ => text_blocks(content),
    }
}

pub(super) fn assistant_text(message: &Value) -> String {
    message.get("content").map(text_blocks).unwrap_or_default()
}

pub(super) fn text_blocks(content: &Value) -> String {
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
pub(super) fn usage_of(raw: &Value) -> Option<Usage> {
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

/// The error of an assistant row Claude wrote when it gave up on the model.
pub(super) fn api_error(row: &Value) -> TurnError {
    let status = u32_at(row, "apiErrorStatus").and_then(|s| u16::try_from(s).ok());
    let label = str_at(row, &["apiError"])
        .or(str_at(row, &["apiErrorType"]))
        .or(str_at(row, &["error"]));
    let text = row
        .get("message")
        .map(assistant_text)
        .filter(|text| !text.is_empty());
    TurnError::with_status_or(
        text.unwrap_or_else(|| "Claude reported an API error".to_string()),
        status,
        kind_of_label(label),
    )
}

/// The error of a `system`/`api_error` retry row (`error.status`, `error.message`).
pub(super) fn retry_error(row: &Value) -> TurnError {
    let error = row.get("error");
    let status = error
        .and_then(|e| u32_at(e, "status"))
        .and_then(|s| u16::try_from(s).ok());
    let message = error
        .and_then(|e| str_at(e, &["message"]))
        .unwrap_or("Claude is retrying its model request");
    TurnError::with_status_or(message, status, kind_of_label(Some(message)))
}

/// The kind of an error Claude names without an HTTP status (`apiError`, `error`).
pub(super) fn kind_of_label(label: Option<&str>) -> ErrorKind {
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
