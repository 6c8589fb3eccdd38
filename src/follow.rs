//! Following a file as it changes, without polling: the one follower behind `events` (and
//! `wait --until task_complete`), `logs --follow` and the file-change hook.
//!
//! - [`FileWatch`] blocks in inotify until the file changes: its own watch on the file (writes,
//!   attribute changes) and one on its directory for its name only (created, renamed into place,
//!   removed), so a file replaced by a rename is followed and other files' traffic in the same
//!   directory never wakes it. It can also wake when a process exits (a pidfd), so a follower of
//!   a session ends with its supervisor. Idle, it costs nothing: no timer, no loop.
//! - [`Tail`] is a byte cursor: each read returns only what was appended since the last one, says
//!   when the file got shorter (truncated) and, once the old file is drained, moves on to a new
//!   file renamed into its place (rotation).
//!
//! Each value is owned by the one thread that follows with it.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

/// Why [`FileWatch::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The file was written, replaced, created or removed (or the watch could not tell, and the
    /// caller should look).
    Changed,
    /// The process given to [`FileWatch::until_exit_of`] exited.
    OwnerExited,
    TimedOut,
}

/// How often to look when inotify is unavailable (no watch could be set up).
const NO_INOTIFY_POLL: Duration = Duration::from_millis(50);
/// Say (once per process) that a file is followed by polling because inotify failed, and — when
/// the reason is the per-user limit on inotify instances (`EMFILE`), which every harnex session
/// and follower draws on (128 by default: the first thing 200 sessions on one machine run out
/// of) — what the limit is and how to raise it.
pub fn warn_polling(what: &str, every: Duration, error: &std::io::Error) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    crate::warn!(
        "{}",
        polling_message(what, every, error, &inotify_instance_limit())
    );
}

/// The words of [`warn_polling`].
pub fn polling_message(what: &str, every: Duration, error: &std::io::Error, limit: &str) -> String {
    let why = if error.raw_os_error() == Some(libc::EMFILE) {
        format!(
            "this user's inotify instances are used up (fs.inotify.max_user_instances = {limit}; each harnex session and follower takes one or two): raise the limit, e.g. `sudo sysctl fs.inotify.max_user_instances=1024`"
        )
    } else {
        format!("inotify failed: {error}")
    };
    format!(
        "harnex: following {what} by looking every {} ms: {why}",
        every.as_millis()
    )
}

