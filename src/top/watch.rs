//! Noticing changes to sessions without polling: one inotify instance watches the state dir's
//! `sessions/` (registry entries come and go, are rewritten), `status/` (a status snapshot
//! rewritten: the state, dialog, turn, tokens, retry or progress changed), `events/` (a row
//! appended: the state changed, a turn ended, tokens were counted) and `exits/` (an exit record
//! written).
//! Each change names the session's slug (the file's stem), so only that session is looked at
//! again. Idle, the watching thread blocks in `read(2)`: no timer, no CPU.
//!
//! [`spawn`] starts the thread; it owns the inotify descriptor and sends on a channel.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::mpsc::Sender;
use std::time::Duration;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

/// How often to look when inotify cannot be used (no watch could be set up).
const NO_INOTIFY_POLL: Duration = Duration::from_secs(1);

const DIR_EVENTS: AddWatchFlags = AddWatchFlags::IN_MODIFY
    .union(AddWatchFlags::IN_CLOSE_WRITE)
    .union(AddWatchFlags::IN_CREATE)
    .union(AddWatchFlags::IN_MOVED_TO)
    .union(AddWatchFlags::IN_MOVED_FROM)
    .union(AddWatchFlags::IN_DELETE);

/// What changed: the slugs whose files changed, or "look at everything" (no inotify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    Slugs(BTreeSet<String>),
    Everything,
}

/// The state dir's subdirectories watched, and the suffix of the files that matter in each.
const WATCHED: [(&str, &str); 3] = [
    ("sessions", ".json"),
    ("events", ".jsonl"),
    ("exits", ".json"),
];

struct Watch {
    inotify: Inotify,
    dirs: Vec<(WatchDescriptor, &'static str)>,
}

impl Watch {
    fn new(root: &Path) -> std::io::Result<Watch> {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC)?;
        let mut dirs = Vec::new();
        for (sub, suffix) in WATCHED {
            dirs.push((inotify.add_watch(&root.join(sub), DIR_EVENTS)?, suffix));
        }
        Ok(Watch { inotify, dirs })
    }

    /// Block until files that matter changed; their slugs.
    fn next(&self) -> std::io::Result<BTreeSet<String>> {
        loop {
            let mut slugs = BTreeSet::new();
            for event in self.inotify.read_events()? {
                let Some(suffix) = self
                    .dirs
                    .iter()
                    .find(|(wd, _)| *wd == event.wd)
                    .map(|(_, s)| *s)
                else {
                    continue;
                };
                let Some(name) = event.name.as_ref().and_then(|n| n.to_str()) else {
                    continue;
                };
                // Temp files of atomic writes start with a dot; locks and others end otherwise.
                if let Some(slug) = name.strip_suffix(suffix)
                    && !slug.starts_with('.')
                {
                    slugs.insert(slug.to_string());
                }
            }
            if !slugs.is_empty() {
                return Ok(slugs);
            }
        }
    }
}

/// Start the watching thread: it sends `wrap(changed)` for every batch of changes, until the
/// receiver is gone. The directories must exist.
pub fn spawn<T: Send + 'static>(
    root: &Path,
    tx: Sender<T>,
    wrap: fn(Changed) -> T,
) -> std::io::Result<()> {
    let watch = Watch::new(root);
    std::thread::Builder::new()
        .name("top-watch".into())
        .spawn(move || match watch {
            Ok(watch) => {
                while let Ok(slugs) = watch.next() {
                    if tx.send(wrap(Changed::Slugs(slugs))).is_err() {
                        return;
                    }
                }
            }
            Err(_) => loop {
                std::thread::sleep(NO_INOTIFY_POLL);
                if tx.send(wrap(Changed::Everything)).is_err() {
                    return;
                }
            },
        })
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_names_the_slug_of_the_file_and_ignores_temp_files_and_locks() {
        let root = tempfile::tempdir().unwrap();
        for (sub, _) in WATCHED {
            std::fs::create_dir(root.path().join(sub)).unwrap();
        }
        let watch = Watch::new(root.path()).unwrap();
        std::fs::write(root.path().join("sessions/k--a.lock"), b"").unwrap();
        std::fs::write(root.path().join("sessions/.k--a.json.tmp"), b"{}").unwrap();
        std::fs::write(root.path().join("events/k--b.jsonl"), b"{}\n").unwrap();
        let slugs = watch.next().unwrap();
        assert_eq!(slugs, BTreeSet::from(["k--b".to_string()]));
        std::fs::rename(
            root.path().join("sessions/.k--a.json.tmp"),
            root.path().join("sessions/k--a.json"),
        )
        .unwrap();
        assert_eq!(watch.next().unwrap(), BTreeSet::from(["k--a".to_string()]));
    }
}
