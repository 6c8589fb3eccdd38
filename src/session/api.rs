//! The session API's routes: a request in, a JSON reply out. The HTTP layer (limits,
//! authentication, connections) is `api_server.rs`; it calls `long_poll` on its runtime for the
//! routes that wait and `handle` on its blocking pool for the rest.
//!
//! Routes: `GET /status` `/health` `/screen` `/explain` `/wait` `/inbox` `/messages/:id`,
//! `POST /send` `/stop` `/events`, `DELETE /inbox` `/inbox/:id`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use hyper::body::Bytes;
use serde_json::{Map, Value, json};

use super::Session;
use super::delivery;
use super::inbox::Payload;
use super::monitor::{Inspection, MonitorMsg};
use super::state::AgentState;
use super::status;
use super::stop::{self, StopRequest};
use super::submit::{self, Outcome, Refusal};

/// Longest a single long-poll request may block; clients loop for longer waits.
const MAX_POLL: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply { code: 200, body }
    }

    pub fn error(code: u16, message: &str) -> Reply {
        Reply {
            code,
            body: json!({"ok": false, "error": message}),
        }
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
    match call.segments().as_slice() {
        ["wait"] => get_wait(session, &call.query).await,
        ["messages", id] => get_message(session, id, &call.query).await,
        _ => Reply::error(404, "not found"),
    }
}

