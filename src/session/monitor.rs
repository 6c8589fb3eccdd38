//! The monitor thread: sole owner of the emulated screen and the state tracker.
//!
//! PTY bytes → screen → adapter verdict → debounced state and turns → published into the live
//! state, with `state` / `turn_started` / `task_complete` events. It sleeps on its channel, with a
//! timeout only while a debounce window or grace period is running, so an idle session costs
//! nothing.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use crate::wire::events::Event;

use super::Session;
use super::screen::Screen;
use super::state::{Tracker, Transition};
use crate::adapters::{ScreenView, Verdict};

pub enum MonitorMsg {
    Output(Vec<u8>),
    OutputClosed,
    Resize {
        rows: u16,
        cols: u16,
    },
    /// The Enter of this turn is about to be written.
    Submitted(u64),
    SubmitFailed(u64),
    /// The agent's records say this turn is over.
    RecordTurnEnded(u64),
    /// The ledger has a new deadline (a hook's turn end waiting for its record).
    Wake,
    /// Answer with the current screen and verdict.
    Inspect(Sender<Inspection>),
    Shutdown,
}

#[derive(Debug, Clone)]
pub struct Inspection {
    pub view: ScreenView,
    pub verdict: Verdict,
}

/// The screen and verdict now, after all output read so far (`None`: the monitor has ended or
/// did not answer within 2 s).
pub fn inspect(session: &Session) -> Option<Inspection> {
    let (tx, rx) = std::sync::mpsc::channel();
    session.monitor.send(MonitorMsg::Inspect(tx)).ok()?;
    rx.recv_timeout(Duration::from_secs(2)).ok()
}

/// Most output folded into one classification when the monitor falls behind.
const MAX_BATCH: usize = 256 * 1024;
/// How long a synchronized update may hold classification back (agents end theirs within a
/// frame; this only guards against one that never ends).
const MAX_FRAME_HOLD: Duration = Duration::from_millis(250);

