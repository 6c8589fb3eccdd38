//! The supervisor: one process per session owns the agent's PTY, the screen and state machine,
//! the inbox, the HTTP API, the transcript and the event log.
//!
//! Threads: PTY reader, monitor (screen + state), PTY writer, child waiter, inbox delivery, the
//! record follower (the agent's own records: [`record_feed`]), API
//! (a single-threaded async runtime, plus a bounded pool for handlers that block), signal
//! handler, reaper of adopted orphans, registry keeper (rewrites a damaged entry), and in the
//! foreground a stdin forwarder. The main thread starts them, waits for the agent to exit, then
//! ends what the agent left running, writes the exit record, removes the registry entry and shuts
//! the API down. The caller (`harnex run`) holds the session lock around all of it.
//!
//! Two layers: the core ([`core`]: a [`Session`] built from channels, a [`clock::Clock`] and a
//! signaller; [`submit`], [`delivery`], [`inbox`], [`stop`], [`monitor`], [`state`], and the
//! lifecycle in [`live`]) holds the decisions and is unit-tested without a terminal; the shell
//! (`shell.rs`) opens the PTY, starts the threads, handles signals and serves HTTP. Nothing here
//! prints with `eprintln!` (it panics when the log's disk is full): diagnostics go through
//! [`crate::diag`].

pub mod api;
pub mod api_connections;
pub mod api_server;
pub mod clock;
pub mod core;
#[cfg(test)]
mod core_tests;
pub mod delivery;
pub mod ending;
pub mod file_hook;
pub mod inbox;
pub mod keyboard;
pub mod live;
pub mod monitor;
pub mod opencode_events;
pub mod paste_shown;
pub mod progress;
pub mod pty;
pub mod record_feed;
pub mod registry_writer;
pub mod screen;
mod shell;
pub mod state;
pub mod status;
pub mod stop;
pub mod submit;
pub mod terminal;
pub mod transcript;
pub mod turn_ledger;

pub use shell::run;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::mpsc::{Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::adapters::Adapter;
use crate::events::EventLog;
use crate::paths::{SessionKey, StateDir};
use crate::registry;

use live::Shared;
use monitor::MonitorMsg;
use pty::WriteRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In the caller's terminal.
    Foreground,
    /// Detached: no terminal; harnex answers the agent's terminal queries.
    Headless,
    /// In the terminal of a tmux pane that `run --tmux` opened (a foreground session otherwise).
    Tmux,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Foreground => "foreground",
            Mode::Headless => "headless",
            Mode::Tmux => "tmux",
        }
    }

    /// Whether a person's terminal shows the agent and types into it.
    pub fn has_terminal(self) -> bool {
        self != Mode::Headless
    }
}

/// What a run asks of its session beyond the command: the plan carries it to the supervisor,
/// and the session keeps it as it is.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SessionOptions {
    pub description: Option<String>,
    pub host: IpAddr,
    pub port: Option<u16>,
    pub context: Option<String>,
    pub inbox_ttl: Duration,
    pub meta: Option<Map<String, Value>>,
    pub summary_out: Option<PathBuf>,
    /// The file-change hook's file (absolute).
    pub watch_file: Option<PathBuf>,
    /// `run --auto-stop`: stop the agent once it finished its first task (the `--context`).
    #[serde(default)]
    pub auto_stop: bool,
    /// Parent, root and tags (resolved by `harnex run` from its environment and `--tag`).
    #[serde(default)]
    pub attribution: crate::attribution::Attribution,
}

/// Everything `harnex run` decided before the session starts.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub id: String,
    pub cli: String,
    pub command: Vec<String>,
    pub repo_root: PathBuf,
    pub cwd: PathBuf,
    /// What the run asked for beyond its command (shared with the run's plan).
    pub options: SessionOptions,
    /// (cols, rows)
    pub size: (u16, u16),
    pub mode: Mode,
    /// The tmux pane the session runs in (`Mode::Tmux`).
    pub tmux: Option<crate::tmux::Pane>,
    pub session_id: String,
    pub token: String,
    pub started_at: SystemTime,
    /// The transcript's cap per run (`None`: no cap), see [`transcript`].
    pub transcript_max: Option<u64>,
    /// How to find the agent's own records.
    pub records: crate::record_files::RecordsPlan,
}

