//! Keeps the session's status snapshot (`status/<slug>.json`, [`crate::status_files`]) current.
//!
//! Its own thread sleeps on the shared state's condition variable and wakes on every update; it
//! rewrites the file only when what `GET /status` would answer changed (the clock fields aside),
//! so an idle session writes nothing and costs nothing. The status is built under the lock and
//! serialised and written outside it. A burst of updates while a write is under way is one
//! rewrite afterwards: the file shows the latest state, never an older one after a newer.

use std::sync::Arc;

use super::Session;

/// Run until the agent has exited (the session removes the file when it ends).
pub fn run(session: Arc<Session>) {
    let path = session.state_dir.status_path(&session.key());
    let mut seen: Option<u64> = None;
    let mut written: Vec<u8> = Vec::new();
    let mut failing = false;
    loop {
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
