//! Sending a message, the domain decision: refuse it, queue it, deliver it now, or — Enter alone
//! at a dialog that takes it — answer the dialog. The HTTP route only maps the outcome to status
//! codes and replies.
//!
//! The decision is taken under the session's lock, so a message never jumps a queue that another
//! request is filling, and a direct delivery is counted (`delivering`) before the lock is let go.

use std::time::Duration;

use super::Session;
use super::delivery::{self, Delivered};
use super::inbox::{InboxFull, MAX_PENDING, Payload};
use super::live::Live;
use crate::vocab::AgentState;

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Write it now with [`deliver_direct`] (forced, or the agent waits at its prompt with an
    /// empty queue); the message is in the inbox's records as being delivered.
    Direct(String),
    /// In the queue; the inbox loop delivers it when the prompt returns.
    Queued(String),
    /// Enter alone at a dialog whose default choice is safe: press it as a key, no turn.
    AnswerDialog,
}

/// Why a message was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The agent has exited.
    NotRunning,
    /// The agent is blocked on a dialog that text (or a bare Enter) must not go into; the text
    /// says how to answer it.
    Blocked(String),
    /// [`MAX_PENDING`] messages are waiting already.
    InboxFull,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotRunning => f.write_str("session is not running"),
            Refusal::Blocked(why) => f.write_str(why),
            Refusal::InboxFull => write!(f, "inbox full ({MAX_PENDING} pending messages)"),
        }
    }
}

/// Decide what to do with `payload` (`ttl`: how long it may wait in the queue; `None` is the
/// session's default).
pub fn submit(
    session: &Session,
    payload: &Payload,
    ttl: Option<Duration>,
) -> Result<Outcome, Refusal> {
    let now = session.clock().now();
    session.shared.update(|live| {
        if live.exit().is_some() {
            return Err(Refusal::NotRunning);
        }
        if let Some(refusal) = blocked_refusal(&session.config.id, live, payload) {
            return Err(refusal);
        }
        // Enter alone at a dialog answers it now; it starts no turn.
        if live.state == AgentState::Blocked && payload.enter_only {
            return Ok(Outcome::AnswerDialog);
        }
        let ready =
            live.may_deliver(payload.enter_only) && live.inbox.is_empty() && live.delivering == 0;
        if payload.force || ready {
            live.delivering += 1;
            return Ok(Outcome::Direct(
                live.inbox.start_direct(payload.clone(), now),
            ));
        }
        match live.inbox.enqueue(payload.clone(), ttl, now) {
            Ok(id) => Ok(Outcome::Queued(id)),
            Err(InboxFull) => Err(Refusal::InboxFull),
        }
    })
}

/// Write a message [`submit`] chose to deliver directly, and record the outcome with it.
/// `describe` renders the outcome for the sender; it is kept with the message (`GET
/// /messages/:id`), so a sender that did not wait finds it there.
pub fn deliver_direct<R>(
    session: &Session,
    id: &str,
    payload: &Payload,
    describe: impl FnOnce(&Live, &Result<Delivered, String>) -> (R, serde_json::Value),
) -> R {
    let outcome = delivery::deliver(session, id, payload);
    session.shared.update(|live| {
        live.delivering = live.delivering.saturating_sub(1);
        live.inbox
            .finish(id, outcome.clone().map(|d| (d.turn, d.submitted)));
        let (reply, record) = describe(live, &outcome);
        live.inbox.attach_reply(id, record);
        reply
    })
}

/// Give back a direct delivery that could not start (no thread for it).
pub fn abandon_direct(session: &Session, id: &str, why: &str) {
    session.shared.update(|live| {
        live.delivering = live.delivering.saturating_sub(1);
        live.inbox.finish(id, Err(why.into()));
    });
}

/// Why text may not go into the dialog the agent is blocked on (or `None` when it may).
fn blocked_refusal(id: &str, live: &Live, payload: &Payload) -> Option<Refusal> {
    if live.state != AgentState::Blocked || payload.force {
        return None;
    }
    let (reason, keys, safe) = match &live.dialog {
        Some(d) => (d.reason.as_str(), d.accept_keys.join(","), d.enter_is_safe),
        None => ("unknown", "Enter".to_string(), false),
    };
    if payload.enter_only && safe {
        return None;
    }
    Some(Refusal::Blocked(if payload.enter_only {
        format!(
            "Enter is not a safe answer to the {reason} dialog: it would pick the highlighted choice, which declines; accept with `harnex send --id {id} --keys {keys}`, or pass --force to press Enter anyway"
        )
    } else {
        format!(
            "the agent is blocked on a {reason} dialog and cannot take text; answer it with `harnex send --id {id} --keys {keys}`, or pass --force to type into it anyway"
        )
    }))
}
