//! The file-change hook (`--watch-file PATH`, legacy `--watch PATH`): when the file changes, queue
//! `file-change-hook: read <path>` for the agent, once per burst of changes (debounced 1 s).
//!
//! Follows the file with [`crate::follow::FileWatch`], which also sees editors that save by
//! renaming a new file into place. Runs on its own thread; blocks in inotify between changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Session;
use super::inbox::Payload;
use crate::follow::{FileWatch, Wake};

pub const DEBOUNCE: Duration = Duration::from_secs(1);

/// The message the agent gets.
pub fn hook_message(path: &Path) -> String {
    format!("file-change-hook: read {}", path.display())
}

pub fn watch(session: Arc<Session>, path: PathBuf) {
    let mut watch = match FileWatch::new(&path) {
        Ok(watch) => watch,
        Err(e) => {
            crate::warn!("harnex: cannot watch {}: {e}", path.display());
            return;
        }
    };
    let mut pending_since: Option<Instant> = None;
    loop {
        if session.shared.lock().exit().is_some() {
            return;
        }
        // Wake for changes; while a burst is pending, also when its quiet second is over.
        let timeout = pending_since.map(|at| DEBOUNCE.saturating_sub(at.elapsed()));
        if watch.wait(timeout) == Wake::Changed {
            pending_since = Some(Instant::now());
            continue;
        }
        if pending_since.is_some_and(|at| at.elapsed() >= DEBOUNCE) {
            pending_since = None;
            let payload = Payload::text(&hook_message(&path));
            // The inbox's TTLs run on the session's clock.
            let now = session.clock().now();
            session.shared.update(|live| {
                let _ = live.inbox.enqueue(payload, None, now);
            });
        }
    }
}
