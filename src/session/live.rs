//! The session's shared, live state behind one lock and one condition variable.
//!
//! The monitor thread publishes the agent state here, API handlers and the delivery loop read
//! it and the inbox, and anyone waiting for a change sleeps instead of polling: threads
//! (delivery, shutdown) on the condition variable, the API's async long-polls on a watch channel
//! that every update bumps.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::adapters::{Dialog, Observation, Verdict};

use super::inbox::Inbox;
use super::state::{AgentState, Turns};

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
    /// When the agent reported its task finished (`harnex done`).
    pub done_at: Option<SystemTime>,
    /// The agent has shown its prompt or a dialog at least once.
    pub ever_ready: bool,
    pub bracketed_paste: bool,
    pub application_cursor: bool,
    pub title: String,
    pub inbox: Inbox,
    pub injected_count: u64,
    pub last_injected_at: Option<SystemTime>,
    pub stop_requested: bool,
    /// How far the stop ladder may go (`None` until a stop is requested); only moves forward.
    pub stop: Option<super::stop::StopTarget>,
    /// Deliveries writing to the agent right now.
    pub delivering: u32,
    pub exit: Option<ChildExit>,
    /// The PTY reader saw end of output.
    pub output_closed: bool,
}

impl Live {
    pub fn new(inbox: Inbox) -> Live {
        Live {
            state: AgentState::Starting,
            state_since: SystemTime::now(),
            verdict: Verdict::new(Observation::Unknown, "start", None, "no output yet"),
            dialog: None,
            generation: 0,
            changed_at: Instant::now(),
            progress_at: SystemTime::now(),
            turns: Turns::default(),
            pending_turn: None,
            last_turn_assigned: 0,
            last_completed_at: None,
            done_at: None,
            ever_ready: false,
            bracketed_paste: false,
            application_cursor: false,
            title: String::new(),
            inbox,
            injected_count: 0,
            last_injected_at: None,
            stop_requested: false,
            stop: None,
            delivering: 0,
            exit: None,
            output_closed: false,
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

    /// The state as clients see it: `exited` once the agent is gone.
    pub fn visible_state(&self) -> AgentState {
        if self.exit.is_some() {
            AgentState::Exited
        } else {
            self.state
        }
    }
}

pub struct Shared {
    live: Mutex<Live>,
    changed: Condvar,
    /// Bumped with every update, for async waiters (the API's long-polls hold no thread).
    generation: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    pub fn new(live: Live) -> Shared {
        Shared {
            live: Mutex::new(live),
            changed: Condvar::new(),
            generation: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Read (or briefly modify without waking anyone).
    pub fn lock(&self) -> MutexGuard<'_, Live> {
        // A panicking holder leaves consistent data behind (every update is a few field
        // assignments), so keep serving rather than poisoning the whole session.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Modify and wake every waiter.
    pub fn update<R>(&self, f: impl FnOnce(&mut Live) -> R) -> R {
        let result = f(&mut self.lock());
        self.changed.notify_all();
        self.generation.send_modify(|n| *n = n.wrapping_add(1));
        result
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
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    self.changed
                        .wait_timeout(live, deadline - now)
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
                    let timeout = deadline.saturating_duration_since(Instant::now());
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
