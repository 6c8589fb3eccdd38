//! Keeps the session's status snapshot (`status/<slug>.json`, [`crate::status_files`]) current.
//!
//! Its own thread sleeps on the shared state's condition variable and wakes on every update; it
//! rewrites the file only when what `GET /status` would answer changed (the clock fields aside),
//! so an idle session writes nothing and costs nothing. The status is built under the lock and
//! serialised and written outside it. Updates that come while a write is under way, or within
//! [`MIN_INTERVAL`] of it, make one rewrite afterwards: the file shows the latest state, never an
//! older one after a newer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Session;

/// The least time between two rewrites. A burst of output changes the status (its progress
/// time) thousands of times a second; rewriting it for each took as much CPU as parsing the
/// burst. A change after a quiet spell is written at once; within a burst the file is at most
/// this far behind.
const MIN_INTERVAL: Duration = Duration::from_millis(20);

/// Run until the agent has exited (the session removes the file when it ends).
pub fn run(session: Arc<Session>) {
    let path = session.state_dir.status_path(&session.key());
    let mut seen: Option<u64> = None;
    let mut written: Vec<u8> = Vec::new();
    let mut failing = false;
    let mut last_write: Option<Instant> = None;
    loop {
        if let Some(wait) = last_write.and_then(|at| MIN_INTERVAL.checked_sub(at.elapsed())) {
            std::thread::sleep(wait);
        }
        // Without a deadline the wait ends only with a status.
        let Some((status, exited)) = session.shared.wait_for(None, |live| {
            let updates = session.shared.updates();
            if seen == Some(updates) {
                return None;
            }
            seen = Some(updates);
            Some((
                super::status::status_for_file(&session, live),
                live.exit().is_some(),
            ))
        }) else {
            return;
        };
        let Ok(bytes) = crate::status_files::document(&status) else {
            continue;
        };
        if bytes != written {
            let outcome =
                session.unless_removed(|| crate::paths::write_atomic_volatile(&path, &bytes));
            match outcome {
                Some(Ok(())) => {
                    written = bytes;
                    failing = false;
                    last_write = Some(Instant::now());
                }
                Some(Err(e)) => {
                    // A stale snapshot would be shown as current: without one, `status` asks
                    // the session itself.
                    let _ = std::fs::remove_file(&path);
                    written.clear();
                    session.events.health().count_error();
                    if !failing {
                        crate::warn!("harnex: cannot update the status snapshot: {e}");
                    }
                    failing = true;
                }
                None => return,
            }
        }
        if exited {
            return;
        }
    }
}