fn inotify_instance_limit() -> String {
    std::fs::read_to_string("/proc/sys/fs/inotify/max_user_instances")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// How often to check the owner when no pidfd could be opened (kernels before 5.3).
const NO_PIDFD_POLL: Duration = Duration::from_millis(500);

const FILE_EVENTS: AddWatchFlags = AddWatchFlags::IN_MODIFY
    .union(AddWatchFlags::IN_ATTRIB)
    .union(AddWatchFlags::IN_CLOSE_WRITE);
const NAME_EVENTS: AddWatchFlags = AddWatchFlags::IN_CREATE
    .union(AddWatchFlags::IN_MOVED_TO)
    .union(AddWatchFlags::IN_MOVED_FROM)
    .union(AddWatchFlags::IN_DELETE);

/// Wakes when one file changes (see the module docs).
pub struct FileWatch {
    path: PathBuf,
    name: OsString,
    inotify: Option<Inotify>,
    dir: Option<WatchDescriptor>,
    file: Option<WatchDescriptor>,
    owner: Owner,
}

enum Owner {
    None,
    /// Readable once the process exited.
    Pidfd(OwnedFd),
    /// No pidfd: the caller checks on a timer.
    Unwatched,
}

impl FileWatch {
    /// Watch `path` (it need not exist yet: its creation is a change).
    pub fn new(path: &Path) -> std::io::Result<FileWatch> {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(std::io::Error::other(format!(
                "cannot watch {}: not a file path",
                path.display()
            )));
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        let dir_watch = inotify.add_watch(dir, NAME_EVENTS)?;
        let mut watch = FileWatch {
            path: path.to_path_buf(),
            name: name.to_os_string(),
            inotify: Some(inotify),
            dir: Some(dir_watch),
            file: None,
            owner: Owner::None,
        };
        watch.watch_file();
        Ok(watch)
    }

    /// A watch that cannot use inotify: every wait is a short sleep, then [`Wake::Changed`].
    pub fn polling(path: &Path) -> FileWatch {
        FileWatch {
            path: path.to_path_buf(),
            name: path.file_name().unwrap_or_default().to_os_string(),
            inotify: None,
            dir: None,
            file: None,
            owner: Owner::None,
        }
    }

    /// `new`, falling back to [`FileWatch::polling`] where inotify is unavailable (and saying
    /// so, once per process: see [`warn_polling`]).
    pub fn new_or_polling(path: &Path) -> FileWatch {
        FileWatch::new(path).unwrap_or_else(|e| {
            warn_polling(&path.display().to_string(), NO_INOTIFY_POLL, &e);
            FileWatch::polling(path)
        })
    }

    /// Also wake ([`Wake::OwnerExited`]) when process `pid` exits. The caller checks afterwards
    /// that `pid` is still the process it means (a pid can be reused before this call).
    pub fn until_exit_of(mut self, pid: u32) -> FileWatch {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        self.owner = match i32::try_from(fd) {
            // SAFETY: a descriptor just returned by the kernel, owned by nobody else.
            Ok(fd) if fd >= 0 => Owner::Pidfd(unsafe { OwnedFd::from_raw_fd(fd) }),
            _ => Owner::Unwatched,
        };
        self
    }

    /// Watch the file itself (again, after it was replaced); not there yet is fine.
    fn watch_file(&mut self) {
        if let Some(inotify) = &self.inotify {
            if let Some(old) = self.file.take() {
                let _ = inotify.rm_watch(old);
            }
            self.file = inotify.add_watch(&self.path, FILE_EVENTS).ok();
        }
    }

    /// Block until the file changes, the owner exits, or `timeout` (`None`: no timeout).
    pub fn wait(&mut self, timeout: Option<Duration>) -> Wake {
        let deadline = timeout.map(crate::time::deadline_after);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            if let Some(wake) = self.wait_once(left) {
                return wake;
            }
            if left.is_some_and(|left| left.is_zero()) {
                return Wake::TimedOut;
            }
        }
    }

    /// One poll; `None` when only other names in the directory changed.
    fn wait_once(&mut self, timeout: Option<Duration>) -> Option<Wake> {
        let Some(inotify) = &self.inotify else {
            std::thread::sleep(timeout.unwrap_or(NO_INOTIFY_POLL).min(NO_INOTIFY_POLL));
            return Some(Wake::Changed);
        };
        let timeout = match self.owner {
            Owner::Unwatched => Some(timeout.unwrap_or(NO_PIDFD_POLL).min(NO_PIDFD_POLL)),
            _ => timeout,
        };
        let poll_timeout = match timeout {
            None => PollTimeout::NONE,
            Some(t) => PollTimeout::try_from(t.as_millis().min(i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX),
        };
        let mut fds = vec![PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        if let Owner::Pidfd(pidfd) = &self.owner {
            fds.push(PollFd::new(pidfd.as_fd(), PollFlags::POLLIN));
        }
        let ready = match poll(&mut fds, poll_timeout) {
            Ok(n) => n,
            // Interrupted by a signal: let the caller look.
            Err(_) => return Some(Wake::Changed),
        };
        let owner_exited = fds
            .get(1)
            .and_then(PollFd::revents)
            .is_some_and(|r| !r.is_empty());
        let inotify_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        drop(fds);
        if ready == 0 {
            return Some(match self.owner {
                // No pidfd: time to let the caller check on the owner.
                Owner::Unwatched => Wake::Changed,
                _ => Wake::TimedOut,
            });
        }
        let changed = inotify_ready && self.drain();
        if owner_exited {
            // Said once: later waits block on the file alone (a pidfd stays readable).
            self.owner = Owner::None;
            return Some(Wake::OwnerExited);
        }
        changed.then_some(Wake::Changed)
    }

    /// Read the pending notifications; true if one says the file was written or put in place
    /// (its removal alone is not a change to report: there is nothing to read).
    fn drain(&mut self) -> bool {
        let Some(inotify) = &self.inotify else {
            return true;
        };
        let (mut touched, mut rearm) = (false, false);
        while let Ok(events) = inotify.read_events() {
            if events.is_empty() {
                break;
            }
            for event in events {
                if Some(event.wd) == self.file {
                    touched |= !event.mask.contains(AddWatchFlags::IN_IGNORED);
                } else if Some(event.wd) == self.dir
                    && event.name.as_deref() == Some(self.name.as_os_str())
                {
                    rearm = true;
                    touched |= event
                        .mask
                        .intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO);
                }
            }
        }
        if rearm {
            self.watch_file();
        }
        // An unlink shows up on the file as an attribute change (its link count).
        touched && self.path.exists()
    }
}

/// What [`Tail::read_appended`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    /// The bytes appended since the last read (empty: none).
    Bytes(Vec<u8>),
    /// The file is shorter than what was already read; the cursor did not move.
    Truncated,
}

/// A byte cursor over a growing file (see the module docs).
pub struct Tail {
    path: PathBuf,
    file: File,
    offset: u64,
}

impl Tail {
    /// From the start of the file.
    pub fn open(path: &Path) -> std::io::Result<Tail> {
        Ok(Tail {
            file: crate::private_fs::open_read(path)?,
            path: path.to_path_buf(),
            offset: 0,
        })
    }

    /// Continue from `offset` (e.g. after reading the tail of the file some other way).
    pub fn from_offset(path: &Path, file: File, offset: u64) -> Tail {
        Tail {
            path: path.to_path_buf(),
            file,
            offset,
        }
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Skip to the current end (after a truncation: follow on from the new end).
    pub fn skip_to_end(&mut self) -> std::io::Result<()> {
        self.offset = self.file.metadata()?.len();
        Ok(())
    }

    /// What was appended since the last read. A file renamed into the path's place is
    /// followed from its start once the old one is drained.
    pub fn read_appended(&mut self) -> std::io::Result<Appended> {
        let len = self.file.metadata()?.len();
        if len < self.offset {
            return Ok(Appended::Truncated);
        }
        let mut bytes = Vec::with_capacity((len - self.offset) as usize);
        if len > self.offset {
            self.file.seek(SeekFrom::Start(self.offset))?;
            (&mut self.file)
                .take(len - self.offset)
                .read_to_end(&mut bytes)?;
            self.offset += bytes.len() as u64;
        }
        if self.replaced() {
            self.file = crate::private_fs::open_read(&self.path)?;
            self.offset = 0;
            if let Appended::Bytes(more) = self.read_appended()? {
                bytes.extend(more);
            }
        }
        Ok(Appended::Bytes(bytes))
    }

    /// The path now names another file than the one open.
    fn replaced(&self) -> bool {
        match (self.file.metadata(), std::fs::metadata(&self.path)) {
            (Ok(open), Ok(now)) => (open.dev(), open.ino()) != (now.dev(), now.ino()),
            _ => false,
        }
    }
}

#[cfg(test)]
#[path = "follow_tests.rs"]
mod tests;