pub fn run(session: Arc<Session>, messages: Receiver<MonitorMsg>, mut screen: Screen) {
    let adapter = session.adapter.as_ref();
    let mut tracker = Tracker::new(
        adapter.quiet_window(),
        adapter.output_means_busy(),
        adapter.unseen_turn_grace(),
        session.clock().now(),
    );
    let mut last_view = screen.view();
    let mut last_fingerprint = super::progress::fingerprint(&last_view.rows);
    let mut next = None;
    // Output fed but not classified yet because its frame was half drawn, since when.
    let mut held: Option<Instant> = None;
    // Output parsed since memory was last handed back to the system.
    let mut parsed_since_trim = 0usize;
    loop {
        let now = session.clock().now();
        let hold_end = held.map(|h| h + MAX_FRAME_HOLD);
        let record_due = session.shared.lock().ledger.next_deadline();
        let deadline = [tracker.next_deadline(now), hold_end, record_due]
            .into_iter()
            .flatten()
            .min();
        let message = match next.take() {
            Some(m) => Ok(m),
            None => match deadline {
                Some(d) => messages.recv_timeout(session.clock().block_for(d)),
                None => {
                    if parsed_since_trim >= TRIM_AFTER {
                        parsed_since_trim = 0;
                        release_freed_memory();
                    }
                    messages.recv().map_err(|_| RecvTimeoutError::Disconnected)
                }
            },
        };
        let mut fed = false;
        match message {
            Ok(MonitorMsg::Output(bytes)) => {
                let mut total = feed(&session, &mut screen, &bytes);
                parsed_since_trim += bytes.len();
                // Fold in whatever else is already waiting, up to a bound.
                while total < MAX_BATCH {
                    match messages.try_recv() {
                        Ok(MonitorMsg::Output(more)) => {
                            total += feed(&session, &mut screen, &more);
                            parsed_since_trim += more.len();
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                fed = true;
            }
            Ok(MonitorMsg::Resize { rows, cols }) => {
                screen.resize(rows, cols);
                fed = true;
            }
            Ok(MonitorMsg::Submitted(turn)) => tracker.submitted(turn),
            Ok(MonitorMsg::SubmitFailed(turn)) => tracker.submit_failed(turn),
            Ok(MonitorMsg::Wake) => {}
            Ok(MonitorMsg::RecordTurnEnded(turn)) => {
                let transitions = tracker.complete(turn);
                let now = session.clock().now();
                publish(&session, &tracker, &last_view, false, &transitions, now);
                continue;
            }
            Ok(MonitorMsg::Inspect(reply)) => {
                let _ = reply.send(Inspection {
                    view: screen.view(),
                    verdict: tracker.verdict().clone(),
                });
                continue;
            }
            Ok(MonitorMsg::OutputClosed) => {
                session.shared.update(|live| live.output_closed = true);
            }
            Ok(MonitorMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        // A half-drawn frame (synchronized update) is not what the agent means to show: wait
        // for its end, within bounds.
        let now = session.clock().now();
        let hold_over = held.is_some_and(|h| now >= h + MAX_FRAME_HOLD);
        if (fed || held.is_some()) && screen.mid_frame() && !hold_over {
            held.get_or_insert(now);
            continue;
        }
        let classify = fed || held.is_some();
        held = None;
        let (transitions, changed) = if classify {
            let view = screen.view();
            let changed = view.differs_from(&last_view);
            if changed {
                let fingerprint = super::progress::fingerprint(&view.rows);
                if fingerprint != last_fingerprint {
                    last_fingerprint = fingerprint;
                    session.shared.lock().progress_at = SystemTime::now();
                }
            }
            let verdict = adapter.classify(&view);
            let transitions = tracker.observe(verdict, changed, now);
            last_view = view;
            (transitions, changed)
        } else {
            (tracker.tick(now), false)
        };
        publish(&session, &tracker, &last_view, changed, &transitions, now);
    }
}

/// After this much output, an idle monitor hands freed memory back to the system.
const TRIM_AFTER: usize = 4 * 1024 * 1024;

/// A burst of output leaves the allocator holding the freed chunk buffers; an idle supervisor
/// should not keep megabytes it no longer uses.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn feed(session: &Session, screen: &mut Screen, bytes: &[u8]) -> usize {
    let replies = screen.feed(bytes);
    if !replies.is_empty() {
        session.write_async(replies);
    }
    bytes.len()
}

fn publish(
    session: &Session,
    tracker: &Tracker,
    view: &ScreenView,
    changed: bool,
    transitions: &[Transition],
    at: Instant,
) {
    let now = SystemTime::now();
    let order = super::record_feed::turn_rows(session);
    let decided = session.shared.update(|live| {
        if changed {
            live.generation += 1;
            live.changed_at = at;
        }
        live.verdict = tracker.verdict().clone();
        live.dialog = tracker.dialog().cloned();
        // `completed` is the ledger's, raised only once its rows are written (below).
        live.turns = super::state::Turns {
            completed: live.turns.completed,
            ..tracker.turns()
        };
        live.pending_turn = tracker.pending_turn();
        live.bracketed_paste = view.bracketed_paste;
        live.application_cursor = view.application_cursor;
        if live.title != view.title {
            live.title = view.title.clone();
        }
        if live.state != tracker.state() {
            live.state = tracker.state();
            live.state_since = now;
        }
        if matches!(
            live.state,
            super::state::AgentState::Prompt | super::state::AgentState::Blocked
        ) {
            live.lifecycle = live.lifecycle.ready();
        }
        // A turn the screen saw end is over once the ledger decided how it ended (at once
        // without records; with them, when its record is read or overdue).
        let mut decided = Vec::new();
        for transition in transitions {
            if let Transition::TurnCompleted(turn) = transition {
                decided.extend(live.ledger.screen_completed(*turn, at));
            }
        }
        decided.extend(live.ledger.tick(at));
        decided
    });
    for transition in transitions {
        match transition {
            Transition::State { from, to, reason } => session.events.emit(&Event::State {
                from: from.as_str().to_string(),
                to: to.as_str().to_string(),
                reason: reason.to_string(),
            }),
            Transition::TurnStarted(turn) => {
                session.events.emit(&Event::TurnStarted { turn: *turn })
            }
            Transition::TurnCompleted(_) => {}
        }
    }
    let ended = super::record_feed::write_rows(session, decided);
    drop(order);
    super::record_feed::finish(session, ended);
}
