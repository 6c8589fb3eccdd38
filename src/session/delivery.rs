//! Delivering messages to the agent: the inbox loop (waits for the prompt, never polls) and the
//! delivery itself — text (bracketed paste when the agent enabled it; escape sequences and control
//! characters removed, see [`crate::message_text`]), the adapter's pause (or, where the rules
//! say `until_shown`, the wait until the paste shows at the cursor), Enter as a separate write,
//! then a check that the agent took it, with one retry of Enter.
//!
//! Deliveries are serialised by `Session::delivery_lock`, so a forced send and a queued one never
//! interleave their writes; and each takes its turn at the keyboard (`Session::keyboard`), so a
//! person typing in the agent's terminal and a delivery do not mix their keystrokes.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Session;
use super::inbox::{Message, Payload};
use super::monitor::MonitorMsg;

/// How long the agent gets to react to an Enter before it is pressed again.
const TAKE_WINDOW: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, Copy)]
pub struct Delivered {
    pub bytes_written: usize,
    /// 0 when nothing was submitted (`--no-submit`).
    pub turn: u64,
    pub submitted: bool,
}

/// The inbox loop: deliver queued messages one at a time whenever the agent is at its prompt.
pub fn inbox_loop(session: Arc<Session>) {
    loop {
        let next: Option<Message> = session.shared.wait_dynamic(|live| {
            if live.exit().is_some() || live.lifecycle.stop_requested() {
                return Ok(None);
            }
            let now = session.clock().now();
            live.inbox.expire(now);
            let next_enter_only = live.inbox.pending().next().map(|m| m.payload.enter_only);
            if next_enter_only.is_some_and(|enter_only| live.may_deliver(enter_only)) {
                live.delivering += 1;
                return Ok(live.inbox.pop_for_delivery(now));
            }
            Err(live.inbox.next_expiry())
        });
        let Some(message) = next else {
            return;
        };
        let outcome = deliver(&session, &message.id, &message.payload);
        session.shared.update(|live| {
            live.delivering = live.delivering.saturating_sub(1);
            live.inbox
                .finish(&message.id, outcome.map(|d| (d.turn, d.submitted)))
        });
    }
}

/// Exclusive use of the agent's input for one delivery: no other delivery, and a person's
/// keystrokes held until it is done (after waiting for them to pause typing).
fn take_the_pty(
    session: &Session,
) -> Result<(std::sync::MutexGuard<'_, ()>, super::keyboard::Turn<'_>), String> {
    let pty = session
        .delivery_lock
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if session.shared.lock().exit().is_some() {
        return Err("session is not running".into());
    }
    Ok((pty, session.keyboard.take_turn()))
}

/// Write one message now. The caller decided that now is the time (prompt, or forced).
pub fn deliver(
    session: &Session,
    message_id: &str,
    payload: &Payload,
) -> Result<Delivered, String> {
    // Text only: no escape or control character may act as a key or end the paste.
    let text = crate::message_text::neutralize(&payload.text);
    if !payload.enter_only && text.trim().is_empty() {
        return Err(
            "the message is blank (only whitespace or control characters): nothing was typed"
                .into(),
        );
    }
    let _turn = take_the_pty(session)?;
    let mut bytes_written = 0;
    let (paste, drawn_before) = {
        let live = session.shared.lock();
        (live.bracketed_paste, live.generation)
    };
    if !payload.enter_only {
        let bytes = if paste {
            [b"\x1b[200~", text.as_bytes(), b"\x1b[201~"].concat()
        } else {
            text.as_bytes().to_vec()
        };
        session
            .write(bytes.clone())
            .map_err(|e| format!("cannot write to the agent: {e}"))?;
        bytes_written = bytes.len();
    }
    let submit = payload.submit || payload.enter_only;
    if submit && bytes_written > 0 {
        // None after a bracketed paste for most agents: Enter follows the end marker at once.
        let pause = session.adapter.submit_delay(bytes_written, paste);
        let until_shown = paste.then(|| session.adapter.paste_shown()).flatten();
        if let Some(how) = until_shown {
            let shown = wait_until_shown(session, &text, how, drawn_before, pause);
            if !shown && session.shared.lock().exit().is_none() {
                crate::warn!(
                    "harnex: {}: the pasted message did not show at the cursor within {} ms; pressing Enter anyway",
                    session.config.id,
                    pause.as_millis()
                );
            }
        } else if !pause.is_zero() {
            session.clock().sleep(pause);
        }
    }
    let turn = if submit {
        session.shared.update(|live| {
            live.last_turn_assigned += 1;
            live.last_turn_assigned
        })
    } else {
        0
    };
    // The `send` row precedes everything the agent does with the message.
    let (msg, truncated) = crate::events::preview(&text);
    session.events.emit(&crate::wire::events::Event::Send {
        msg,
        msg_truncated: truncated,
        forced: payload.force,
        message_id: message_id.to_string(),
        turn: submit.then_some(turn),
    });
    let submitted = submit && press_enter(session, turn)?;
    let now = SystemTime::now();
    session.shared.update(|live| {
        live.injected_count += 1;
        live.last_injected_at = Some(now);
    });
    session.refresh_registry();
    Ok(Delivered {
        bytes_written,
        turn,
        submitted,
    })
}

