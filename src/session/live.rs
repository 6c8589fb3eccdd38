//! The session's shared, live state behind one lock and one condition variable.
//!
//! The monitor thread publishes the agent state here, API handlers and the delivery loop read
//! it and the inbox, and anyone waiting for a change sleeps instead of polling: threads
//! (delivery, shutdown) on the condition variable, the API's async long-polls on a watch channel
//! that every update bumps.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::adapters::{Dialog, Observation, Verdict};

use super::clock::Clock;
use super::inbox::Inbox;
use super::state::{AgentState, Turns};
use super::stop::StopTarget;

pub use crate::vocab::ChildExit;

#[derive(Debug)]
pub struct Live {
    pub state: AgentState,
    pub state_since: SystemTime,
    pub verdict: Verdict,
    pub dialog: Option<Dialog>,
    /// Bumped whenever the screen content changes.
    pub generation: u64,
    /// When the screen content last changed.
    pub changed_at: Instant,
    /// When the screen last made progress (content changed beyond spinners and counters).
    pub progress_at: SystemTime,
    pub turns: Turns,
    pub pending_turn: Option<u64>,
    /// Turn numbers handed out by deliveries.
    pub last_turn_assigned: u64,
    pub last_completed_at: Option<SystemTime>,
    /// When the agent reported its task finished (`harnex done`): its own claim about its task,
    /// which says nothing about its process (it may go on, or be stopped, after it).
    pub done_at: Option<SystemTime>,
    /// Where the agent process is in its life.
    pub lifecycle: Lifecycle,
    pub bracketed_paste: bool,
    pub application_cursor: bool,
    pub title: String,
    pub inbox: Inbox,
    pub injected_count: u64,
    pub last_injected_at: Option<SystemTime>,
    /// Deliveries writing to the agent right now.
    pub delivering: u32,
    /// The PTY reader saw end of output: an I/O fact apart from the lifecycle, since the end of
    /// output and the agent's exit arrive in either order.
    pub output_closed: bool,
    /// How turns ended, merged from the screen and the agent's records.
    pub ledger: super::turn_ledger::Ledger,
    /// The record follower read the agent's last rows (or has none to read).
    pub records_done: bool,
    /// The terminal's (cols, rows) since a resize; `None`: the size the session started with.
    pub resized_to: Option<(u16, u16)>,
}

/// Where the agent process is in its life; each state carries only what is known in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Started; it has not shown its prompt or a dialog yet.
    Booting,
    /// It has shown its prompt or a dialog at least once.
    Ready,
    /// A stop was asked for: `target` is how far the ladder may go (it only moves forward).
    Stopping { target: StopTarget, was_ready: bool },
    /// The agent process is gone.
    Exited {
        exit: ChildExit,
        was_ready: bool,
        /// It ended after a stop was asked for.
        stopped: bool,
    },
}

impl Lifecycle {
    /// How the agent ended, once it did.
    pub fn exit(self) -> Option<ChildExit> {
        match self {
            Lifecycle::Exited { exit, .. } => Some(exit),
            _ => None,
        }
    }

    /// Whether it showed its prompt or a dialog at least once (else an early end is a boot
    /// failure).
    pub fn ever_ready(self) -> bool {
        match self {
            Lifecycle::Booting => false,
            Lifecycle::Ready => true,
            Lifecycle::Stopping { was_ready, .. } | Lifecycle::Exited { was_ready, .. } => {
                was_ready
            }
        }
    }

    pub fn stop_requested(self) -> bool {
        matches!(
            self,
            Lifecycle::Stopping { .. } | Lifecycle::Exited { stopped: true, .. }
        )
    }

    /// How far a stop under way may go (`None` before a stop, and once the agent is gone).
    pub fn stop_target(self) -> Option<StopTarget> {
        match self {
            Lifecycle::Stopping { target, .. } => Some(target),
            _ => None,
        }
    }

