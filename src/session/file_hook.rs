//! The file-change hook (`--watch-file PATH`, legacy `--watch PATH`): when the file changes, queue
//! `file-change-hook: read <path>` for the agent, once per burst of changes (debounced 1 s).
//!
//! Watches the file's directory, not the file, so editors that save by renaming a new file into
//! place are seen too. Runs on its own thread; blocks in poll() between changes.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::Session;
use super::inbox::Payload;

pub const DEBOUNCE: Duration = Duration::from_secs(1);

/// The message the agent gets.
pub fn hook_message(path: &Path) -> String {
    format!("file-change-hook: read {}", path.display())
}

pub fn watch(session: Arc<Session>, path: PathBuf) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let inotify = match Inotify::init(InitFlags::IN_CLOEXEC) {
        Ok(inotify) => inotify,
        Err(e) => {
            crate::warn!("harnex: cannot watch {}: {e}", path.display());
            return;
        }
    };
    let flags = AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_ATTRIB;
    if let Err(e) = inotify.add_watch(dir, flags) {
        crate::warn!("harnex: cannot watch {}: {e}", dir.display());
        return;
    }
    let mut pending_since: Option<Instant> = None;
    loop {
        if session.shared.lock().exit().is_some() {
            return;
        }
        // Wake for changes; while a burst is pending, also when its quiet second is over.
        let timeout = match pending_since {
            Some(at) => DEBOUNCE.saturating_sub(at.elapsed()),
            None => Duration::from_secs(1),
        };
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let ready = poll(&mut fds, PollTimeout::from(millis)).unwrap_or(0);
        if ready > 0
            && let Ok(events) = inotify.read_events()
            && events.iter().any(|e| e.name.as_deref() == Some(name))
        {
            pending_since = Some(Instant::now());
            continue;
        }
        if pending_since.is_some_and(|at| at.elapsed() >= DEBOUNCE) {
            pending_since = None;
            let payload = Payload {
                text: hook_message(&path),
                submit: true,
                enter_only: false,
                force: false,
            };
            // The inbox's TTLs run on the session's clock.
            let now = session.clock().now();
            session.shared.update(|live| {
                let _ = live.inbox.enqueue(payload, None, now);
            });
        }
    }
}
