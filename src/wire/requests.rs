//! The bodies the API accepts, as types. Every request is checked field by field: an unknown
//! field or a value of the wrong type is a 400 whose message starts with the field's name and says
//! what it must be (`force must be true or false`). The Ruby-compatible forms of `POST /send`
//! (a plain-text body, `{"text"}` without inbox keys, `keys` as a string or an array) are read
//! here too; docs/api.md.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// `POST /send` as JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The message (required unless `keys` or `enter_only`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Keys to press now (`"Down,Enter"` or `["Down", "Enter"]`); the other fields are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<KeySpec>,
    /// Raw injection only (no inbox key given): end with Enter (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newline: Option<bool>,
    /// Inbox mode: press Enter after the text (default true).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub submit: Option<Option<bool>>,
    /// Inbox mode: press Enter only (no text).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub enter_only: Option<Option<bool>>,
    /// Inbox mode: deliver now, even when busy or at a dialog.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub force: Option<Option<bool>>,
    /// Inbox mode: answer once delivered (default true) or at once with the message id.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub wait: Option<Option<bool>>,
    /// Inbox mode: seconds the message may wait in the queue (above 0, at most 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<f64>,
}

/// A field that is there (`Some`), even as `null` (`Some(None)`): naming an inbox key selects
/// the inbox form of `POST /send`, whatever its value.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `keys`: a comma-separated string or an array of key names.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum KeySpec {
    Names(String),
    List(Vec<String>),
}

impl KeySpec {
    /// The comma-separated form (`Down,Enter`).
    pub fn joined(&self) -> String {
        match self {
            KeySpec::Names(names) => names.clone(),
            KeySpec::List(names) => names.join(","),
        }
    }
}

impl SendRequest {
    /// Whether an inbox key is named (else `{"text"}` is raw injection, as in the Ruby harnex).
    pub fn is_inbox(&self) -> bool {
        self.submit.is_some()
            || self.enter_only.is_some()
            || self.force.is_some()
            || self.wait.is_some()
    }
}

/// `POST /stop`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StopRequest {
    /// How long the agent gets to exit before SIGTERM (milliseconds, at most 86400000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_ms: Option<u64>,
    /// Skip the exit sequence: SIGTERM at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
}

/// What a field must be, for the 400 that names it.
fn expected(field: &str) -> Option<&'static str> {
    Some(match field {
        "text" | "message" | "state" => "a string",
        "newline" | "submit" | "enter_only" | "force" | "wait" | "interrupted" => "true or false",
        "ttl" => TTL_EXPECTED,
        "keys" => "a string like \"Down,Enter\" or an array",
        "grace_ms" => GRACE_EXPECTED,
        "idle_s" => "a number of seconds",
        "stall" | "resume" | "max_resumes" => "a whole number",
        _ => return None,
    })
}

pub const TTL_EXPECTED: &str = "a number of seconds above 0 and at most 86400";
pub const GRACE_EXPECTED: &str = "a whole number of milliseconds from 0 to 86400000 (24 h)";

/// Read a request from its JSON object. The error names the field at fault.
pub fn from_object<T: DeserializeOwned>(fields: Map<String, Value>) -> Result<T, String> {
    serde_path_to_error::deserialize(Value::Object(fields)).map_err(|error| {
        let inner = error.inner().to_string();
        if let Some(rest) = inner.strip_prefix("unknown field `")
            && let Some((name, known)) = rest.split_once('`')
        {
            let known = known.trim_start_matches(", ");
            return format!("{name} is not a field of this request ({known})");
        }
        let path = error.path().to_string();
        let field = path.split(['.', '[']).next().unwrap_or_default();
        match expected(field) {
            Some(what) if !field.is_empty() => format!("{field} must be {what}"),
            _ if !field.is_empty() && field != "?" => format!("{field}: {inner}"),
            _ => inner,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Map<String, Value> {
        match serde_json::from_str(text).unwrap() {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn unknown_and_ill_typed_fields_are_named() {
        let error =
            from_object::<SendRequest>(object(r#"{"text": "x", "forse": true}"#)).unwrap_err();
        assert!(error.starts_with("forse is not a field"), "{error}");
        assert!(error.contains("force"), "{error}");
        let error = from_object::<StopRequest>(object(r#"{"force": "yes"}"#)).unwrap_err();
        assert_eq!(error, "force must be true or false");
        let error = from_object::<SendRequest>(object(r#"{"keys": 5}"#)).unwrap_err();
        assert!(error.starts_with("keys must be"), "{error}");
    }

    #[test]
    fn a_named_inbox_key_selects_the_inbox_even_as_null() {
        let request: SendRequest = from_object(object(r#"{"text": "x", "force": null}"#)).unwrap();
        assert!(request.is_inbox());
        let request: SendRequest = from_object(object(r#"{"text": "x"}"#)).unwrap();
        assert!(!request.is_inbox());
        let request: SendRequest = from_object(object(r#"{"keys": ["Down", "Enter"]}"#)).unwrap();
        assert_eq!(request.keys.unwrap().joined(), "Down,Enter");
    }
}
