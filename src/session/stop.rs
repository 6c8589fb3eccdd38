//! Stopping is a ladder: the adapter's exit sequence → wait for the grace period → SIGTERM and
//! SIGHUP to the agent's process group → 2 s → SIGKILL. The ladder runs in its own thread inside
//! the supervisor, so it completes even if the client that asked goes away.
//!
//! A stop under way can be escalated: the session's [`StopTarget`] (carried by its lifecycle's
//! `Stopping` state, behind the session's lock) only ever moves forward, and the ladder sleeps on
//! the session's condition variable, so a stronger request (force, or a shorter grace) takes
//! effect at once. Signals to the supervisor climb one rung each: the first terminates the
//! agent, the next kills it. What is left of the agent's process tree once it is gone is swept
//! by the session's end (`super::shell` → [`crate::sweep`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use super::Session;

pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// The longest grace a stop may ask for. Longer requests are refused by the CLI (exit 2) and
/// the API (400); the ladder clamps to it so no deadline can overflow.
pub const MAX_GRACE: Duration = Duration::from_secs(24 * 60 * 60);
const TERM_GRACE: Duration = Duration::from_secs(2);
/// How long one exit key may wait for the agent's terminal to take it: an agent that does not
/// read its input must not hold the ladder before SIGTERM.
const KEY_WRITE_DEADLINE: Duration = Duration::from_secs(1);

/// Sends signals to the agent's process group: [`signal_agent`] in a session, a recorder in tests.
pub type Signaller = Box<dyn Fn(&[Signal]) + Send + Sync>;

#[derive(Debug, Clone, Copy)]
pub struct StopRequest {
    /// Skip the exit sequence and signal at once.
    pub force: bool,
    pub grace: Duration,
}

/// How far the ladder may go now. Ordered: a later request only replaces the current target with
/// a stronger one (an earlier terminate time, then `Terminate`, then `Kill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopTarget {
    /// The exit sequence was typed; SIGTERM at `terminate_at` unless the agent exits first.
    Graceful { terminate_at: Instant },
    /// SIGHUP + SIGTERM to the agent's group now, SIGKILL `TERM_GRACE` later.
    Terminate,
    /// SIGKILL now.
    Kill,
}

impl StopTarget {
    fn rank(self) -> (u8, Option<std::cmp::Reverse<Instant>>) {
        match self {
            StopTarget::Graceful { terminate_at } => (0, Some(std::cmp::Reverse(terminate_at))),
            StopTarget::Terminate => (1, None),
            StopTarget::Kill => (2, None),
        }
    }

    fn stronger_than(self, other: StopTarget) -> bool {
        self.rank() > other.rank()
    }

    /// The `signal` value a reply reports for this target. The first three are the
    /// Ruby-compatible ones; `grace_shortened` and `kill_sent` only answer escalations.
    fn reply(self, first: bool) -> &'static str {
        match self {
            StopTarget::Graceful { .. } if first => "exit_sequence_sent",
            StopTarget::Graceful { .. } => "grace_shortened",
            StopTarget::Terminate => "terminate_sent",
            StopTarget::Kill => "kill_sent",
        }
    }
}

impl StopRequest {
    fn target(self, now: Instant) -> StopTarget {
        if self.force {
            StopTarget::Terminate
        } else {
            StopTarget::Graceful {
                terminate_at: now + self.grace.min(MAX_GRACE),
            }
        }
    }
}

/// A grace period within [`MAX_GRACE`], or a message saying what to use instead.
pub fn check_grace(grace: Duration) -> Result<Duration, String> {
    if grace > MAX_GRACE {
        return Err(format!(
            "the grace period may be at most {}h; use a shorter --grace (or --force to signal at once)",
            MAX_GRACE.as_secs() / 3600
        ));
    }
    Ok(grace)
}

/// Start the ladder, or move a stop under way forward when `request` is stronger. Returns the
/// `signal` value for the reply: `already_requested` when it changed nothing.
pub fn request_stop(session: &Arc<Session>, request: StopRequest) -> &'static str {
    escalate(session, request.target(session.clock().now()))
}

/// A SIGTERM/SIGINT/SIGHUP to the supervisor: start a forced stop, or climb one rung.
pub fn escalate_on_signal(session: &Arc<Session>) -> &'static str {
    let current = session.shared.lock().lifecycle.stop_target();
    let next = match current {
        None | Some(StopTarget::Graceful { .. }) => StopTarget::Terminate,
        Some(StopTarget::Terminate | StopTarget::Kill) => StopTarget::Kill,
    };
    escalate(session, next)
}

fn escalate(session: &Arc<Session>, wanted: StopTarget) -> &'static str {
    enum Outcome {
        Start,
        Moved,
        Unchanged,
    }
    let outcome = session.shared.update(|live| {
        if live.exit().is_some() {
            return Outcome::Unchanged;
        }
        match live.lifecycle.stop_target() {
            None => {
                live.lifecycle = live.lifecycle.stopping(wanted);
                Outcome::Start
            }
            Some(current) if wanted.stronger_than(current) => {
                live.lifecycle = live.lifecycle.stopping(wanted);
                Outcome::Moved
            }
            Some(_) => Outcome::Unchanged,
        }
    });
    match outcome {
        Outcome::Start => {
            // The registry says so before the stop is answered: a `run` of this id right after
            // `stop` waits for this session to end instead of refusing.
            session.refresh_registry();
            let session = Arc::clone(session);
            std::thread::spawn(move || ladder(&session));
            wanted.reply(true)
        }
        Outcome::Moved => wanted.reply(false),
        Outcome::Unchanged => "already_requested",
    }
}

