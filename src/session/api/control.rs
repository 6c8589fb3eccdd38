//! The routes that act on the session as a whole: `POST /stop` and `POST /events` (rows other
//! harnex processes record in this session's log).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{Reply, object_body, typed};
use crate::session::Session;
use crate::session::stop::{self, StopRequest};
use crate::wire::events::{Done, ExternalEvent, LogIdle, Resume};
use crate::wire::replies::{EventRecorded, Stopping};
use crate::wire::requests::GRACE_EXPECTED;

pub fn post_stop(session: &Arc<Session>, body: &[u8]) -> Reply {
    match read_stop(body) {
        Ok(request) => {
            let signal = stop::request_stop(session, request);
            Reply::ok(&Stopping {
                ok: true,
                signal: signal.to_string(),
            })
        }
        Err(reply) => reply,
    }
}

fn read_stop(body: &[u8]) -> Result<StopRequest, Reply> {
    let fields = object_body(body, "{\"grace_ms\": 5000, \"force\": false}")?;
    let request: crate::wire::requests::StopRequest = typed(fields)?;
    let max_ms = stop::MAX_GRACE.as_millis() as u64;
    let grace = match request.grace_ms {
        Some(ms) if ms > max_ms => {
            return Err(Reply::error(
                400,
                &format!("grace_ms must be {GRACE_EXPECTED}"),
            ));
        }
        Some(ms) => Duration::from_millis(ms),
        None => stop::DEFAULT_GRACE,
    };
    Ok(StopRequest {
        force: request.force.unwrap_or(false),
        grace,
    })
}

/// `POST /events`: the `--watch` babysitter's `log_idle`/`resume`, the agent's own `harnex done`,
/// recorded by this session so the log keeps one writer and one `seq`.
pub fn post_event(session: &Session, body: &[u8]) -> Reply {
    let event = match read_event(body) {
        Ok(event) => event,
        Err(reply) => return reply,
    };
    let kind = event.kind();
    let event = match event {
        ExternalEvent::Done(done) => {
            // The agent says its task is finished: remembered for status and the watcher.
            session
                .shared
                .update(|live| live.done_at = Some(std::time::SystemTime::now()));
            ExternalEvent::Done(Done {
                message: done.message.map(|m| crate::events::preview(&m).0),
            })
        }
        other => other,
    };
    session.events.emit(&event.into_event());
    Reply::ok(&EventRecorded {
        ok: true,
        kind: kind.to_string(),
    })
}

fn read_event(body: &[u8]) -> Result<ExternalEvent, Reply> {
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(body) else {
        return Err(Reply::error(
            400,
            "invalid json: expected {\"type\": …, …fields}",
        ));
    };
    let kind = match fields.remove("type") {
        Some(Value::String(kind)) if ExternalEvent::TYPES.contains(&kind.as_str()) => kind,
        _ => {
            return Err(Reply::error(
                400,
                &format!("type must be one of: {}", ExternalEvent::TYPES.join(", ")),
            ));
        }
    };
    // The envelope is ours to write.
    for reserved in ["schema_version", "seq", "ts", "id", "session_id"] {
        fields.remove(reserved);
    }
    fields.values_mut().for_each(crate::redact::redact_value);
    Ok(match kind.as_str() {
        "log_idle" => ExternalEvent::LogIdle(typed::<LogIdle>(fields)?),
        "resume" => ExternalEvent::Resume(typed::<Resume>(fields)?),
        _ => ExternalEvent::Done(typed::<Done>(fields)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::api::tests::error_of;

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
        assert!(error_of(read_stop(br#"{"forse": true}"#)).starts_with("forse"));
        assert!(error_of(read_stop(br#""x""#)).contains("JSON object"));
        assert_eq!(error_of(read_stop(b"{nope")), "invalid json");
    }

    #[test]
    fn external_events_are_typed() {
        let event =
            read_event(br#"{"type":"log_idle","idle_s":3.5,"state":"busy","stall":1,"seq":9}"#)
                .unwrap();
        assert_eq!(event.kind(), "log_idle");
        assert!(error_of(read_event(br#"{"type":"resume","resume":"1"}"#)).starts_with("resume"));
        assert!(error_of(read_event(br#"{"type":"done","mesage":"x"}"#)).starts_with("mesage"));
        assert!(error_of(read_event(br#"{"type":"bogus"}"#)).starts_with("type must be"));
    }
}
