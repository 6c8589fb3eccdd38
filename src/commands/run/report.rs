//! The detached supervisor's word to the `harnex run` that started it: one JSON line on a pipe
//! the supervisor inherits — ready (with its registry entry), or the boot failure's message.
//! The parent blocks on the read with its deadline; the pipe closing without a line means the
//! supervisor itself died.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::registry::RegistryEntry;

/// The fd a detached supervisor finds its end of the pipe on.
pub const REPORT_FD: RawFd = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case")]
pub enum Report {
    /// The agent showed its first prompt or dialog.
    Ready {
        agent_state: String,
        entry: Box<RegistryEntry>,
    },
    /// The agent died before it was ready; the message says how.
    BootFailure { message: String },
}

/// The supervisor's end: written once, by whoever has news first.
#[derive(Clone)]
pub struct Reporter {
    pipe: Arc<Mutex<Option<File>>>,
}

impl Reporter {
    /// Take over inherited `fd` (closed on exec from now on, so the agent does not hold the
    /// pipe open).
    pub fn from_fd(fd: RawFd) -> Result<Reporter> {
        use nix::fcntl::{FcntlArg, FdFlag, fcntl};
        use nix::sys::stat::{SFlag, fstat};
        // SAFETY: a borrowed fd only for the checks below; ownership is taken after them.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let is_pipe = fstat(borrowed).is_ok_and(|st| {
            SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFIFO
        });
        if !is_pipe {
            return Err(Error::usage(format!(
                "--report-fd {fd} is not a pipe: `harnex supervise` is started by `harnex run --detach`"
            )));
        }
        fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
            .map_err(|e| Error::failed(format!("cannot take over the report pipe: {e}")))?;
        // SAFETY: an open fd (fstat succeeded) that nothing else in this process owns.
        let file = unsafe { File::from(OwnedFd::from_raw_fd(fd)) };
        Ok(Reporter {
            pipe: Arc::new(Mutex::new(Some(file))),
        })
    }

    /// Send `report` unless something was sent already; true when this one went out.
    pub fn send(&self, report: &Report) -> bool {
        let Ok(mut pipe) = self.pipe.lock() else {
            return false;
        };
        let Some(mut file) = pipe.take() else {
            return false;
        };
        let Ok(mut line) = serde_json::to_vec(report) else {
            return false;
        };
        line.push(b'\n');
        // The parent may have given up waiting (closed its end): nothing more to do then.
        let _ = file.write_all(&line);
        true
    }

    /// Whether a report went out.
    pub fn sent(&self) -> bool {
        self.pipe.lock().map(|p| p.is_none()).unwrap_or(true)
    }
}

/// What the parent got.
pub enum Received {
    Report(Report),
    /// The pipe closed with no line: the supervisor exited (or crashed) without a word.
    Closed,
    TimedOut,
}

/// The parent's end.
pub struct ReportReader {
    pipe: File,
    buffer: Vec<u8>,
}

impl ReportReader {
    pub fn new(fd: OwnedFd) -> ReportReader {
        ReportReader {
            pipe: File::from(fd),
            buffer: Vec::new(),
        }
    }

    /// Block until a whole line arrives, the pipe closes, or `deadline` passes.
    pub fn next(&mut self, deadline: Instant) -> Received {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return match serde_json::from_slice(&line) {
                    Ok(report) => Received::Report(report),
                    Err(e) => {
                        crate::warn!("harnex: unreadable word from the supervisor: {e}");
                        Received::Closed
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Received::TimedOut;
            }
            // Whole milliseconds, rounded up: an early wake-up would end the wait too soon.
            let millis = left.as_millis().saturating_add(1);
            let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.pipe.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return Received::Closed,
            }
            let mut chunk = [0u8; 4096];
            match self.pipe.read(&mut chunk) {
                Ok(0) => return Received::Closed,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Received::Closed,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;
    use std::time::Duration;

    fn pipe() -> (ReportReader, Reporter) {
        let (read, write) = nix::unistd::pipe().unwrap();
        let reporter = Reporter::from_fd(write.into_raw_fd()).unwrap();
        (ReportReader::new(read), reporter)
    }

    #[test]
    fn the_first_report_wins_and_arrives_whole() {
        let (mut reader, reporter) = pipe();
        let failure = Report::BootFailure {
            message: "agent x exited with code 3".into(),
        };
        assert!(reporter.send(&failure));
        assert!(!reporter.send(&failure), "only one report");
        assert!(reporter.sent());
        let deadline = Instant::now() + Duration::from_secs(5);
        match reader.next(deadline) {
            Received::Report(Report::BootFailure { message }) => {
                assert_eq!(message, "agent x exited with code 3")
            }
            _ => panic!("expected the boot failure"),
        }
        drop(reporter);
        assert!(matches!(reader.next(deadline), Received::Closed));
    }

    #[test]
    fn silence_ends_at_the_deadline() {
        let (mut reader, _reporter) = pipe();
        let started = Instant::now();
        let got = reader.next(started + Duration::from_millis(50));
        assert!(matches!(got, Received::TimedOut));
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn a_plain_file_is_not_a_report_pipe() {
        let file = tempfile::tempfile().unwrap();
        let error = Reporter::from_fd(file.into_raw_fd()).err().unwrap();
        assert_eq!(error.exit_code(), 2);
    }
}
