//! The routes that wait for the session (long-polls, answered on the API runtime): `GET /wait`
//! and `GET /messages/:id`.

use std::time::{Duration, Instant};

use super::Reply;
use crate::session::Session;
use crate::session::state::AgentState;
use crate::session::status;
use crate::wire::replies::{MessageReply, WaitReply};

/// How long a turn the records ended waits for the screen to leave `busy` before the answer.
const SCREEN_CATCH_UP: Duration = Duration::from_secs(2);

/// Longest a single long-poll request may block; clients loop for longer waits.
const MAX_POLL: Duration = Duration::from_secs(60);

pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
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
pub async fn get_wait(session: &Session, query: &str) -> Reply {
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
                // The prompt counts only once nothing is queued, being written or in flight.
                "prompt" => live.settled_at_prompt() || live.exit().is_some(),
                _ => Some(state) == target || live.exit().is_some(),
            };
            reached.then_some(())
        });
    let done = wait.await;
    // The records can end a turn a moment before the screen stops showing work: give the screen
    // that moment, so the answer says where the agent is now (its prompt), not a frame behind.
    if until == "turn" && done.is_some() {
        let settle = (Instant::now() + SCREEN_CATCH_UP).min(poll_deadline(query));
        // Still busy after it: the answer says so (the turn is over either way).
        let _ = session
            .shared
            .wait_for_async(Some(settle), |live| {
                (live.visible_state() != AgentState::Busy).then_some(())
            })
            .await;
    }
    let live = session.shared.lock();
    Reply::ok(&WaitReply {
        ok: done.is_some(),
        id: session.config.id.clone(),
        state: live.visible_state().as_str().to_string(),
        waited_seconds: started.elapsed().as_secs_f64(),
        turn: status::turn_counters(&live),
        status: done.is_none().then(|| "timeout".to_string()),
        exit_code: live.exit().map(|exit| exit.code),
        dialog: live.dialog.clone(),
        end: (until == "turn")
            .then(|| live.ledger.result(turn).map(|r| r.facts.clone()))
            .flatten(),
    })
}

pub async fn get_message(session: &Session, id: &str, query: &str) -> Reply {
    let wait = query_param(query, "wait_ms").is_some();
    let deadline = poll_deadline(query);
    let found = session
        .shared
        .wait_for_async(Some(deadline), |live| match live.inbox.get(id) {
            None => Some(None),
            // After the exit a message still being written gets its outcome in a moment (the
            // delivery sees the exit); one still queued is failed by the session's end.
            Some(m) if !wait || m.status.is_final() => Some(Some(m.view())),
            Some(_) => None,
        })
        .await;
    let message = match found {
        Some(found) => found,
        // Timed out while still queued: report where it stands.
        None => session.shared.lock().inbox.get(id).map(|m| m.view()),
    };
    match message {
        Some(message) => Reply::ok(&MessageReply { ok: true, message }),
        None => Reply::error(404, "message not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_found() {
        assert_eq!(query_param("until=turn&turn=3", "turn"), Some("3"));
        assert_eq!(query_param("until=turn", "turn"), None);
    }
}
