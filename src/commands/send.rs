//! `harnex send`: deliver a message (queued until the agent is at its prompt, or forced), then
//! optionally wait for the agent to finish working on it. One deadline covers lookup, request,
//! delivery and the wait.

use std::io::{IsTerminal, Read};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::print_json;
use crate::cli::SendArgs;
use crate::client::{CallError, Client};
use crate::error::{Error, Result};
use crate::registry::Resolved;
use crate::wire::outputs::{SendError, SendTimeout, TurnOutcome};
use crate::wire::requests::{KeySpec, SendRequest};
use crate::wire::to_value;
use crate::wire::turns::TurnFacts;

pub fn run(args: SendArgs) -> Result<i32> {
    let started = Instant::now();
    let deadline = crate::time::deadline_after(args.timeout);
    if let Some(keys) = &args.keys {
        return send_keys(&args, keys, deadline);
    }
    let text = resolve_text(&args)?;
    let (client, id, target_session) = connect(&args, started, deadline)?;
    let text = if relay_wanted(&args, target_session.as_deref()) {
        relay_text(&text)
    } else {
        text
    };
    // `wait: false`: the session answers at once with the message id, so a deadline that runs
    // out still knows which message it was and what became of it.
    let body = SendRequest {
        text: Some(text.clone()),
        submit: Some(Some(!args.no_submit)),
        enter_only: Some(Some(args.submit_only)),
        force: Some(Some(args.force)),
        wait: Some(Some(false)),
        ..SendRequest::default()
    };
    verbose(&args, &format!("sending {} bytes to {id}", text.len()));
    let answer = match client.post("/send", &body, left(deadline)) {
        Ok(answer) => answer,
        Err(CallError::Timeout) => {
            return Err(timeout(
                &id,
                None,
                "the session did not answer before the deadline, so the message may or may not have been taken: check `harnex status` (injected_count) before sending it again",
                started,
            ));
        }
        Err(e) => return Err(Error::failed(format!("cannot send to {id}: {e}"))),
    };
    let message_id = answer["message_id"].as_str().unwrap_or("").to_string();
    let delivered = match answer["status"].as_str() {
        Some("queued" | "delivering") => {
            if args.no_wait && answer["status"] == "queued" {
                print_json(&answer);
                return Ok(0);
            }
            verbose(
                &args,
                &format!("{message_id} is {}; waiting for delivery", answer["status"]),
            );
            match await_delivery(&client, &message_id, deadline) {
                Ok(message) => message,
                Err(DeliveryEnd::Timeout) => {
                    return delivery_timeout(&args, &client, &id, &message_id, started);
                }
                Err(DeliveryEnd::Failed(message)) => {
                    let status = message["status"].as_str().unwrap_or("failed").to_string();
                    let mut out = message;
                    out["ok"] = Value::Bool(false);
                    out["message_id"] = Value::from(message_id.as_str());
                    print_json(&out);
                    return Err(Error::failed(format!("message {message_id} was {status}")));
                }
                Err(DeliveryEnd::Call(e)) => {
                    return Err(Error::failed(format!("lost contact with {id}: {e}")));
                }
            }
        }
        _ => answer,
    };
    if !args.wait_for_idle {
        print_json(&delivered);
        return Ok(0);
    }
    wait_for_turn(&args, &client, &id, delivered, started, deadline)
}

/// `--keys Down,Enter`: press named keys now.
fn send_keys(args: &SendArgs, keys: &str, deadline: Instant) -> Result<i32> {
    crate::keys::parse_keys(keys, false).map_err(Error::usage)?;
    let (client, id, _) = connect(args, Instant::now(), deadline)?;
    let body = SendRequest {
        keys: Some(KeySpec::Names(keys.to_string())),
        ..SendRequest::default()
    };
    match client.post("/send", &body, left(deadline)) {
        Ok(answer) => {
            print_json(&answer);
            Ok(0)
        }
        Err(CallError::Timeout) => Err(timeout(&id, None, "send timed out", Instant::now())),
        Err(e) => Err(Error::failed(format!("cannot send keys to {id}: {e}"))),
    }
}

