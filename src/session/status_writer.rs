//! Keeps the session's status snapshot (`status/<slug>.json`, [`crate::status_files`]) current.
//!
//! Its own thread sleeps on the shared state's condition variable and wakes on every update; it
//! rewrites the file only when what `GET /status` would answer changed (the clock fields aside),
//! so an idle session writes nothing and costs nothing. Updates that come while a write is under
//! way, or within [`MIN_INTERVAL`] of it, make one rewrite afterwards.
//!
//! The API also writes it ([`flush`]) before it answers a wait, a send or a stop, so a `status`
//! run after such an answer shows at least what the answer said (`run --detach` reports ready
//! through `/wait`). Every write builds the status while holding [`Written`]'s lock, so the file
//! never goes back to an older state after a newer one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Session;

/// The least time between two rewrites by the thread. A burst of output changes the status (its
/// progress time) thousands of times a second; rewriting it for each took as much CPU as
/// parsing the burst. A change after a quiet spell is written at once; within a burst the file
/// is at most this far behind.
const MIN_INTERVAL: Duration = Duration::from_millis(20);

/// What was last written, shared by the thread and [`flush`].
#[derive(Default)]
pub struct Written {
    bytes: Vec<u8>,
    at: Option<Instant>,
    failing: bool,
}

pub type StatusFile = Mutex<Written>;

/// Run until the agent has exited (the session removes the file when it ends).
pub fn run(session: Arc<Session>) {
    let mut seen: Option<u64> = None;
    loop {
        let last = session
            .status_file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .at;
        if let Some(wait) = last.and_then(|at| MIN_INTERVAL.checked_sub(at.elapsed())) {
            std::thread::sleep(wait);
        }
        // Without a deadline the wait ends only with an answer.
        let Some(()) = session.shared.wait_for(None, |_| {
            let updates = session.shared.updates();
            let changed = seen != Some(updates);
            seen = Some(updates);
            changed.then_some(())
        }) else {
            return;
        };
        match write_if_changed(&session) {
            Some(exited) if !exited => {}
            _ => return,
        }
    }
}

/// Write the status now if it changed since the last write.
pub fn flush(session: &Session) {
    let _ = write_if_changed(session);
}

/// `None` once the session removed its files for good; else whether the agent has exited.
fn write_if_changed(session: &Session) -> Option<bool> {
    let mut written = session
        .status_file
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let (status, exited) = {
        let live = session.shared.lock();
        (
            super::status::status_for_file(session, &live),
            live.exit().is_some(),
        )
    };
    let Ok(bytes) = crate::status_files::document(&status) else {
        return Some(exited);
    };
    if bytes == written.bytes {
        return Some(exited);
    }
    let path = session.state_dir.status_path(&session.key());
    match session.unless_removed(|| crate::paths::write_atomic_volatile(&path, &bytes))? {
        Ok(()) => {
            written.bytes = bytes;
            written.at = Some(Instant::now());
            written.failing = false;
        }
        Err(e) => {
            // A stale snapshot would be shown as current: without one, `status` asks the
            // session itself.
            let _ = std::fs::remove_file(&path);
            written.bytes.clear();
            session.events.health().count_error();
            if !written.failing {
                crate::warn!("harnex: cannot update the status snapshot: {e}");
            }
            written.failing = true;
        }
    }
    Some(exited)
}
