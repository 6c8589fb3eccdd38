//! The session API's routes: a request in, a JSON reply out. The HTTP layer (limits,
//! authentication, connections) is `api_server.rs`; it calls `long_poll` on its runtime for the
//! routes that wait and `handle` on its blocking pool for the rest. Requests and replies are the
//! types of [`crate::wire`].
//!
//! Routes: `GET /status` `/health` `/screen` `/explain` `/inbox` (`read.rs`), `GET /wait`
//! `/messages/:id` (`wait.rs`), `POST /send` (`send.rs`), `POST /stop` `/events` (`control.rs`),
//! `DELETE /inbox` `/inbox/:id` (`read.rs`).

mod control;
mod read;
mod send;
mod wait;

use std::sync::Arc;

use hyper::Method;
use hyper::body::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use super::Session;
use crate::wire::replies::ErrorReply;

#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub body: Value,
}

impl Reply {
    /// A 200 with a wire reply.
    fn ok(body: &impl Serialize) -> Reply {
        Reply::with(200, body)
    }

    fn with(code: u16, body: &impl Serialize) -> Reply {
        Reply {
            code,
            body: crate::wire::to_value(body),
        }
    }

    pub fn error(code: u16, message: &str) -> Reply {
        Reply::with(
            code,
            &ErrorReply {
                ok: false,
                error: message.to_string(),
            },
        )
    }
}

/// An authenticated request whose body has been read.
pub struct Call {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub body: Bytes,
}

impl Call {
    fn segments(&self) -> Vec<&str> {
        self.path.trim_matches('/').split('/').collect()
    }

    /// The routes that wait for the session (answered on the runtime, without a thread).
    pub fn is_long_poll(&self) -> bool {
        self.method == Method::GET
            && matches!(self.segments().as_slice(), ["wait"] | ["messages", _])
    }
}

/// `GET /wait` and `GET /messages/:id`.
pub async fn long_poll(session: &Session, call: &Call) -> Reply {
    let reply = match call.segments().as_slice() {
        ["wait"] => wait::get_wait(session, &call.query).await,
        ["messages", id] => wait::get_message(session, id, &call.query).await,
        _ => Reply::error(404, "not found"),
    };
    // What the answer says is in the registry entry before the client reads it.
    super::registry_writer::flush(session);
    reply
}

/// Every other route; may block (delivery, the screen, stop).
pub fn handle(session: &Arc<Session>, call: &Call) -> Reply {
    let reply = route(session, call);
    // A change a request made is in the registry entry before its client reads the answer.
    if call.method != Method::GET {
        super::registry_writer::flush(session);
    }
    reply
}

fn route(session: &Arc<Session>, call: &Call) -> Reply {
    let body = &call.body[..];
    match (&call.method, call.segments().as_slice()) {
        (&Method::GET, ["status"] | ["health"]) => read::get_status(session),
        (&Method::GET, ["screen"]) => read::get_screen(session),
        (&Method::GET, ["explain"]) => read::get_explain(session),
        (&Method::POST, ["send"]) => send::post_send(session, body),
        (&Method::POST, ["stop"]) => control::post_stop(session, body),
        (&Method::POST, ["events"]) => control::post_event(session, body),
        (&Method::GET, ["inbox"]) => read::get_inbox(session),
        (&Method::DELETE, ["inbox"]) => read::clear_inbox(session),
        (&Method::DELETE, ["inbox", id]) => read::drop_message(session, id),
        _ => Reply::error(404, "not found"),
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Length is not secret (tokens have a fixed length); the content is compared without an
    // early exit.
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A body that must be a JSON object (an empty body is an empty object).
fn object_body(body: &[u8], example: &str) -> Result<Map<String, Value>, Reply> {
    if body.trim_ascii().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(Reply::error(
            400,
            &format!("expected a JSON object such as {example}"),
        )),
        Err(_) => Err(Reply::error(400, "invalid json")),
    }
}

/// A request read from its fields: a 400 naming the field at fault otherwise.
fn typed<T: serde::de::DeserializeOwned>(fields: Map<String, Value>) -> Result<T, Reply> {
    crate::wire::requests::from_object(fields).map_err(|message| Reply::error(400, &message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    /// The message of a 400.
    pub fn error_of<T>(result: Result<T, Reply>) -> String {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(reply) => {
                assert_eq!(reply.code, 400);
                reply.body["error"].as_str().unwrap().to_string()
            }
        }
    }
}