fn left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

fn verbose(args: &SendArgs, message: &str) {
    if args.verbose {
        crate::warn!("harnex send: {message}");
    }
}

/// `--submit-only` → ""; else `--message`, else the words, else stdin (when it is not a tty).
/// A message that would type nothing but whitespace is a usage error, however it was given.
fn resolve_text(args: &SendArgs) -> Result<String> {
    if args.submit_only {
        if args.message.is_some() || !args.words.is_empty() {
            return Err(Error::usage(
                "--submit-only presses Enter only: drop the message text, or drop --submit-only",
            ));
        }
        return Ok(String::new());
    }
    let text = if let Some(message) = &args.message {
        message.clone()
    } else if !args.words.is_empty() {
        args.words.join(" ")
    } else {
        read_stdin()?
    };
    if crate::message_text::is_blank(&text) {
        return Err(Error::usage(NO_MESSAGE));
    }
    Ok(text)
}

const NO_MESSAGE: &str = "no message (empty, or only whitespace and control characters): pass --message TEXT, words after the options, or pipe it on stdin; to press Enter alone use --submit-only";

/// The message piped on stdin, without its trailing newlines; empty when stdin is a terminal.
fn read_stdin() -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(String::new());
    }
    let mut text = String::new();
    stdin
        .lock()
        .read_to_string(&mut text)
        .map_err(|e| Error::failed(format!("cannot read the message from stdin: {e}")))?;
    Ok(text.trim_end_matches('\n').to_string())
}

/// The API client, the session id, and its session_id (for relay decisions). A session that is
/// not registered yet is waited for until the deadline, as the Ruby harnex does: orchestrators
/// start a session and send to it at once. Then exit 124 with the JSON result.
fn connect(
    args: &SendArgs,
    started: Instant,
    deadline: Instant,
) -> Result<(Client, String, Option<String>)> {
    let id = crate::paths::normalize_id(&args.id.id)?;
    if let (Some(port), Some(token)) = (args.port, args.token.as_deref()) {
        let host = args.host.as_deref().unwrap_or("127.0.0.1");
        return Ok((Client::new(host, port, token), id, None));
    }
    let (state, selector) = super::selector(&args.id.id, &args.target)?;
    let mut said_waiting = false;
    loop {
        let hint = match selector.resolve(&state)? {
            Resolved::Live(entry) => {
                return Ok((
                    Client::for_entry(&entry),
                    entry.id.clone(),
                    Some(entry.session_id),
                ));
            }
            Resolved::None { hint } => hint,
        };
        if Instant::now() >= deadline {
            let error = format!(
                "session {id:?} did not start within {} ({hint})",
                humantime::format_duration(args.timeout)
            );
            return Err(timeout(&id, None, &error, started));
        }
        if !said_waiting {
            said_waiting = true;
            crate::warn!(
                "harnex send: waiting up to {} (--timeout) for session {id:?} to start ({hint})",
                humantime::format_duration(args.timeout)
            );
        }
        std::thread::sleep(LOOKUP_POLL.min(left(deadline)));
    }
}

/// How often `send` looks for a session that is not registered yet.
const LOOKUP_POLL: Duration = Duration::from_millis(50);

/// Relay when sent from inside another harnex session (or when asked), never for Enter alone.
fn relay_wanted(args: &SendArgs, target_session: Option<&str>) -> bool {
    if args.submit_only || args.no_relay {
        return false;
    }
    let Some(ctx) = SenderContext::from_env() else {
        return false;
    };
    args.relay || target_session != Some(ctx.session_id.as_str())
}

struct SenderContext {
    session_id: String,
    cli: String,
    id: String,
}

impl SenderContext {
    fn from_env() -> Option<SenderContext> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(SenderContext {
            session_id: var("HARNEX_SESSION_ID")?,
            cli: var("HARNEX_SESSION_CLI")?,
            id: var("HARNEX_ID")?,
        })
    }
}

