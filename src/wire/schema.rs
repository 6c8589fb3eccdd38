//! JSON Schema documents generated from the wire types (`docs/schema/*.json`): the event rows,
//! the status, and the API's requests and replies. docs/events.md and docs/api.md are the human
//! reference; a test keeps them and these documents in step.

use schemars::{JsonSchema, Schema, schema_for};
use serde::Serialize;
use serde_json::{Value, json};

use super::events::{Envelope, Event};
use super::{replies, requests, status};

/// An event row as written: the envelope plus one event.
#[derive(Serialize, JsonSchema)]
pub struct EventRow {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(flatten)]
    pub event: Event,
}

pub fn events() -> Schema {
    schema_for!(EventRow)
}

pub fn status() -> Schema {
    schema_for!(status::Status)
}

/// `harnex conversation --json`.
pub fn conversation() -> Schema {
    schema_for!(super::outputs::Conversation)
}

/// Requests and replies by route.
pub fn api() -> Value {
    json!({
        "title": "harnex session API",
        "requests": {
            "POST /send": schema_for!(requests::SendRequest),
            "POST /stop": schema_for!(requests::StopRequest),
            "POST /events": schema_for!(super::events::ExternalEvent),
        },
        "replies": {
            "error": schema_for!(replies::ErrorReply),
            "GET /status": schema_for!(status::Status),
            "GET /screen": schema_for!(replies::ScreenReply),
            "GET /explain": schema_for!(replies::ExplainReply),
            "GET /wait": schema_for!(replies::WaitReply),
            "GET /inbox": schema_for!(replies::InboxReply),
            "GET /messages/:id": schema_for!(replies::MessageReply),
            "DELETE /inbox": schema_for!(replies::Cleared),
            "DELETE /inbox/:id": schema_for!(replies::Dropped),
            "POST /send delivered": schema_for!(replies::Delivered),
            "POST /send accepted": schema_for!(replies::Accepted),
            "POST /send raw": schema_for!(replies::RawDelivered),
            "POST /send keys": schema_for!(replies::KeysDelivered),
            "POST /stop": schema_for!(replies::Stopping),
            "POST /events": schema_for!(replies::EventRecorded),
        },
    })
}

/// The schema documents by file name (`docs/schema/<name>`).
pub fn documents() -> Vec<(&'static str, Value)> {
    let value = |schema: Schema| serde_json::to_value(schema).unwrap_or_default();
    vec![
        ("events.json", value(events())),
        ("status.json", value(status())),
        ("api.json", api()),
        ("conversation.json", value(conversation())),
    ]
}

/// A document as written to disk (pretty, with a final newline).
pub fn render(document: &Value) -> String {
    let mut text = serde_json::to_string_pretty(document).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/schema/*.json are the generated documents; regenerate with
    /// `HARNEX_WRITE_SCHEMA=1 cargo test schema_documents`.
    #[test]
    fn schema_documents_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema");
        for (name, document) in documents() {
            let path = dir.join(name);
            let text = render(&document);
            if std::env::var_os("HARNEX_WRITE_SCHEMA").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            }
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                on_disk == text,
                "{} is out of date: run HARNEX_WRITE_SCHEMA=1 cargo test schema_documents",
                path.display()
            );
        }
    }
}