    /// The agent showed its prompt or a dialog.
    pub fn ready(self) -> Lifecycle {
        match self {
            Lifecycle::Booting => Lifecycle::Ready,
            Lifecycle::Stopping { target, .. } => Lifecycle::Stopping {
                target,
                was_ready: true,
            },
            Lifecycle::Exited { exit, stopped, .. } => Lifecycle::Exited {
                exit,
                was_ready: true,
                stopped,
            },
            Lifecycle::Ready => Lifecycle::Ready,
        }
    }

    /// A stop with `target` (the caller decided it is stronger). Nothing once the agent is gone.
    pub fn stopping(self, target: StopTarget) -> Lifecycle {
        match self {
            Lifecycle::Exited { .. } => self,
            _ => Lifecycle::Stopping {
                target,
                was_ready: self.ever_ready(),
            },
        }
    }

    /// The agent process ended.
    pub fn exited(self, exit: ChildExit) -> Lifecycle {
        match self {
            Lifecycle::Exited { .. } => self,
            _ => Lifecycle::Exited {
                exit,
                was_ready: self.ever_ready(),
                stopped: self.stop_requested(),
            },
        }
    }
}

impl Live {
    /// `record_lag`: how long a turn the screen saw end waits for the agent's record of it.
    pub fn new(
        inbox: Inbox,
        now: Instant,
        records: crate::wire::turns::RecordsStatus,
        record_lag: std::time::Duration,
    ) -> Live {
        Live {
            state: AgentState::Starting,
            state_since: SystemTime::now(),
            verdict: Verdict::new(Observation::Unknown, "start", None, "no output yet"),
            dialog: None,
            generation: 0,
            changed_at: now,
            progress_at: SystemTime::now(),
            turns: Turns::default(),
            pending_turn: None,
            last_turn_assigned: 0,
            last_completed_at: None,
            done_at: None,
            lifecycle: Lifecycle::Booting,
            bracketed_paste: false,
            application_cursor: false,
            title: String::new(),
            inbox,
            injected_count: 0,
            last_injected_at: None,
            delivering: 0,
            output_closed: false,
            ledger: super::turn_ledger::Ledger::new(records, record_lag),
            records_done: false,
            resized_to: None,
        }
    }

    /// Whether a queued message may be delivered now: at the prompt, or — for Enter alone, which
    /// submits what is typed (and hides the prompt marker) — whenever the agent is not working.
    pub fn may_deliver(&self, enter_only: bool) -> bool {
        self.state == AgentState::Prompt || (enter_only && self.state == AgentState::Unknown)
    }

    /// Nothing is waiting for the agent: no queued message, no delivery being written, no
    /// submitted turn still in flight.
    pub fn settled_at_prompt(&self) -> bool {
        self.state == AgentState::Prompt
            && self.pending_turn.is_none()
            && self.inbox.is_empty()
            && self.delivering == 0
    }

    /// How the agent ended, once it did.
    pub fn exit(&self) -> Option<ChildExit> {
        self.lifecycle.exit()
    }

    /// The state as clients see it: `exited` once the agent is gone.
    pub fn visible_state(&self) -> AgentState {
        if self.exit().is_some() {
            AgentState::Exited
        } else {
            self.state
        }
    }
}