/// Wait (at most `longest`) until the screen shows the pasted `text` at the cursor, checking each
/// screen drawn after generation `seen`. Pressed earlier, Enter can be read as part of the paste;
/// and the check that Enter was taken would take the drawing of the paste for its effect.
fn wait_until_shown(
    session: &Session,
    text: &str,
    how: &crate::adapters::rules::PasteShown,
    mut seen: u64,
    longest: Duration,
) -> bool {
    let give_up = session.clock().now() + longest;
    loop {
        let drawn = session.shared.wait_for(Some(give_up), |live| {
            if live.exit().is_some() {
                return Some(None);
            }
            (live.generation > seen).then_some(Some(live.generation))
        });
        let Some(Some(generation)) = drawn else {
            return false;
        };
        seen = generation;
        let Some(inspection) = super::monitor::inspect(session) else {
            return false;
        };
        if super::paste_shown::shown(&inspection.view, text, how) {
            return true;
        }
    }
}

/// Press Enter for `turn`, check the agent reacted, press it once more if not.
fn press_enter(session: &Session, turn: u64) -> Result<bool, String> {
    let generation = session.shared.lock().generation;
    // Tell the monitor first: everything it sees from now on is the agent's reaction.
    let _ = session.monitor.send(MonitorMsg::Submitted(turn));
    let mut taken = false;
    for attempt in 0..2 {
        session
            .write(b"\r".to_vec())
            .map_err(|e| format!("cannot write to the agent: {e}"))?;
        taken = session
            .shared
            .wait_for(Some(session.clock().now() + TAKE_WINDOW), |live| {
                (live.generation > generation || live.exit().is_some()).then_some(())
            })
            .is_some();
        if taken {
            break;
        }
        if attempt == 0 {
            crate::warn!(
                "harnex: {}: no reaction to Enter within {} ms (turn {turn}); pressing it once more",
                session.config.id,
                TAKE_WINDOW.as_millis()
            );
        }
    }
    if !taken {
        let _ = session.monitor.send(MonitorMsg::SubmitFailed(turn));
    }
    Ok(taken)
}

/// After a key, how long to wait for the screen to show its effect before the next key, and how
/// long to let the agent settle after that (Claude's dialogs take Enter for the old highlight if
/// it comes right after the arrow).
const KEY_EFFECT_WAIT: Duration = Duration::from_secs(1);
const KEY_SETTLE: Duration = Duration::from_millis(200);
/// Longest wait for a still screen before the first key: an agent that just drew a dialog may
/// not be reading keys yet (Claude loses an arrow sent right after its trust dialog appears).
const KEY_QUIET_MAX: Duration = Duration::from_secs(3);

/// Press named keys (`--keys Down,Enter`): no turn, no submission check — the caller is
/// answering a dialog or steering the agent on purpose.
pub fn deliver_keys(session: &Session, keys: &[Vec<u8>]) -> Result<usize, String> {
    let _turn = take_the_pty(session)?;
    wait_for_still_screen(session, session.adapter.quiet_window(), KEY_QUIET_MAX);
    let mut written = 0;
    for (i, key) in keys.iter().enumerate() {
        let generation = session.shared.lock().generation;
        session
            .write(key.clone())
            .map_err(|e| format!("cannot write to the agent: {e}"))?;
        written += key.len();
        if i + 1 < keys.len() {
            session
                .shared
                .wait_for(Some(session.clock().now() + KEY_EFFECT_WAIT), |live| {
                    (live.generation > generation || live.exit().is_some()).then_some(())
                });
            session.clock().sleep(KEY_SETTLE);
        }
    }
    let now = SystemTime::now();
    session.shared.update(|live| {
        live.injected_count += 1;
        live.last_injected_at = Some(now);
    });
    Ok(written)
}

/// Wait until the screen has not changed for `quiet` (at most `max`).
fn wait_for_still_screen(session: &Session, quiet: Duration, max: Duration) {
    let give_up = session.clock().now() + max;
    session.shared.wait_dynamic(|live| {
        let still_until = live.changed_at + quiet;
        let now = session.clock().now();
        if now >= still_until || now >= give_up || live.exit().is_some() {
            Ok(())
        } else {
            Err(Some(still_until.min(give_up)))
        }
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::adapters::for_cli;

    #[test]
    fn enter_follows_a_bracketed_paste_at_once_and_a_line_program_needs_no_pause() {
        for cli in ["bash", "claude", "copilot", "opencode"] {
            let adapter = for_cli(cli);
            assert_eq!(adapter.submit_delay(10, true), Duration::ZERO, "{cli}");
            assert_eq!(adapter.submit_delay(4096, true), Duration::ZERO, "{cli}");
        }
        assert_eq!(for_cli("bash").submit_delay(4096, false), Duration::ZERO);
        // Without bracketed paste the TUIs take a fast Enter for a pasted newline; Gemini needs
        // its pause with it too; Codex waits for the paste to show, its pause the longest wait.
        for cli in ["claude", "codex", "copilot", "opencode", "gemini"] {
            assert!(
                for_cli(cli).submit_delay(10, false) >= Duration::from_millis(150),
                "{cli}"
            );
        }
        assert!(for_cli("gemini").submit_delay(10, true) >= Duration::from_millis(500));
        assert!(for_cli("gemini").paste_shown().is_none());
        assert!(for_cli("codex").paste_shown().is_some());
        assert!(for_cli("codex").submit_delay(10, true) >= Duration::from_millis(150));
    }
}
