//! The session core: a [`Session`] built from its parts, none of which is a terminal — the channel
//! to the agent's input (the PTY writer thread drains it), the monitor's channel (the PTY reader
//! feeds it), the clock, the way to signal the agent, and the event log. The outer shell
//! (`shell.rs`) opens the PTY, starts the threads, installs signal handlers and serves HTTP; tests
//! build a core with channels and a fake clock of their own and drive delivery, the inbox and the
//! stop ladder without a terminal.
//!
//! Every write the supervisor waits on has a deadline: an agent that stops reading its input
//! fills the terminal's buffer, and a write without one would hold a delivery (and the delivery
//! lock) or the stop ladder for good.

use std::sync::mpsc::{self, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::clock::Clock;
use super::inbox::Inbox;
use super::live::{Live, Shared};
use super::monitor::MonitorMsg;
use super::pty::WriteRequest;
use super::stop::Signaller;
use super::{Session, SessionConfig, SessionPaths, keyboard};
use crate::adapters::Adapter;
use crate::events::EventLog;
use crate::paths::StateDir;

/// The longest a write to the agent may wait for its terminal to take the bytes before it fails
/// with `TimedOut` ("the agent is not reading its input"); the bytes stay queued.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(30);

/// Where the records stand before the agent starts.
fn records_status(plan: &crate::record_files::RecordsPlan) -> crate::wire::turns::RecordsStatus {
    use crate::wire::turns::{RecordsState, RecordsStatus};
    match plan {
        crate::record_files::RecordsPlan::Unavailable { why } => RecordsStatus {
            state: RecordsState::Unavailable,
            source: None,
            path: None,
            why: Some(why.clone()),
            agent_session_id: None,
        },
        _ => RecordsStatus {
            state: RecordsState::Waiting,
            source: plan.source().map(str::to_string),
            path: None,
            why: Some("the agent writes its records at its first prompt".into()),
            agent_session_id: match plan {
                crate::record_files::RecordsPlan::ClaudeTranscript {
                    agent_session_id, ..
                }
                | crate::record_files::RecordsPlan::CopilotEvents {
                    agent_session_id, ..
                }
                | crate::record_files::RecordsPlan::GeminiChat {
                    agent_session_id, ..
                } => Some(agent_session_id.clone()),
                _ => None,
            },
        },
    }
}

/// What a session is built from.
pub struct CoreParts {
    pub config: SessionConfig,
    pub adapter: Box<dyn Adapter>,
    pub events: EventLog,
    pub state_dir: StateDir,
    pub paths: SessionPaths,
    /// The API's port.
    pub port: u16,
    pub child_pid: u32,
    /// The agent's input: whoever holds the receiver writes each request whole and answers it.
    pub writer: Sender<WriteRequest>,
    /// The monitor thread's messages.
    pub monitor: SyncSender<MonitorMsg>,
    pub clock: Arc<dyn Clock>,
    /// Sends signals to the agent's process group (the stop ladder).
    pub signal: Signaller,
    pub git_start: Option<crate::telemetry::git::GitStart>,
    /// Bytes of output the transcript's cap dropped (the PTY reader counts them).
    pub transcript_dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl Session {
    pub fn new(parts: CoreParts) -> Session {
        let inbox = Inbox::new(parts.config.options.inbox_ttl);
        let live = Live::new(
            inbox,
            parts.clock.now(),
            records_status(&parts.config.records),
            parts.adapter.record_lag(),
        );
        Session {
            shared: Shared::new(live, parts.clock),
            adapter: parts.adapter,
            events: parts.events,
            state_dir: parts.state_dir,
            paths: parts.paths,
            port: parts.port,
            child_pid: parts.child_pid,
            keyboard: keyboard::Keyboard::new(parts.writer.clone()),
            writer: parts.writer,
            monitor: parts.monitor,
            signal: parts.signal,
            delivery_lock: Mutex::new(()),
            turn_rows: Mutex::new(()),
            git_start: parts.git_start,
            transcript_dropped: parts.transcript_dropped,
            api_in_flight: std::sync::atomic::AtomicUsize::new(0),
            registry_removed: Mutex::new(false),
            entry_file: Default::default(),
            supervisor_started: crate::registry::process_start_ticks(std::process::id()),
            config: parts.config,
        }
    }

    /// The session's clock.
    pub fn clock(&self) -> &dyn Clock {
        self.shared.clock()
    }

    /// Write to the agent and wait until the bytes are in its terminal, at most
    /// [`WRITE_DEADLINE`].
    pub fn write(&self, bytes: Vec<u8>) -> std::io::Result<()> {
        self.write_within(bytes, self.clock().now() + WRITE_DEADLINE)
    }

    /// Like [`Session::write`], but give up at `deadline` (`TimedOut`): the bytes stay queued, and
    /// the caller moves on even when the agent never reads its input.
    pub fn write_within(&self, bytes: Vec<u8>, deadline: Instant) -> std::io::Result<()> {
        let closed = || std::io::Error::other("the agent's terminal is closed");
        let (done, result) = mpsc::channel();
        self.writer
            .send(WriteRequest {
                bytes,
                done: Some(done),
            })
            .map_err(|_| closed())?;
        loop {
            match result.recv_timeout(self.clock().block_for(deadline)) {
                Ok(written) => return written,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(closed()),
                Err(mpsc::RecvTimeoutError::Timeout) if self.clock().now() >= deadline => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the agent is not reading its input",
                    ));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Queue a write without waiting (terminal query replies).
    pub fn write_async(&self, bytes: Vec<u8>) {
        let _ = self.writer.send(WriteRequest { bytes, done: None });
    }
}
