//! The session's HTTP API (tiny_http, loopback only). Every route needs
//! `Authorization: Bearer <token>` (compared in constant time); bodies over 1 MiB get 413; every
//! response is JSON. One short-lived thread per request, so long-polls (`/wait`,
//! `/messages/:id?wait_ms=`) never hold up other requests.
//!
//! Routes: `GET /status` `/health` `/screen` `/explain` `/wait` `/inbox` `/messages/:id`,
//! `POST /send` `/stop`, `DELETE /inbox` `/inbox/:id`.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tiny_http::{Header, Method, Request, Response};

use super::Session;
use super::delivery;
use super::inbox::{InboxFull, Payload};
use super::monitor::{Inspection, MonitorMsg};
use super::state::AgentState;
use super::status;
use super::stop::{self, StopRequest};

pub const MAX_BODY: usize = 1024 * 1024;
const MAX_IN_FLIGHT: usize = 64;
/// Longest a single long-poll request may block; clients loop for longer waits.
const MAX_POLL: Duration = Duration::from_secs(60);

pub struct Reply {
    code: u16,
    body: Value,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply { code: 200, body }
    }

    fn error(code: u16, message: &str) -> Reply {
        Reply {
            code,
            body: json!({"ok": false, "error": message}),
        }
    }
}