pub struct Shared {
    live: Mutex<Live>,
    clock: Arc<dyn Clock>,
    changed: Condvar,
    /// Bumped with every update, for async waiters (the API's long-polls hold no thread).
    generation: tokio::sync::watch::Sender<u64>,
    /// Bumped with every update while the lock is held, so a waiter on the condition variable
    /// can tell whether anything changed since it last looked ([`Shared::updates`]).
    updates: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub fn new(live: Live, clock: Arc<dyn Clock>) -> Shared {
        Shared {
            live: Mutex::new(live),
            clock,
            changed: Condvar::new(),
            generation: tokio::sync::watch::Sender::new(0),
            updates: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The clock every wait here is measured on.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Read (or briefly modify without waking anyone).
    pub fn lock(&self) -> MutexGuard<'_, Live> {
        // A panicking holder leaves consistent data behind (every update is a few field
        // assignments), so keep serving rather than poisoning the whole session.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Modify and wake every waiter.
    pub fn update<R>(&self, f: impl FnOnce(&mut Live) -> R) -> R {
        let result = {
            let mut live = self.lock();
            let result = f(&mut live);
            self.updates
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            result
        };
        self.changed.notify_all();
        self.generation.send_modify(|n| *n = n.wrapping_add(1));
        result
    }

    /// How many updates there were; read it under the lock (in a `wait_for` check) to know
    /// whether anything changed since an earlier look.
    pub fn updates(&self) -> u64 {
        self.updates.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `wait_for` for async callers: sleeps on the watch channel, never on a thread.
    pub async fn wait_for_async<R>(
        &self,
        deadline: Option<Instant>,
        mut check: impl FnMut(&mut Live) -> Option<R>,
    ) -> Option<R> {
        let mut changes = self.generation.subscribe();
        loop {
            // Marked seen before the check, so an update after it still wakes us.
            changes.borrow_and_update();
            let found = check(&mut self.lock());
            if found.is_some() {
                return found;
            }
            let changed = changes.changed();
            match deadline {
                // The sender lives as long as `self`, so `changed` cannot fail here.
                None => changed.await.ok()?,
                Some(deadline) => tokio::time::timeout_at(deadline.into(), changed)
                    .await
                    .ok()?
                    .ok()?,
            }
        }
    }

    /// Wait until `check` returns `Some`, or the deadline passes (`None`). `check` may modify.
    pub fn wait_for<R>(
        &self,
        deadline: Option<Instant>,
        mut check: impl FnMut(&mut Live) -> Option<R>,
    ) -> Option<R> {
        let mut live = self.lock();
        loop {
            if let Some(result) = check(&mut live) {
                return Some(result);
            }
            live = match deadline {
                None => self.changed.wait(live).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    if self.clock.now() >= deadline {
                        return None;
                    }
                    self.changed
                        .wait_timeout(live, self.clock.block_for(deadline))
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    /// Wait with a dynamic deadline computed from the state (e.g. the next inbox expiry).
    pub fn wait_dynamic<R>(
        &self,
        mut check: impl FnMut(&mut Live) -> Result<R, Option<Instant>>,
    ) -> R {
        let mut live = self.lock();
        loop {
            match check(&mut live) {
                Ok(result) => return result,
                Err(None) => live = self.changed.wait(live).unwrap_or_else(|p| p.into_inner()),
                Err(Some(deadline)) => {
                    let timeout = self.clock.block_for(deadline);
                    live = self
                        .changed
                        .wait_timeout(live, timeout.max(Duration::from_millis(1)))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXIT: ChildExit = ChildExit {
        code: 0,
        signal: None,
    };

    #[test]
    fn an_agent_that_never_got_ready_ends_as_a_boot_failure() {
        let ended = Lifecycle::Booting.exited(EXIT);
        assert_eq!(ended.exit(), Some(EXIT));
        assert!(!ended.ever_ready());
        assert!(!ended.stop_requested());
    }

    #[test]
    fn a_stop_keeps_readiness_and_is_remembered_after_the_exit() {
        let stopping = Lifecycle::Booting.ready().stopping(StopTarget::Terminate);
        assert_eq!(stopping.stop_target(), Some(StopTarget::Terminate));
        assert!(stopping.ever_ready() && stopping.stop_requested());
        let ended = stopping.exited(EXIT);
        assert!(ended.ever_ready() && ended.stop_requested());
        assert_eq!(ended.stop_target(), None);
        // Nothing moves an ended agent back.
        assert_eq!(ended.stopping(StopTarget::Kill), ended);
        let other = ChildExit {
            code: 1,
            signal: None,
        };
        assert_eq!(ended.exited(other).exit(), Some(EXIT));
    }

    #[test]
    fn readiness_seen_while_stopping_or_after_the_exit_counts() {
        let late = Lifecycle::Booting
            .stopping(StopTarget::Kill)
            .exited(EXIT)
            .ready();
        assert!(late.ever_ready());
        assert!(late.stop_requested());
    }
}
