//! The wire format: every JSON document harnex writes or reads across a process boundary, as
//! types. The API server, the client side and the commands share them, so a field has one name
//! and one type everywhere, and the machine-readable schema (`harnex schema`, `docs/schema/`) is
//! generated from the same definitions.
//!
//! - [`events`]: the rows of `events/<slug>.jsonl` (one enum tagged on `type`; the writer adds the
//!   envelope).
//! - [`status`]: `GET /status` / `harnex status --json`, and the status part of a registry entry.
//! - [`requests`]: the bodies the API accepts, checked field by field (a 400 names the field).
//! - [`replies`]: the API's answers.
//! - [`outputs`]: what the commands print when the answer is their own.
//! - [`schema`]: JSON Schema documents generated from all of the above.
//!
//! Values are serialised through `serde_json::Value`, whose maps keep keys sorted: documents keep
//! the byte layout harnex has always written.

pub mod events;
pub mod outputs;
pub mod records;
pub mod replies;
pub mod requests;
pub mod schema;
pub mod status;
pub mod turns;

use serde::Serialize;
use serde_json::{Map, Value};

/// A wire value as a JSON object (sorted keys). Our types always serialise to objects; anything
/// else (it cannot happen) becomes an empty object rather than a panic.
pub fn to_object<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// A wire value as a JSON value (sorted keys).
pub fn to_value<T: Serialize>(value: &T) -> Value {
    Value::Object(to_object(value))
}