/// Every other route; may block (delivery, the screen, stop).
pub fn handle(session: &Arc<Session>, call: &Call) -> Reply {
    let body = &call.body[..];
    match (&call.method, call.segments().as_slice()) {
        (&Method::GET, ["status"] | ["health"]) => get_status(session),
        (&Method::GET, ["screen"]) => get_screen(session),
        (&Method::GET, ["explain"]) => get_explain(session),
        (&Method::POST, ["send"]) => post_send(session, body),
        (&Method::POST, ["stop"]) => post_stop(session, body),
        (&Method::POST, ["events"]) => post_event(session, body),
        (&Method::GET, ["inbox"]) => get_inbox(session),
        (&Method::DELETE, ["inbox"]) => {
            let cleared = session.shared.update(|live| live.inbox.clear());
            Reply::ok(json!({"ok": true, "cleared": cleared}))
        }
        (&Method::DELETE, ["inbox", id]) => {
            match session.shared.update(|live| live.inbox.drop_message(id)) {
                Some(message) => Reply::ok(json!({"ok": true, "message": message.to_json()})),
                None => Reply::error(404, "message not found"),
            }
        }
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

fn get_status(session: &Session) -> Reply {
    let live = session.shared.lock();
    Reply::ok(Value::Object(status::payload(session, &live, true)))
}

fn inspect(session: &Session) -> Option<Inspection> {
    let (tx, rx) = std::sync::mpsc::channel();
    session.monitor.send(MonitorMsg::Inspect(tx)).ok()?;
    rx.recv_timeout(Duration::from_secs(2)).ok()
}

fn get_screen(session: &Session) -> Reply {
    let Some(Inspection { view, .. }) = inspect(session) else {
        return Reply::error(503, "screen unavailable (session is shutting down)");
    };
    Reply::ok(json!({
        "ok": true,
        "id": session.config.id,
        "text": view.text(),
        "rows": view.rows,
        "cursor": {"row": view.cursor.0, "col": view.cursor.1},
        "title": view.title,
        "size": {"rows": view.size.0, "cols": view.size.1},
        "captured_at": crate::time::now_rfc3339(),
    }))
}

fn get_explain(session: &Session) -> Reply {
    let Some(Inspection { view, verdict }) = inspect(session) else {
        return Reply::error(503, "screen unavailable (session is shutting down)");
    };
    let live = session.shared.lock();
    Reply::ok(json!({
        "ok": true,
        "id": session.config.id,
        "adapter": session.adapter.name(),
        "state": live.visible_state().as_str(),
        "state_since": crate::time::rfc3339(live.state_since),
        "verdict": verdict,
        "dialog": live.dialog,
        "quiet_window_ms": session.adapter.quiet_window().as_millis() as u64,
        "output_means_busy": session.adapter.output_means_busy(),
        "turn": {
            "submitted": live.turns.submitted,
            "started": live.turns.started,
            "completed": live.turns.completed,
            "pending": live.pending_turn,
        },
        "title": view.title,
        "cursor": {"row": view.cursor.0, "col": view.cursor.1},
        "rows": view.rows,
    }))
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn poll_deadline(query: &str) -> Instant {
    let wait = query_param(query, "timeout_ms")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(MAX_POLL)
        .min(MAX_POLL);
    Instant::now() + wait
}

/// Long-poll: `until=exited|ready|prompt|busy|blocked|unknown|turn` (`turn` needs `turn=N`).
async fn get_wait(session: &Session, query: &str) -> Reply {
    let until = query_param(query, "until").unwrap_or("exited").to_string();
    let turn: u64 = query_param(query, "turn")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let target = AgentState::parse(&until);
    if target.is_none() && !matches!(until.as_str(), "ready" | "turn") {
        return Reply::error(
            400,
            "until must be one of exited, ready, turn, prompt, busy, blocked, unknown",
        );
    }
    if until == "turn" && turn == 0 {
        return Reply::error(400, "until=turn needs turn=N");
    }
    let started = Instant::now();
    let wait = session
        .shared
        .wait_for_async(Some(poll_deadline(query)), |live| {
            let state = live.visible_state();
            let reached = match until.as_str() {
                "ready" => live.lifecycle.ever_ready() || live.exit().is_some(),
                "turn" => {
                    live.turns.completed >= turn
                        || live.exit().is_some()
                        || (live.turns.started >= turn && state == AgentState::Blocked)
                }
                // The prompt counts only once no submitted turn is still in flight.
                // The prompt counts only once nothing is queued, being written or in flight.
                "prompt" => live.settled_at_prompt() || live.exit().is_some(),
                _ => Some(state) == target || live.exit().is_some(),
            };
            reached.then_some(())
        });
    let done = wait.await;
    let live = session.shared.lock();
    let state = live.visible_state();
    let mut body = json!({
        "ok": done.is_some(),
        "id": session.config.id,
        "state": state.as_str(),
        "waited_seconds": started.elapsed().as_secs_f64(),
        "turn": {
            "submitted": live.turns.submitted,
            "started": live.turns.started,
            "completed": live.turns.completed,
            "pending": live.pending_turn,
        },
    });
    if done.is_none() {
        body["status"] = json!("timeout");
    }
    if let Some(exit) = live.exit() {
        body["exit_code"] = json!(exit.code);
    }
    if let Some(dialog) = &live.dialog {
        body["dialog"] = json!(dialog);
    }
    Reply::ok(body)
}

async fn get_message(session: &Session, id: &str, query: &str) -> Reply {
    let wait = query_param(query, "wait_ms").is_some();
    let deadline = poll_deadline(query);
    let found = session
        .shared
        .wait_for_async(Some(deadline), |live| match live.inbox.get(id) {
            None => Some(None),
            // After the exit a message still being written gets its outcome in a moment (the
            // delivery sees the exit); one still queued is failed by the session's end.
            Some(m) if !wait || m.status.is_final() => Some(Some(m.to_json())),
            Some(_) => None,
        })
        .await;
    let message = match found {
        Some(found) => found,
        // Timed out while still queued: report where it stands.
        None => session.shared.lock().inbox.get(id).map(|m| m.to_json()),
    };
    match message {
        Some(mut message) => {
            message["ok"] = json!(true);
            Reply::ok(message)
        }
        None => Reply::error(404, "message not found"),
    }
}

fn get_inbox(session: &Session) -> Reply {
    let live = session.shared.lock();
    let messages: Vec<Value> = live.inbox.pending().map(|m| m.to_json()).collect();
    Reply::ok(json!({"ok": true, "messages": messages, "stats": live.inbox.stats()}))
}

/// The longest a message may wait in the inbox (`ttl`).
const MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// A JSON request's fields, read with their types checked: an absent (or null) field is `None`,
/// a field of the wrong type is a 400 that names it.
struct Fields(Map<String, Value>);

impl Fields {
    fn get<T>(
        &self,
        name: &str,
        expected: &str,
        read: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<T>, Reply> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => read(value)
                .map(Some)
                .ok_or_else(|| Reply::error(400, &format!("{name} must be {expected}"))),
        }
    }

    fn flag(&self, name: &str) -> Result<Option<bool>, Reply> {
        self.get(name, "true or false", Value::as_bool)
    }

    fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// A body that must be a JSON object (an empty body is an empty object).
fn object_body(body: &[u8], example: &str) -> Result<Fields, Reply> {
    if body.trim_ascii().is_empty() {
        return Ok(Fields(Map::new()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Ok(Fields(fields)),
        Ok(_) => Err(Reply::error(
            400,
            &format!("expected a JSON object such as {example}"),
        )),
        Err(_) => Err(Reply::error(400, "invalid json")),
    }
}

fn post_send(session: &Arc<Session>, body: &[u8]) -> Reply {
    let fields = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Fields(fields),
        Ok(_) => {
            return Reply::error(
                400,
                "expected a JSON object such as {\"text\": \"…\", \"submit\": true}; only a body that is not JSON at all is typed as raw text",
            );
        }
        Err(_) if body.first().is_some_and(|b| *b == b'{' || *b == b'[') => {
            return Reply::error(400, "invalid json");
        }
        // A plain-text body is typed as is (Ruby-compatible raw injection).
        Err(_) => return raw_inject(session, &String::from_utf8_lossy(body), false),
    };
    match read_send(&fields) {
        Ok(Send::Keys(keys)) => send_keys(session, &keys),
        Ok(Send::Raw { text, newline }) => raw_inject(session, &text, newline),
        Ok(Send::Inbox { payload, ttl, wait }) => send_via_inbox(session, payload, ttl, wait),
        Err(reply) => reply,
    }
}

/// The forms of `POST /send` (see docs/api.md).
enum Send {
    Keys(Value),
    Raw {
        text: String,
        newline: bool,
    },
    Inbox {
        payload: Payload,
        ttl: Option<Duration>,
        /// Answer only once the delivery is done (false: at once, with the message id).
        wait: bool,
    },
}

fn read_send(fields: &Fields) -> Result<Send, Reply> {
    if let Some(keys) = fields.0.get("keys") {
        return Ok(Send::Keys(keys.clone()));
    }
    let text = fields
        .get("text", "a string", |v| v.as_str().map(str::to_string))?
        .unwrap_or_default();
    let inbox_mode = ["submit", "enter_only", "force", "wait"]
        .iter()
        .any(|k| fields.has(k));
    if !inbox_mode {
        let newline = fields.flag("newline")?.unwrap_or(true);
        if text.is_empty() {
            return Err(Reply::error(400, "text is required"));
        }
        return Ok(Send::Raw { text, newline });
    }
    let payload = Payload {
        text,
        submit: fields.flag("submit")?.unwrap_or(true),
        enter_only: fields.flag("enter_only")?.unwrap_or(false),
        force: fields.flag("force")?.unwrap_or(false),
    };
    if payload.text.is_empty() && !payload.enter_only {
        return Err(Reply::error(400, "text is required"));
    }
    // Refused up front rather than failed in delivery: a blank message would take no turn.
    if !payload.text.is_empty() && crate::message_text::is_blank(&payload.text) {
        return Err(Reply::error(
            400,
            "text is blank (only whitespace or control characters): send some words",
        ));
    }
    let ttl = fields.get(
        "ttl",
        "a number of seconds above 0 and at most 86400",
        |v| {
            v.as_f64()
                .filter(|t| *t > 0.0)
                .and_then(|t| Duration::try_from_secs_f64(t).ok())
                .filter(|t| *t <= MAX_TTL)
        },
    )?;
    let wait = fields.flag("wait")?.unwrap_or(true);
    Ok(Send::Inbox { payload, ttl, wait })
}

/// `{"keys": "Down,Enter"}` (or an array of names): press them now, whatever the state.
fn send_keys(session: &Session, keys: &Value) -> Reply {
    let spec = match keys {
        Value::String(s) => s.clone(),
        Value::Array(names) => names
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        _ => return Reply::error(400, "keys must be a string like \"Down,Enter\" or an array"),
    };
    let application_cursor = session.shared.lock().application_cursor;
    let keys = match crate::keys::parse_keys(&spec, application_cursor) {
        Ok(keys) => keys,
        Err(e) => return Reply::error(400, &e),
    };
    match delivery::deliver_keys(session, &keys) {
        Ok(written) => {
            let live = session.shared.lock();
            Reply::ok(json!({
                "ok": true,
                "status": "delivered",
                "keys": spec,
                "bytes_written": written,
                "injected_count": live.injected_count,
                "input_state": status::input_state(&live),
            }))
        }
        Err(e) => Reply::error(500, &e),
    }
}

fn raw_inject(session: &Session, text: &str, newline: bool) -> Reply {
    let mut bytes = text.as_bytes().to_vec();
    if newline {
        bytes.push(b'\r');
    }
    if session.shared.lock().exit().is_some() {
        return Reply::error(500, "session is not running");
    }
    match session.write(bytes.clone()) {
        Ok(()) => Reply::ok(
            json!({"ok": true, "status": "delivered", "bytes_written": bytes.len(), "newline": newline}),
        ),
        Err(e) => Reply::error(500, &format!("cannot write to the agent: {e}")),
    }
}

/// `POST /send` in inbox mode: the core decides ([`submit::submit`]); this maps its outcome.
fn send_via_inbox(
    session: &Arc<Session>,
    payload: Payload,
    ttl: Option<Duration>,
    wait: bool,
) -> Reply {
    let id = match submit::submit(session, &payload, ttl) {
        Err(refusal) => {
            let code = match refusal {
                Refusal::NotRunning => 500,
                Refusal::Blocked(_) => 409,
                Refusal::InboxFull => 503,
            };
            return Reply::error(code, &refusal.to_string());
        }
        Ok(Outcome::AnswerDialog) => return send_keys(session, &json!("Enter")),
        Ok(Outcome::Queued(id)) => {
            return Reply {
                code: 202,
                body: json!({"ok": true, "status": "queued", "message_id": id}),
            };
        }
        Ok(Outcome::Direct(id)) => id,
    };
    if wait {
        return deliver_direct(session, &id, &payload);
    }
    // The sender follows the message by id (`GET /messages/:id`), which carries this delivery's
    // answer once it is done; deliveries are serialised by the delivery lock.
    let s = Arc::clone(session);
    let background_id = id.clone();
    let started = std::thread::Builder::new()
        .name("delivery".into())
        .spawn(move || deliver_direct(&s, &background_id, &payload));
    if started.is_err() {
        submit::abandon_direct(session, &id, "cannot start a delivery thread");
        return Reply::error(500, "cannot start a delivery thread");
    }
    Reply {
        code: 202,
        body: json!({"ok": true, "status": "delivering", "message_id": id}),
    }
}

/// Write a message now and answer with the outcome (kept with the message for `GET
/// /messages/:id`).
fn deliver_direct(session: &Session, id: &str, payload: &Payload) -> Reply {
    submit::deliver_direct(session, id, payload, |live, outcome| {
        let reply = match outcome {
            Ok(delivered) => Reply::ok(json!({
                "ok": true,
                "status": "delivered",
                "message_id": id,
                "bytes_written": delivered.bytes_written,
                "injected_count": live.injected_count,
                "newline": payload.submit,
                "cli": session.config.cli,
                "input_state": status::input_state(live),
                "force": payload.force,
                "turn": (delivered.turn > 0).then_some(delivered.turn),
                "submitted": delivered.submitted,
            })),
            Err(error) => Reply::error(500, error),
        };
        let record = reply.body.clone();
        (reply, record)
    })
}

/// Event types other harnex processes may record in this session's log (the `--watch`
/// babysitter's `log_idle`/`resume`, the agent's own `harnex done`), so the log keeps one writer
/// and one `seq`.
const EXTERNAL_EVENTS: [&str; 3] = ["log_idle", "resume", "done"];

fn post_event(session: &Session, body: &[u8]) -> Reply {
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(body) else {
        return Reply::error(400, "invalid json: expected {\"type\": …, …fields}");
    };
    let kind = match fields.remove("type") {
        Some(Value::String(kind)) if EXTERNAL_EVENTS.contains(&kind.as_str()) => kind,
        _ => {
            return Reply::error(
                400,
                &format!("type must be one of: {}", EXTERNAL_EVENTS.join(", ")),
            );
        }
    };
    // The envelope is ours to write.
    for reserved in ["schema_version", "seq", "ts", "id", "session_id"] {
        fields.remove(reserved);
    }
    let mut fields = Value::Object(fields);
    crate::redact::redact_value(&mut fields);
    if kind == "done" {
        // The agent says its task is finished: remembered for status and the watcher.
        let message = fields["message"]
            .as_str()
            .map(|m| crate::events::preview(m).0);
        fields = json!({"message": message});
        session
            .shared
            .update(|live| live.done_at = Some(std::time::SystemTime::now()));
    }
    session.events.emit(&kind, fields);
    Reply::ok(json!({"ok": true, "type": kind}))
}

fn post_stop(session: &Arc<Session>, body: &[u8]) -> Reply {
    match read_stop(body) {
        Ok(request) => {
            let signal = stop::request_stop(session, request);
            Reply::ok(json!({"ok": true, "signal": signal}))
        }
        Err(reply) => reply,
    }
}

fn read_stop(body: &[u8]) -> Result<StopRequest, Reply> {
    let fields = object_body(body, "{\"grace_ms\": 5000, \"force\": false}")?;
    let max_ms = stop::MAX_GRACE.as_millis() as u64;
    let grace_ms = fields.get(
        "grace_ms",
        &format!("a whole number of milliseconds from 0 to {max_ms} (24 h)"),
        |v| v.as_u64().filter(|ms| *ms <= max_ms),
    )?;
    Ok(StopRequest {
        force: fields.flag("force")?.unwrap_or(false),
        grace: grace_ms
            .map(Duration::from_millis)
            .unwrap_or(stop::DEFAULT_GRACE),
    })
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

    fn error_of<T>(result: Result<T, Reply>) -> String {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(reply) => {
                assert_eq!(reply.code, 400);
                reply.body["error"].as_str().unwrap().to_string()
            }
        }
    }

    #[test]
    fn stop_requests_are_checked() {
        let request = read_stop(b"").unwrap();
        assert!(!request.force);
        assert_eq!(request.grace, stop::DEFAULT_GRACE);
        let request = read_stop(br#"{"grace_ms": 86400000, "force": true}"#).unwrap();
        assert!(request.force);
        assert_eq!(request.grace, stop::MAX_GRACE);
        for body in [
            &br#"{"grace_ms": 18446744073709551615}"#[..],
            br#"{"grace_ms": 86400001}"#,
            br#"{"grace_ms": -1}"#,
            br#"{"grace_ms": "5s"}"#,
        ] {
            assert!(error_of(read_stop(body)).contains("grace_ms"));
        }
        assert!(error_of(read_stop(br#"{"force": "yes"}"#)).contains("force"));
        assert!(error_of(read_stop(br#""x""#)).contains("JSON object"));
        assert_eq!(error_of(read_stop(b"{nope")), "invalid json");
    }

    fn fields(body: &str) -> Fields {
        match serde_json::from_str(body).unwrap() {
            Value::Object(map) => Fields(map),
            _ => unreachable!(),
        }
    }

    #[test]
    fn send_fields_of_the_wrong_type_are_named() {
        for (body, field) in [
            (r#"{"text": "x", "force": "yes"}"#, "force"),
            (r#"{"text": "x", "submit": 1}"#, "submit"),
            (r#"{"enter_only": "true"}"#, "enter_only"),
            (r#"{"text": 5, "submit": true}"#, "text"),
            (r#"{"text": "x", "newline": "no"}"#, "newline"),
            (r#"{"text": "x", "submit": true, "ttl": 1e300}"#, "ttl"),
            (r#"{"text": "x", "submit": true, "ttl": -3}"#, "ttl"),
            (r#"{"text": "x", "wait": "no"}"#, "wait"),
        ] {
            let error = error_of(read_send(&fields(body)));
            assert!(error.starts_with(field), "{body}: {error}");
        }
        assert!(matches!(
            read_send(&fields(r#"{"text": "x", "force": null}"#)),
            Ok(Send::Inbox { wait: true, .. })
        ));
        assert!(matches!(
            read_send(&fields(r#"{"text": "x", "wait": false}"#)),
            Ok(Send::Inbox { wait: false, .. })
        ));
        assert!(matches!(
            read_send(&fields(r#"{"text": "x"}"#)),
            Ok(Send::Raw { newline: true, .. })
        ));
    }

    #[test]
    fn query_params_are_found() {
        assert_eq!(query_param("until=turn&turn=3", "turn"), Some("3"));
        assert_eq!(query_param("until=turn", "turn"), None);
    }
}
