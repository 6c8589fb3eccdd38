//! `POST /send`: keys pressed now, raw injection (the Ruby forms), or a message through the inbox
//! (delivered now when the agent is at its prompt, else queued). docs/api.md.

use std::sync::Arc;
use std::time::Duration;

use super::{Reply, typed};
use crate::session::Session;
use crate::session::delivery;
use crate::session::inbox::Payload;
use crate::session::status;
use crate::session::submit::{self, Outcome, Refusal};
use crate::wire::replies::{Accepted, Delivered, KeysDelivered, RawDelivered};
use crate::wire::requests::{KeySpec, SendRequest, TTL_EXPECTED};

/// The longest a message may wait in the inbox (`ttl`).
const MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);

pub fn post_send(session: &Arc<Session>, body: &[u8]) -> Reply {
    let fields = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(fields)) => fields,
        Ok(_) => {
            return Reply::error(
                400,
                "expected a JSON object such as {\"text\": \"…\", \"submit\": true}; only a body that is not JSON at all is typed as raw text",
            );
        }
        Err(_) if body.first().is_some_and(|b| *b == b'{' || *b == b'[') => {
            return Reply::error(400, "invalid json");
        }
        // A plain-text body is a message typed and submitted now, whatever the state (as the
        // Ruby harnex does): delivered as a forced message, so Enter comes as its own key.
        Err(_) => return plain_text(session, &String::from_utf8_lossy(body)),
    };
    match typed(fields).and_then(|request| read_send(&request)) {
        Ok(Send::Keys(keys)) => send_keys(session, &keys),
        Ok(Send::Raw { text, newline }) => raw_inject(session, &text, newline),
        Ok(Send::Inbox { payload, ttl, wait }) => send_via_inbox(session, payload, ttl, wait),
        Err(reply) => reply,
    }
}

/// The forms of `POST /send` (see docs/api.md).
enum Send {
    Keys(KeySpec),
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

fn read_send(request: &SendRequest) -> Result<Send, Reply> {
    if let Some(keys) = &request.keys {
        return Ok(Send::Keys(keys.clone()));
    }
    let text = request.text.clone().unwrap_or_default();
    if !request.is_inbox() {
        if text.is_empty() {
            return Err(Reply::error(400, "text is required"));
        }
        let newline = request.newline.unwrap_or(true);
        return Ok(Send::Raw { text, newline });
    }
    let flag = |field: Option<Option<bool>>, default: bool| field.flatten().unwrap_or(default);
    let payload = Payload {
        text,
        submit: flag(request.submit, true),
        enter_only: flag(request.enter_only, false),
        force: flag(request.force, false),
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
    let ttl = request.ttl.map(ttl_of).transpose()?;
    let wait = flag(request.wait, true);
    Ok(Send::Inbox { payload, ttl, wait })
}

/// `ttl` seconds as a duration: above 0 and at most a day.
fn ttl_of(seconds: f64) -> Result<Duration, Reply> {
    Some(seconds)
        .filter(|t| *t > 0.0)
        .and_then(|t| Duration::try_from_secs_f64(t).ok())
        .filter(|t| *t <= MAX_TTL)
        .ok_or_else(|| Reply::error(400, &format!("ttl must be {TTL_EXPECTED}")))
}

/// `{"keys": "Down,Enter"}` (or an array of names): press them now, whatever the state.
fn send_keys(session: &Session, keys: &KeySpec) -> Reply {
    let spec = keys.joined();
    let application_cursor = session.shared.lock().application_cursor;
    let keys = match crate::keys::parse_keys(&spec, application_cursor) {
        Ok(keys) => keys,
        Err(e) => return Reply::error(400, &e),
    };
    match delivery::deliver_keys(session, &keys) {
        Ok(written) => {
            let live = session.shared.lock();
            Reply::ok(&KeysDelivered {
                ok: true,
                status: "delivered".into(),
                keys: spec,
                bytes_written: written,
                injected_count: live.injected_count,
                input_state: status::input_state(&live),
            })
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
    let bytes_written = bytes.len();
    match session.write(bytes) {
        Ok(()) => Reply::ok(&RawDelivered {
            ok: true,
            status: "delivered".into(),
            bytes_written,
            newline,
        }),
        Err(e) => Reply::error(500, &format!("cannot write to the agent: {e}")),
    }
}

/// `POST /send` with a body that is not JSON: the text (without the trailing newline a file or
/// `echo` leaves) delivered now and submitted.
fn plain_text(session: &Arc<Session>, body: &str) -> Reply {
    let text = body.trim_end_matches(['\r', '\n']);
    if crate::message_text::is_blank(text) {
        return Reply::error(400, "text is required");
    }
    let payload = Payload {
        text: text.to_string(),
        submit: true,
        enter_only: false,
        force: true,
    };
    send_via_inbox(session, payload, None, true)
}

fn accepted(status: &str, message_id: String) -> Reply {
    Reply::with(
        202,
        &Accepted {
            ok: true,
            status: status.into(),
            message_id,
        },
    )
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
        Ok(Outcome::AnswerDialog) => {
            return send_keys(session, &KeySpec::Names("Enter".into()));
        }
        Ok(Outcome::Queued(id)) => return accepted("queued", id),
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
    accepted("delivering", id)
}

/// Write a message now and answer with the outcome (kept with the message for `GET
/// /messages/:id`).
fn deliver_direct(session: &Session, id: &str, payload: &Payload) -> Reply {
    submit::deliver_direct(session, id, payload, |live, outcome| {
        let reply = match outcome {
            Ok(delivered) => Reply::ok(&Delivered {
                ok: true,
                status: "delivered".into(),
                message_id: id.to_string(),
                bytes_written: delivered.bytes_written,
                injected_count: live.injected_count,
                newline: payload.submit,
                cli: session.config.cli.clone(),
                input_state: status::input_state(live),
                force: payload.force,
                turn: (delivered.turn > 0).then_some(delivered.turn),
                submitted: delivered.submitted,
            }),
            Err(error) => Reply::error(500, error),
        };
        let record = reply.body.clone();
        (reply, record)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::api::tests::error_of;

    fn read(body: &str) -> Result<Send, Reply> {
        match serde_json::from_str(body).unwrap() {
            serde_json::Value::Object(map) => typed(map).and_then(|r| read_send(&r)),
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
            (r#"{"text": "x", "sumbit": true}"#, "sumbit"),
            (r#"{"keys": {"a": 1}}"#, "keys"),
        ] {
            let error = error_of(read(body));
            assert!(error.starts_with(field), "{body}: {error}");
        }
        assert!(matches!(
            read(r#"{"text": "x", "force": null}"#),
            Ok(Send::Inbox { wait: true, .. })
        ));
        assert!(matches!(
            read(r#"{"text": "x", "wait": false}"#),
            Ok(Send::Inbox { wait: false, .. })
        ));
        assert!(matches!(
            read(r#"{"text": "x"}"#),
            Ok(Send::Raw { newline: true, .. })
        ));
    }
}