/// `[harnex relay from=<cli> id=<id> at=<ts>]\n<body>`; already-relayed or empty text unchanged.
fn relay_text(text: &str) -> String {
    let Some(ctx) = SenderContext::from_env() else {
        return text.to_string();
    };
    if text.is_empty() || text.starts_with("[harnex relay ") {
        return text.to_string();
    }
    format!(
        "[harnex relay from={} id={} at={}]\n{text}",
        ctx.cli,
        ctx.id,
        crate::time::now_rfc3339()
    )
}

enum DeliveryEnd {
    Timeout,
    Failed(Value),
    Call(CallError),
}

/// Long-poll the queued message until it is delivered, failed/expired/dropped, or time is up.
fn await_delivery(
    client: &Client,
    message_id: &str,
    deadline: Instant,
) -> Result<Value, DeliveryEnd> {
    loop {
        let wait = left(deadline);
        let path = format!(
            "/messages/{message_id}?wait_ms={}&timeout_ms={}",
            wait.as_millis(),
            wait.as_millis()
        );
        let message = client
            .get(&path, wait + Duration::from_secs(5))
            .map_err(DeliveryEnd::Call)?;
        match message["status"].as_str() {
            Some("delivered") => {
                // A direct delivery keeps its full answer with the message.
                if message["reply"].is_object() {
                    return Ok(message["reply"].clone());
                }
                let mut out = message.clone();
                out["status"] = Value::from("delivered");
                out["message_id"] = Value::from(message_id);
                return Ok(out);
            }
            Some("failed" | "expired" | "dropped") => return Err(DeliveryEnd::Failed(message)),
            _ if Instant::now() >= deadline => return Err(DeliveryEnd::Timeout),
            _ => {}
        }
    }
}

/// `--wait-for-idle`: wait for the turn this message started to end.
fn wait_for_turn(
    args: &SendArgs,
    client: &Client,
    id: &str,
    delivered: Value,
    started: Instant,
    deadline: Instant,
) -> Result<i32> {
    let message_id = delivered["message_id"].as_str().map(str::to_string);
    let Some(turn) = delivered["turn"].as_u64() else {
        // Typed without Enter: there is no turn to follow.
        print_json(&delivered);
        return Ok(0);
    };
    if delivered["submitted"] == Value::Bool(false) {
        let mut out = delivered.clone();
        out["ok"] = Value::Bool(false);
        out["error"] = Value::from(
            "the agent did not take the message (Enter was pressed twice); check `harnex explain --id` or the screen",
        );
        print_json(&out);
        return Err(Error::Exit(1));
    }
    verbose(args, &format!("waiting for turn {turn} to finish"));
    let result = client.wait("turn", Some(turn), left(deadline));
    let mut out = TurnOutcome {
        ok: false,
        id: id.to_string(),
        message_id,
        turn,
        submitted: delivered["submitted"].clone(),
        waited_seconds: started.elapsed().as_secs_f64(),
        state: None,
        status: None,
        error: None,
        dialog: None,
        exit_code: None,
        outcome: None,
        answer: None,
        usage: None,
        source: None,
    };
    let print = |out: &TurnOutcome| print_json(&to_value(out));
    match result {
        Ok(body) => {
            let state = body["state"].as_str().unwrap_or("unknown").to_string();
            out.state = Some(state.clone());
            if body["status"] == "timeout" {
                out.status = Some("timeout".into());
                out.error = Some("timeout".into());
                print(&out);
                return Err(Error::timed_out());
            }
            let finished = body["turn"]["completed"].as_u64().unwrap_or(0) >= turn;
            let end: Option<TurnFacts> = serde_json::from_value(body.clone()).ok();
            if let Some(end) = end {
                out.outcome = Some(end.outcome);
                out.answer = end.answer;
                out.usage = end.usage;
                out.source = Some(end.source);
                if end.outcome == crate::records::TurnOutcome::Failed {
                    out.error = end.error.map(SendError::Turn).or_else(|| {
                        Some("the agent's turn failed (its records give no reason)".into())
                    });
                    print(&out);
                    return Err(Error::Exit(1));
                }
            }
            match state.as_str() {
                _ if finished && state == "prompt" => {
                    out.ok = true;
                    print(&out);
                    Ok(0)
                }
                "blocked" => {
                    // The turn stopped to ask for something: it needs an answer, not a wait.
                    out.outcome = Some(crate::records::TurnOutcome::NeedsInput);
                    out.dialog = Some(body["dialog"].clone());
                    out.error = Some(
                        "the agent is blocked on a dialog; answer it with `harnex send --keys` or `--submit-only`".into(),
                    );
                    print(&out);
                    Err(Error::Exit(1))
                }
                "exited" => {
                    out.exit_code = Some(body["exit_code"].clone());
                    out.error = Some("the agent exited".into());
                    print(&out);
                    Err(Error::Exit(1))
                }
                _ => {
                    out.ok = finished;
                    print(&out);
                    Ok(if finished { 0 } else { 1 })
                }
            }
        }
        Err(CallError::Unreachable(_)) => {
            out.state = Some("exited".into());
            print(&out);
            Err(Error::Exit(1))
        }
        Err(e) => Err(Error::failed(format!("lost contact with {id}: {e}"))),
    }
}