/// One step the ladder takes after waiting.
enum Step {
    Exited,
    Terminate,
    Kill,
}

fn ladder(session: &Session) {
    await_delivery_end(session);
    type_exit_sequence(session);
    let mut terminated_at: Option<Instant> = None;
    loop {
        let step = session.shared.wait_dynamic(|live| {
            if live.exit().is_some() {
                return Ok(Step::Exited);
            }
            let now = session.clock().now();
            match live.lifecycle.stop_target() {
                None => Ok(Step::Exited),
                Some(StopTarget::Kill) => Ok(Step::Kill),
                Some(StopTarget::Terminate) => match terminated_at {
                    None => Ok(Step::Terminate),
                    Some(at) if now >= at + TERM_GRACE => Ok(Step::Kill),
                    Some(at) => Err(Some(at + TERM_GRACE)),
                },
                Some(StopTarget::Graceful { terminate_at }) if now >= terminate_at => {
                    // Record the rung reached, so a signal now climbs to SIGKILL.
                    live.lifecycle = live.lifecycle.stopping(StopTarget::Terminate);
                    Ok(Step::Terminate)
                }
                Some(StopTarget::Graceful { terminate_at }) => Err(Some(terminate_at)),
            }
        });
        match step {
            Step::Exited => return,
            Step::Terminate => {
                // The time before the signal: whoever sees it sent may count from there.
                terminated_at = Some(session.clock().now());
                (session.signal)(&[Signal::SIGHUP, Signal::SIGTERM]);
            }
            Step::Kill => {
                (session.signal)(&[Signal::SIGKILL]);
                return;
            }
        }
    }
}

/// Let a delivery being typed (say the `--context` of a run stopped at once) finish first, so the
/// exit keys never land inside a half-typed message; at most until the grace runs out, and no
/// longer than the stop stays graceful. No new delivery starts once a stop is asked for.
fn await_delivery_end(session: &Session) {
    let Some(terminate_at) = graceful_until(session) else {
        return;
    };
    session.shared.wait_for(Some(terminate_at), |live| {
        let graceful = matches!(
            live.lifecycle.stop_target(),
            Some(StopTarget::Graceful { .. })
        );
        (live.delivering == 0 || live.exit().is_some() || !graceful).then_some(())
    });
}

/// Type the adapter's exit keys while the stop stays graceful. Each pause and each write ends
/// early when the stop is escalated or its grace runs out.
fn type_exit_sequence(session: &Session) {
    for key in session.adapter.exit_sequence() {
        let Some(terminate_at) = graceful_until(session) else {
            return;
        };
        let pause_end = (session.clock().now() + key.delay).min(terminate_at);
        let interrupted = session
            .shared
            .wait_for(Some(pause_end), |live| {
                let graceful = matches!(
                    live.lifecycle.stop_target(),
                    Some(StopTarget::Graceful { .. })
                );
                (live.exit().is_some() || !graceful).then_some(())
            })
            .is_some();
        let now = session.clock().now();
        if interrupted || now >= terminate_at {
            return;
        }
        let deadline = (now + KEY_WRITE_DEADLINE).min(terminate_at);
        if session.write_within(key.bytes, deadline).is_err() {
            // Timed out (the agent is not reading) or the terminal is gone: signals come next.
            return;
        }
    }
}

/// When the graceful part ends, while the stop is still graceful and the agent alive.
fn graceful_until(session: &Session) -> Option<Instant> {
    let live = session.shared.lock();
    match live.lifecycle.stop_target() {
        Some(StopTarget::Graceful { terminate_at }) => Some(terminate_at),
        _ => None,
    }
}

/// Signal the agent's process group (it is a session leader), and the agent itself in case it
/// moved to another group. ESRCH means it is already gone, which is what we want.
pub fn signal_agent(pid: u32, signals: &[Signal]) {
    let pid = Pid::from_raw(pid as i32);
    for signal in signals {
        let _ = killpg(pid, *signal);
        let _ = kill(pid, *signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_only_move_forward() {
        let now = Instant::now();
        let long = StopTarget::Graceful {
            terminate_at: now + Duration::from_secs(3600),
        };
        let short = StopTarget::Graceful {
            terminate_at: now + Duration::from_secs(1),
        };
        assert!(short.stronger_than(long));
        assert!(!long.stronger_than(short));
        assert!(!long.stronger_than(long));
        assert!(StopTarget::Terminate.stronger_than(short));
        assert!(StopTarget::Kill.stronger_than(StopTarget::Terminate));
        assert!(!StopTarget::Terminate.stronger_than(StopTarget::Terminate));
    }

    #[test]
    fn grace_is_bounded() {
        assert!(check_grace(MAX_GRACE + Duration::from_millis(1)).is_err());
        assert!(check_grace(MAX_GRACE).is_ok());
        // The ladder clamps what slips through, so its deadline cannot overflow.
        let request = StopRequest {
            force: false,
            grace: Duration::MAX,
        };
        assert!(matches!(
            request.target(Instant::now()),
            StopTarget::Graceful { .. }
        ));
    }
}
