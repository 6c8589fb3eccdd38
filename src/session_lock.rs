//! The per-session lock, `sessions/<slug>.lock`.
//!
//! A session's supervisor holds it for its whole life. It is an open-file-description lock
//! (`F_OFD_SETLK`): the kernel drops it however the process ends (`kill -9` included), it is not
//! inherited by the agent (the file is close-on-exec), and anyone can ask whether it is held
//! without taking it (`F_OFD_GETLK`). So "is this slug's supervisor alive?" has an exact answer
//! even when the registry entry is damaged or its pid was reused, and a second `run` with the same
//! id is refused. A reader that records the crash of a dead run (or prunes its files) takes the
//! lock for the few milliseconds that takes, so two readers never write that record twice. A
//! supervisor locks the whole file and a reader its first byte only: both exclude each other, and
//! a look at the lock tells a live supervisor from a reader busy with a dead run's files.
//!
//! The holder unlinks the file before letting go; whoever takes the lock checks that the file it
//! locked is still the one at the path (else it retries), so an unlink never lets two holders in.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};

use crate::paths::{SessionKey, StateDir};

/// A held session lock. Dropping it removes the file and lets go; a process that dies holding
/// it lets go too (the file stays, unlocked, until the next holder removes it).
#[derive(Debug)]
pub struct SessionLock {
    _file: File,
    path: PathBuf,
}

/// What a look at a lock file found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A live supervisor holds it.
    Held,
    /// A reader holds it while it settles or prunes a run whose supervisor is gone.
    Settling,
    /// Nobody holds it.
    Free,
    /// There is no lock file (nobody holds it; or a supervisor from before locks existed).
    Missing,
}

/// How often to try again while someone else holds the lock.
const RETRY: Duration = Duration::from_millis(10);

pub fn lock_path(state: &StateDir, key: &SessionKey) -> PathBuf {
    state.sessions_dir().join(format!("{}.lock", key.slug()))
}

/// The lock file next to a registry entry (`sessions/<slug>.json` → `sessions/<slug>.lock`).
pub fn lock_path_of_entry(entry_path: &Path) -> PathBuf {
    entry_path.with_extension("lock")
}

fn whole_file(kind: libc::c_short) -> libc::flock {
    libc::flock {
        l_type: kind,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    }
}

/// Who takes a lock: the range it locks says so to [`probe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    /// The whole file, for the session's life.
    Supervisor,
    /// The first byte, for the moments a reader settles a dead run.
    Reader,
}

impl Holder {
    fn range(self) -> libc::flock {
        let mut lock = whole_file(libc::F_WRLCK as _);
        if self == Holder::Reader {
            lock.l_len = 1;
        }
        lock
    }
}

impl SessionLock {
    /// Take the lock at `path` for a supervisor's life, waiting up to `patience` while another
    /// process holds it. `Ok(None)`: still held at the end (a live supervisor, or a reader
    /// settling a crash).
    pub fn acquire(path: &Path, patience: Duration) -> io::Result<Option<SessionLock>> {
        Self::acquire_as(path, patience, Holder::Supervisor)
    }

    /// As [`SessionLock::acquire`], for a reader that settles or prunes a dead run's files.
    pub fn acquire_to_settle(path: &Path, patience: Duration) -> io::Result<Option<SessionLock>> {
        Self::acquire_as(path, patience, Holder::Reader)
    }

    fn acquire_as(
        path: &Path,
        patience: Duration,
        holder: Holder,
    ) -> io::Result<Option<SessionLock>> {
        let deadline = Instant::now() + patience;
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)?;
            match fcntl(&file, FcntlArg::F_OFD_SETLK(&holder.range())) {
                Ok(_) => {
                    // The previous holder may have unlinked the file we opened: a lock on an
                    // unlinked file protects nothing.
                    let ours = file.metadata()?;
                    match std::fs::symlink_metadata(path) {
                        Ok(now) if now.dev() == ours.dev() && now.ino() == ours.ino() => {
                            return Ok(Some(SessionLock {
                                _file: file,
                                path: path.to_path_buf(),
                            }));
                        }
                        _ => continue,
                    }
                }
                Err(Errno::EAGAIN | Errno::EACCES) => {
                    if Instant::now() >= deadline {
                        return Ok(None);
                    }
                    drop(file);
                    std::thread::sleep(RETRY);
                }
                Err(e) => return Err(io::Error::from(e)),
            }
        }
    }

    /// Remove the lock file, then let go (the session is over).
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        // While still holding it, so nobody can be holding a lock on the file we remove.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Wait until nobody holds the lock at `path` (a supervisor that wrote its exit record lets go
/// moments later); false if someone still does after `within`.
pub fn await_free(path: &Path, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while matches!(probe(path), Probe::Held | Probe::Settling) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(RETRY);
    }
    true
}