/// Accept requests until the server is unblocked at shutdown.
pub fn serve(session: Arc<Session>, server: Arc<tiny_http::Server>) {
    for request in server.incoming_requests() {
        if session.api_in_flight.load(Ordering::SeqCst) >= MAX_IN_FLIGHT {
            respond(request, Reply::error(503, "too many requests in flight"));
            continue;
        }
        session.api_in_flight.fetch_add(1, Ordering::SeqCst);
        let session = Arc::clone(&session);
        std::thread::spawn(move || {
            handle(&session, request);
            session.api_in_flight.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

fn respond(request: Request, reply: Reply) {
    let header = Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
        .expect("static header is valid");
    let mut body = reply.body.to_string();
    body.push('\n');
    let response = Response::from_string(body)
        .with_status_code(reply.code)
        .with_header(header);
    let _ = request.respond(response);
}

fn handle(session: &Arc<Session>, mut request: Request) {
    if !authorized(&request, &session.config.token) {
        return respond(request, Reply::error(401, "unauthorized"));
    }
    let body = match read_body(&mut request) {
        Ok(body) => body,
        Err(reply) => return respond(request, reply),
    };
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let reply = match (request.method(), segments.as_slice()) {
        (Method::Get, ["status"] | ["health"]) => get_status(session),
        (Method::Get, ["screen"]) => get_screen(session),
        (Method::Get, ["explain"]) => get_explain(session),
        (Method::Get, ["wait"]) => get_wait(session, query),
        (Method::Post, ["send"]) => post_send(session, &body),
        (Method::Post, ["stop"]) => post_stop(session, &body),
        (Method::Post, ["events"]) => post_event(session, &body),
        (Method::Get, ["messages", id]) => get_message(session, id, query),
        (Method::Get, ["inbox"]) => get_inbox(session),
        (Method::Delete, ["inbox"]) => {
            let cleared = session.shared.update(|live| live.inbox.clear());
            Reply::ok(json!({"ok": true, "cleared": cleared}))
        }
        (Method::Delete, ["inbox", id]) => {
            match session.shared.update(|live| live.inbox.drop_message(id)) {
                Some(message) => Reply::ok(json!({"ok": true, "message": message.to_json()})),
                None => Reply::error(404, "message not found"),
            }
        }
        _ => Reply::error(404, "not found"),
    };
    respond(request, reply);
}

/// Constant-time comparison of the bearer token.
fn authorized(request: &Request, token: &str) -> bool {
    let Some(header) = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
    else {
        return false;
    };
    let given = header.value.as_str().strip_prefix("Bearer ").unwrap_or("");
    constant_time_eq(given.trim().as_bytes(), token.as_bytes())
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Length is not secret (tokens have a fixed length); the content is compared without an
    // early exit.
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn read_body(request: &mut Request) -> Result<Vec<u8>, Reply> {
    let too_large = || Reply::error(413, "request body too large (limit 1 MiB)");
    if request.body_length().is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    request
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|_| Reply::error(400, "cannot read request body"))?;
    if body.len() > MAX_BODY {
        return Err(too_large());
    }
    Ok(body)
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
fn get_wait(session: &Session, query: &str) -> Reply {
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
    let done = session.shared.wait_for(Some(poll_deadline(query)), |live| {
        let state = live.visible_state();
        let reached = match until.as_str() {
            "ready" => live.ever_ready || live.exit.is_some(),
            "turn" => {
                live.turns.completed >= turn
                    || live.exit.is_some()
                    || (live.turns.started >= turn && state == AgentState::Blocked)
            }
            // The prompt counts only once no submitted turn is still in flight.
            // The prompt counts only once nothing is queued, being written or in flight.
            "prompt" => live.settled_at_prompt() || live.exit.is_some(),
            _ => Some(state) == target || live.exit.is_some(),
        };
        reached.then_some(())
    });
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
    if let Some(exit) = live.exit {
        body["exit_code"] = json!(exit.code);
    }
    if let Some(dialog) = &live.dialog {
        body["dialog"] = json!(dialog);
    }
    Reply::ok(body)
}

fn get_message(session: &Session, id: &str, query: &str) -> Reply {
    let wait = query_param(query, "wait_ms").is_some();
    let deadline = poll_deadline(query);
    let found = session
        .shared
        .wait_for(Some(deadline), |live| match live.inbox.get(id) {
            None => Some(None),
            // After the exit a message still being written gets its outcome in a moment (the
            // delivery sees the exit); one still queued is failed by the session's end.
            Some(m) if !wait || m.status.is_final() => Some(Some(m.to_json())),
            Some(_) => None,
        });
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

fn post_send(session: &Session, body: &[u8]) -> Reply {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let Some(Value::Object(fields)) = parsed else {
        if body.first().is_some_and(|b| *b == b'{' || *b == b'[') {
            return Reply::error(400, "invalid json");
        }
        // A plain-text body is typed as is (Ruby-compatible raw injection).
        return raw_inject(session, &String::from_utf8_lossy(body), false);
    };
    if let Some(keys) = fields.get("keys") {
        return send_keys(session, keys);
    }
    let text = fields
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let inbox_mode = ["submit", "enter_only", "force"]
        .iter()
        .any(|k| fields.contains_key(*k));
    if !inbox_mode {
        let newline = fields
            .get("newline")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        if text.is_empty() {
            return Reply::error(400, "text is required");
        }
        return raw_inject(session, &text, newline);
    }
    let flag = |k: &str, default: bool| fields.get(k).and_then(Value::as_bool).unwrap_or(default);
    let payload = Payload {
        text,
        submit: flag("submit", true),
        enter_only: flag("enter_only", false),
        force: flag("force", false),
    };
    if payload.text.is_empty() && !payload.enter_only {
        return Reply::error(400, "text is required");
    }
    let ttl = fields
        .get("ttl")
        .and_then(Value::as_f64)
        .filter(|t| t.is_finite() && *t > 0.0)
        .map(Duration::from_secs_f64);
    send_via_inbox(session, payload, ttl)
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

/// Why text may not go into the dialog the agent is blocked on (or `None` when it may).
fn blocked_refusal(
    session: &Session,
    live: &super::live::Live,
    payload: &Payload,
) -> Option<Reply> {
    if live.state != AgentState::Blocked || payload.force {
        return None;
    }
    let id = &session.config.id;
    let (reason, keys, safe) = match &live.dialog {
        Some(d) => (d.reason.as_str(), d.accept_keys.join(","), d.enter_is_safe),
        None => ("unknown", "Enter".to_string(), false),
    };
    if payload.enter_only && safe {
        return None;
    }
    let message = if payload.enter_only {
        format!(
            "Enter is not a safe answer to the {reason} dialog: it would pick the highlighted choice, which declines; accept with `harnex send --id {id} --keys {keys}`, or pass --force to press Enter anyway"
        )
    } else {
        format!(
            "the agent is blocked on a {reason} dialog and cannot take text; answer it with `harnex send --id {id} --keys {keys}`, or pass --force to type into it anyway"
        )
    };
    Some(Reply::error(409, &message))
}

fn raw_inject(session: &Session, text: &str, newline: bool) -> Reply {
    let mut bytes = text.as_bytes().to_vec();
    if newline {
        bytes.push(b'\r');
    }
    if session.shared.lock().exit.is_some() {
        return Reply::error(500, "session is not running");
    }
    match session.write(bytes.clone()) {
        Ok(()) => Reply::ok(
            json!({"ok": true, "status": "delivered", "bytes_written": bytes.len(), "newline": newline}),
        ),
        Err(e) => Reply::error(500, &format!("cannot write to the agent: {e}")),
    }
}

fn send_via_inbox(session: &Session, payload: Payload, ttl: Option<Duration>) -> Reply {
    let now = Instant::now();
    enum Plan {
        Direct(String),
        Queued(String),
        Keys,
    }
    let plan = session.shared.update(|live| {
        if live.exit.is_some() {
            return Err(Reply::error(500, "session is not running"));
        }
        if let Some(refusal) = blocked_refusal(session, live, &payload) {
            return Err(refusal);
        }
        // Enter alone at a dialog answers it now; it starts no turn.
        if live.state == AgentState::Blocked && payload.enter_only {
            return Ok(Plan::Keys);
        }
        let ready =
            live.may_deliver(payload.enter_only) && live.inbox.is_empty() && live.delivering == 0;
        if payload.force || ready {
            live.delivering += 1;
            return Ok(Plan::Direct(live.inbox.start_direct(payload.clone(), now)));
        }
        match live.inbox.enqueue(payload.clone(), ttl, now) {
            Ok(id) => Ok(Plan::Queued(id)),
            Err(InboxFull) => Err(Reply::error(
                503,
                &format!(
                    "inbox full ({} pending messages)",
                    super::inbox::MAX_PENDING
                ),
            )),
        }
    });
    match plan {
        Err(reply) => reply,
        Ok(Plan::Keys) => send_keys(session, &json!("Enter")),
        Ok(Plan::Queued(id)) => Reply {
            code: 202,
            body: json!({"ok": true, "status": "queued", "message_id": id}),
        },
        Ok(Plan::Direct(id)) => {
            let outcome = delivery::deliver(session, &id, &payload);
            session.shared.update(|live| {
                live.delivering = live.delivering.saturating_sub(1);
                live.inbox
                    .finish(&id, outcome.clone().map(|d| (d.turn, d.submitted)))
            });
            match outcome {
                Ok(delivered) => {
                    let live = session.shared.lock();
                    Reply::ok(json!({
                        "ok": true,
                        "status": "delivered",
                        "message_id": id,
                        "bytes_written": delivered.bytes_written,
                        "injected_count": live.injected_count,
                        "newline": payload.submit,
                        "cli": session.config.cli,
                        "input_state": status::input_state(&live),
                        "force": payload.force,
                        "turn": (delivered.turn > 0).then_some(delivered.turn),
                        "submitted": delivered.submitted,
                    }))
                }
                Err(error) => Reply::error(500, &error),
            }
        }
    }
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
    let fields: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let request = StopRequest {
        force: fields
            .get("force")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        grace: fields
            .get("grace_ms")
            .and_then(Value::as_u64)
            .map(Duration::from_millis)
            .unwrap_or(stop::DEFAULT_GRACE),
    };
    let signal = stop::request_stop(session, request);
    Reply::ok(json!({"ok": true, "signal": signal}))
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

    #[test]
    fn query_params_are_found() {
        assert_eq!(query_param("until=turn&turn=3", "turn"), Some("3"));
        assert_eq!(query_param("until=turn", "turn"), None);
    }
}
