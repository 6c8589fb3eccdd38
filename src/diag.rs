//! Diagnostics for people, on stderr, that never take the process down.
//!
//! `eprintln!` panics when stderr cannot be written — and a detached supervisor's stderr is a
//! file in the state dir, so a full disk would kill the thread that tried to say so (the monitor,
//! the PTY reader, an API handler). [`warn`] (and the [`warn!`](crate::warn) macro) write one
//! line and ignore failure; lines that could not be written are counted, and status shows the
//! count (`diagnostics_dropped`).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Write one line to stderr (a single write, so lines from threads do not interleave); count it
/// if it could not be written.
pub fn warn(args: std::fmt::Arguments<'_>) {
    let mut line = args.to_string();
    line.push('\n');
    let mut err = std::io::stderr().lock();
    if err
        .write_all(line.as_bytes())
        .and_then(|_| err.flush())
        .is_err()
    {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Diagnostic lines lost because stderr could not be written.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// `warn!("harnex: …", args)`: like `eprintln!`, but a failed write is counted, never a panic.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        $crate::diag::warn(format_args!($($arg)*))
    };
}

/// Failed writes of one session's files, counted so status can say what was lost. Shared by the
/// threads that write (event log, PTY reader, registry refresh, the end of the session).
#[derive(Debug, Default)]
pub struct WriteHealth {
    /// Write attempts that failed, of any of the session's files.
    pub write_errors: AtomicU64,
    /// Event rows given up for good (the in-memory backlog was full).
    pub dropped_events: AtomicU64,
    /// Event rows waiting in memory for the disk to take them.
    pub pending_events: AtomicU64,
    /// Transcript bytes that could not be written.
    pub transcript_write_lost_bytes: AtomicU64,
}

impl WriteHealth {
    pub fn count_error(&self) {
        self.write_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The status fields (`status --json`, `GET /status`).
    pub fn counts(&self) -> crate::wire::status::WriteCounts {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        crate::wire::status::WriteCounts {
            write_errors: get(&self.write_errors),
            dropped_events: get(&self.dropped_events),
            pending_events: get(&self.pending_events),
            transcript_write_lost_bytes: get(&self.transcript_write_lost_bytes),
            diagnostics_dropped: dropped(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn warning_never_panics() {
        crate::warn!("harnex: a test warning {}", 1);
        // Either written or counted; reaching this line is the point.
        let _ = super::dropped();
    }
}