pub struct SessionPaths {
    pub registry: PathBuf,
    pub exit: PathBuf,
    pub output: PathBuf,
    pub events: PathBuf,
}

/// The running session, shared by all its threads.
pub struct Session {
    pub config: SessionConfig,
    pub adapter: Box<dyn Adapter>,
    pub shared: Shared,
    pub events: EventLog,
    pub state_dir: StateDir,
    pub paths: SessionPaths,
    pub port: u16,
    pub child_pid: u32,
    writer: Sender<WriteRequest>,
    pub monitor: SyncSender<MonitorMsg>,
    /// Signals the agent's process group (the stop ladder).
    pub signal: stop::Signaller,
    /// Held for the whole of one delivery (text, pause, Enter, check).
    pub delivery_lock: Mutex<()>,
    /// Held from a turn decision (the ledger, under the live lock) until its rows are written:
    /// the monitor and the record follower both decide, and without it one thread's rows could
    /// overtake the other's (a `task_complete` before the `usage` row decided ahead of it).
    pub turn_rows: Mutex<()>,
    /// The person's keystrokes (foreground and tmux): held while a delivery writes.
    pub keyboard: keyboard::Keyboard,
    /// HEAD when the session started (none outside git or before the first commit).
    pub git_start: Option<crate::telemetry::git::GitStart>,
    /// Bytes of output the transcript's cap dropped (written by the PTY reader).
    pub transcript_dropped: Arc<std::sync::atomic::AtomicU64>,
    /// API requests being answered (the end of a session lets them finish).
    pub api_in_flight: std::sync::atomic::AtomicUsize,
    /// Held while the registry entry is written or removed; true once it is removed for good.
    registry_removed: Mutex<bool>,
    /// What the registry entry holds ([`registry_writer`]).
    pub entry_file: registry_writer::EntryFile,
    /// This supervisor's start time (clock ticks since boot), for the registry entry.
    pub supervisor_started: Option<u64>,
}

impl Session {
    /// Whether the registry entry on disk is this run's and readable.
    fn registry_intact(&self) -> bool {
        registry::parse_entry(&self.paths.registry)
            .is_ok_and(|entry| entry.session_id == self.config.session_id)
    }

    /// Remove the registry entry for good (the session is over).
    fn remove_registry(&self) {
        let mut removed = self
            .registry_removed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *removed = true;
        registry::remove_entry(&self.state_dir, &self.key(), &self.config.session_id);
        let _ = std::fs::remove_file(self.state_dir.stale_mark_path(&self.key()));
    }

    /// Run `write` (a write of one of the session's live files) unless the session has removed
    /// its registry entry for good; `None` when it has. Holds the lock that removal takes, so a
    /// late write never brings a file back after the end.
    pub fn unless_removed<R>(&self, write: impl FnOnce() -> R) -> Option<R> {
        let removed = self
            .registry_removed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        (!*removed).then(write)
    }

    pub fn key(&self) -> SessionKey {
        SessionKey::new(self.config.repo_root.clone(), &self.config.id)
    }

    /// Rewrite the registry entry now (after deliveries, or found damaged), keeping keys others
    /// added (tmux_*). Never after the session removed it at its end, and never over another
    /// run's entry.
    pub fn refresh_registry(&self) {
        registry_writer::rewrite(self);
    }
}

/// The last `limit` bytes of a transcript, as text.
pub fn transcript_tail(path: &std::path::Path, limit: u64) -> String {
    use std::io::{Seek, SeekFrom};
    let Ok(mut file) = crate::private_fs::open_read(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(limit)));
    let mut bytes = Vec::new();
    let _ = std::io::Read::read_to_end(&mut file, &mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}