/// Whether someone holds the lock at `path`, without taking it.
pub fn probe(path: &Path) -> Probe {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    probe_opened(file)
}

/// As [`probe`], for the lock file `name` in `dir` (a scan of the registry opens it there).
pub fn probe_in(dir: &crate::private_fs::Dir, name: &str) -> Probe {
    probe_opened(dir.open_file(name))
}

fn probe_opened(file: io::Result<File>) -> Probe {
    let file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Probe::Missing,
        // Cannot look (not ours, a symlink): no evidence either way.
        Err(_) => return Probe::Missing,
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Probe::Missing;
    }
    let mut query = whole_file(libc::F_WRLCK as _);
    match fcntl(&file, FcntlArg::F_OFD_GETLK(&mut query)) {
        Ok(_) if query.l_type == libc::F_UNLCK as libc::c_short => Probe::Free,
        Ok(_) if query.l_start == 0 && query.l_len == Holder::Reader.range().l_len => {
            Probe::Settling
        }
        Ok(_) => Probe::Held,
        Err(_) => Probe::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn await_free_waits_for_the_holder_to_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lock");
        assert!(await_free(&path, Duration::ZERO), "no lock file");
        let lock = SessionLock::acquire(&path, Duration::ZERO)
            .unwrap()
            .unwrap();
        assert!(!await_free(&path, Duration::from_millis(50)), "still held");
        let holder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            lock.release();
        });
        assert!(await_free(&path, Duration::from_secs(10)));
        holder.join().unwrap();
    }

    #[test]
    fn a_held_lock_is_seen_and_refused_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lock");
        assert_eq!(probe(&path), Probe::Missing);
        let lock = SessionLock::acquire(&path, Duration::ZERO)
            .unwrap()
            .unwrap();
        assert_eq!(probe(&path), Probe::Held);
        // Open-file-description locks conflict within one process too.
        assert!(
            SessionLock::acquire(&path, Duration::from_millis(30))
                .unwrap()
                .is_none()
        );
        lock.release();
        assert_eq!(probe(&path), Probe::Missing);
        // A holder that died leaves the file, unlocked.
        let file = std::fs::File::create(&path).unwrap();
        assert_eq!(probe(&path), Probe::Free);
        drop(file);
        let lock = SessionLock::acquire(&path, Duration::ZERO)
            .unwrap()
            .unwrap();
        assert_eq!(probe(&path), Probe::Held);
        drop(lock);
        assert_eq!(probe(&path), Probe::Missing);
    }

    #[test]
    fn a_reader_settling_is_told_from_a_supervisor_and_both_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lock");
        let reader = SessionLock::acquire_to_settle(&path, Duration::ZERO)
            .unwrap()
            .unwrap();
        assert_eq!(probe(&path), Probe::Settling);
        let wait = Duration::from_millis(30);
        assert!(SessionLock::acquire(&path, wait).unwrap().is_none());
        assert!(
            SessionLock::acquire_to_settle(&path, wait)
                .unwrap()
                .is_none()
        );
        assert!(!await_free(&path, wait), "a reader is still at it");
        reader.release();
        let supervisor = SessionLock::acquire(&path, Duration::ZERO)
            .unwrap()
            .unwrap();
        assert_eq!(probe(&path), Probe::Held);
        assert!(
            SessionLock::acquire_to_settle(&path, wait)
                .unwrap()
                .is_none()
        );
        supervisor.release();
    }

    #[test]
    fn a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim");
        std::fs::write(&target, "keep").unwrap();
        let path = dir.path().join("s.lock");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(SessionLock::acquire(&path, Duration::ZERO).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