/// The deadline ran out while the message was queued or being written: take it back if it is
/// still queued, and say truthfully where it stands (exit 124 either way).
fn delivery_timeout(
    args: &SendArgs,
    client: &Client,
    id: &str,
    message_id: &str,
    started: Instant,
) -> Result<i32> {
    const GRACE: Duration = Duration::from_secs(2);
    let after = args.timeout.as_secs_f64();
    let delivery = match client.delete(&format!("/inbox/{message_id}"), GRACE) {
        Ok(_) => "cancelled".to_string(),
        // Not queued any more: being written, or it just finished.
        Err(_) => client
            .get(&format!("/messages/{message_id}"), GRACE)
            .ok()
            .and_then(|m| m["status"].as_str().map(str::to_string))
            .unwrap_or_else(|| "unknown".into()),
    };
    let error = match delivery.as_str() {
        "cancelled" => format!("not delivered within {after}s; the queued message was cancelled"),
        "delivering" => format!(
            "not delivered within {after}s; it is being typed now and will still arrive (do not send it again)"
        ),
        "delivered" => format!("delivered, but only after the {after}s deadline"),
        other => format!("not delivered within {after}s (message status: {other})"),
    };
    print_json(&to_value(&SendTimeout {
        ok: false,
        id: id.to_string(),
        status: "timeout".into(),
        message_id: Some(message_id.to_string()),
        delivery: Some(delivery),
        error,
        waited_seconds: started.elapsed().as_secs_f64(),
    }));
    Err(Error::timed_out())
}

/// Print the timeout result; the error to return (exit 124).
fn timeout(id: &str, message_id: Option<&str>, error: &str, started: Instant) -> Error {
    print_json(&to_value(&SendTimeout {
        ok: false,
        id: id.to_string(),
        status: "timeout".into(),
        message_id: message_id.map(str::to_string),
        delivery: None,
        error: error.to_string(),
        waited_seconds: started.elapsed().as_secs_f64(),
    }));
    Error::timed_out()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_text_wraps_once() {
        // SAFETY: tests in this module do not read these variables concurrently.
        unsafe {
            std::env::set_var("HARNEX_SESSION_ID", "s1");
            std::env::set_var("HARNEX_SESSION_CLI", "codex");
            std::env::set_var("HARNEX_ID", "worker-1");
        }
        let wrapped = relay_text("hello");
        assert!(wrapped.starts_with("[harnex relay from=codex id=worker-1 at="));
        assert!(wrapped.ends_with("]\nhello"));
        assert_eq!(relay_text(&wrapped), wrapped);
        assert_eq!(relay_text(""), "");
    }
}
