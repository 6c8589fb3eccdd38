//! The supervisor: one process per session owns the agent's PTY, the screen and state machine,
//! the inbox, the HTTP API, the transcript and the event log.
//!
//! Threads: PTY reader, monitor (screen + state), PTY writer, child waiter, inbox delivery, API
//! (a single-threaded async runtime, plus a bounded pool for handlers that block), signal
//! handler, reaper of adopted orphans, registry keeper (rewrites a damaged entry), and in the
//! foreground a stdin forwarder. The main thread starts them, waits for the agent to exit, then
//! ends what the agent left running, writes the exit record, removes the registry entry and shuts
//! the API down. The caller (`harnex run`) holds the session lock around all of it. Nothing here
//! prints with `eprintln!` (it panics when the log's disk is full): diagnostics go through
//! [`crate::diag`].

pub mod api;
pub mod api_connections;
pub mod api_server;
pub mod delivery;
pub mod ending;
pub mod file_hook;
pub mod inbox;
pub mod keyboard;
pub mod live;
pub mod monitor;
pub mod progress;
pub mod pty;
pub mod screen;
pub mod state;
pub mod status;
pub mod stop;
pub mod terminal;
pub mod transcript;

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::mpsc::{self, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};

use crate::adapters::Adapter;
use crate::error::{Error, Result};
use crate::events::EventLog;
use crate::paths::{SessionKey, StateDir};
use crate::registry::{self, RegistryEntry};
use crate::wire::events::{Event, GitRow};

use live::{ChildExit, Live, Shared};
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

/// Everything `harnex run` decided before the session starts.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub id: String,
    pub cli: String,
    pub command: Vec<String>,
    pub repo_root: PathBuf,
    pub cwd: PathBuf,
    pub description: Option<String>,
    pub host: IpAddr,
    pub port: Option<u16>,
    pub context: Option<String>,
    pub inbox_ttl: Duration,
    pub meta: Option<Map<String, Value>>,
    pub summary_out: Option<PathBuf>,
    /// The file-change hook's file (absolute).
    pub watch_file: Option<PathBuf>,
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
    /// Held for the whole of one delivery (text, pause, Enter, check).
    pub delivery_lock: Mutex<()>,
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
}

impl Session {
    /// Write to the agent and wait until the bytes are in the PTY.
    pub fn write(&self, bytes: Vec<u8>) -> std::io::Result<()> {
        let (done, result) = mpsc::channel();
        self.writer
            .send(WriteRequest {
                bytes,
                done: Some(done),
            })
            .map_err(|_| std::io::Error::other("the agent's terminal is closed"))?;
        result
            .recv()
            .map_err(|_| std::io::Error::other("the agent's terminal is closed"))?
    }

    /// Like [`Session::write`], but give up at `deadline` (`TimedOut`): the bytes stay queued, and
    /// the caller moves on even when the agent never reads its input.
    pub fn write_within(&self, bytes: Vec<u8>, deadline: Instant) -> std::io::Result<()> {
        let (done, result) = mpsc::channel();
        self.writer
            .send(WriteRequest {
                bytes,
                done: Some(done),
            })
            .map_err(|_| std::io::Error::other("the agent's terminal is closed"))?;
        match result.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(written) => written,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the agent is not reading its input",
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(std::io::Error::other("the agent's terminal is closed"))
            }
        }
    }

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
    }

    /// Queue a write without waiting (terminal query replies).
    pub fn write_async(&self, bytes: Vec<u8>) {
        let _ = self.writer.send(WriteRequest { bytes, done: None });
    }

    pub fn key(&self) -> SessionKey {
        SessionKey::new(self.config.repo_root.clone(), &self.config.id)
    }

    fn registry_entry(&self) -> RegistryEntry {
        let snapshot = status::snapshot(self, &self.shared.lock());
        let config = &self.config;
        RegistryEntry {
            ok: true,
            session_id: config.session_id.clone(),
            id: config.id.clone(),
            cli: config.cli.clone(),
            repo_root: config.repo_root.clone(),
            repo_key: crate::paths::repo_key(&config.repo_root),
            pid: self.child_pid,
            host: config.host.to_string(),
            port: self.port,
            token: config.token.clone(),
            command: config.command.clone(),
            cwd: Some(config.cwd.clone()),
            started_at: crate::time::rfc3339(config.started_at),
            supervisor_pid: Some(std::process::id()),
            supervisor_started: registry::process_start_ticks(std::process::id()),
            adapter: Some(self.adapter.name().to_string()),
            mode: Some(config.mode.as_str().to_string()),
            description: config.description.clone(),
            output_log_path: Some(self.paths.output.clone()),
            events_log_path: Some(self.paths.events.clone()),
            extra: crate::wire::to_object(&snapshot),
            file: None,
        }
    }

    /// Rewrite the registry entry (after deliveries), keeping keys others added (tmux_*). Never
    /// after the session removed it at its end, and never over another run's entry.
    pub fn refresh_registry(&self) {
        let removed = self
            .registry_removed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if *removed {
            return;
        }
        let mut entry = self.registry_entry();
        match registry::parse_entry(&self.paths.registry) {
            Ok(old) if old.session_id != self.config.session_id => {
                crate::warn!(
                    "harnex: the registry entry {} belongs to another run ({}); leaving it alone",
                    self.paths.registry.display(),
                    old.session_id
                );
                return;
            }
            Ok(old) => {
                for (key, value) in old.extra {
                    entry.extra.entry(key).or_insert(value);
                }
            }
            Err(registry::EntryError::Corrupt(why)) => crate::warn!(
                "harnex: the registry entry {} was damaged ({why}); rewriting it",
                self.paths.registry.display()
            ),
            Err(registry::EntryError::Missing) => {}
        }
        if let Err(e) = registry::write_entry(&self.state_dir, &entry) {
            self.events.health().count_error();
            crate::warn!("harnex: cannot update the registry: {e}");
        }
    }
}

/// Everything the main thread holds on to while the session runs.
struct Running {
    session: Arc<Session>,
    api: api_server::ApiServer,
    _master: Arc<Mutex<Box<dyn portable_pty::MasterPty + Send>>>,
    _raw: Option<terminal::RawMode>,
}

/// Run a session to its end. Returns the agent's exit code (128 + signal when killed).
pub fn run(
    config: SessionConfig,
    adapter: Box<dyn Adapter>,
    state_dir: StateDir,
    listener: std::net::TcpListener,
) -> Result<i32> {
    let running = start(config, adapter, state_dir, listener)?;
    let session = Arc::clone(&running.session);
    // Wait for the agent to exit (the waiter thread fills `exit`).
    let exit = session
        .shared
        .wait_for(None, |live| live.exit)
        .unwrap_or(ChildExit {
            code: 1,
            signal: None,
        });
    finish(running, exit)
}

fn start(
    config: SessionConfig,
    adapter: Box<dyn Adapter>,
    state_dir: StateDir,
    listener: std::net::TcpListener,
) -> Result<Running> {
    let key = SessionKey::new(config.repo_root.clone(), &config.id);
    let paths = SessionPaths {
        registry: state_dir.registry_path(&key),
        exit: state_dir.exit_path(&key),
        output: state_dir.output_path(&key),
        events: state_dir.events_path(&key),
    };
    let port = listener
        .local_addr()
        .map_err(|e| Error::failed(format!("cannot read the API address: {e}")))?
        .port();
    // Before the agent starts drawing: said later, it would land in the middle of the agent's
    // screen (and throw off a shell's line editor, which thinks its cursor is elsewhere).
    let host = crate::registry::url_host(&config.host.to_string());
    crate::warn!("harnex: session {} on {host}:{port}", config.id);
    let transcript_dropped = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let transcript = transcript::Transcript::open(
        &paths.output,
        config.transcript_max,
        Arc::clone(&transcript_dropped),
    )
    .map_err(|e| Error::failed(format!("cannot open {}: {e}", paths.output.display())))?;
    let events = EventLog::open(&paths.events, &config.id, &config.session_id)?;

    let foreground = config.mode.has_terminal();
    let (cols, rows) = config.size;
    // Orphans of the agent's tree (background jobs, daemons, `setsid` grandchildren) come to us,
    // not to pid 1, so the end of the session can find and end them.
    if let Err(e) = crate::sweep::become_subreaper() {
        let _ = writeln!(
            std::io::stderr(),
            "harnex: cannot adopt the agent's orphans ({e}); processes it leaves may outlive the session"
        );
    }
    // From this thread, which lives as long as the session: the agent dies with it.
    let spawned = pty::spawn(
        &config.command,
        &config.cwd,
        &child_env(&config),
        rows,
        cols,
    )?;
    let child_pid = spawned.pid;

    let (writer_tx, writer_rx) = mpsc::channel::<WriteRequest>();
    let (monitor_tx, monitor_rx) = mpsc::sync_channel::<MonitorMsg>(1024);
    let inbox = inbox::Inbox::new(config.inbox_ttl);

    let session = Arc::new(Session {
        adapter,
        shared: Shared::new(Live::new(inbox)),
        events,
        state_dir,
        paths,
        port,
        child_pid,
        writer: writer_tx.clone(),
        monitor: monitor_tx.clone(),
        delivery_lock: Mutex::new(()),
        keyboard: keyboard::Keyboard::new(writer_tx.clone()),
        git_start: crate::telemetry::git::capture_start(&config.repo_root),
        api_in_flight: std::sync::atomic::AtomicUsize::new(0),
        transcript_dropped,
        registry_removed: Mutex::new(false),
        config,
    });

    session.events.emit(&Event::Started {
        pid: child_pid,
        cli: session.config.cli.clone(),
        // Verbatim, except for values that look like secrets.
        meta: session.config.meta.clone().map(|mut meta| {
            meta.values_mut().for_each(crate::redact::redact_value);
            meta
        }),
        parent: std::env::var("HARNEX_ID").ok(),
    });
    if let Some(git) = &session.git_start {
        session.events.emit(&Event::Git(GitRow::start(git)));
    }

    // A real terminal answers the agent's queries in the foreground; headless, we must.
    let stdout_is_tty = terminal::is_terminal(std::os::fd::AsFd::as_fd(&std::io::stdout()));
    let screen = screen::Screen::new(rows, cols, !(foreground && stdout_is_tty));
    let echo = foreground.then(std::io::stdout);

    std::thread::Builder::new()
        .name("pty-writer".into())
        .spawn(move || pty::write_loop(spawned.writer, writer_rx))
        .map_err(|e| Error::failed(format!("cannot start a thread: {e}")))?;
    let reader = spawned.reader;
    let reader_monitor = monitor_tx.clone();
    let health = Arc::clone(session.events.health());
    spawn_thread("pty-reader", move || {
        pty::read_loop(reader, transcript, echo, reader_monitor, health)
    })?;
    let s = Arc::clone(&session);
    spawn_thread("monitor", move || monitor::run(s, monitor_rx, screen))?;
    let s = Arc::clone(&session);
    spawn_thread("child-waiter", move || {
        let exit = pty::wait_child(child_pid);
        s.shared.update(|live| live.exit = Some(exit));
    })?;
    let s = Arc::clone(&session);
    spawn_thread("inbox", move || delivery::inbox_loop(s))?;
    let api = api_server::ApiServer::start(Arc::clone(&session), listener)?;

    let master = Arc::new(Mutex::new(spawned.master));
    let raw = if foreground {
        let s = Arc::clone(&session);
        spawn_thread("stdin", move || terminal::forward_stdin(&s.keyboard))?;
        terminal::RawMode::enable_on_stdin()
    } else {
        None
    };
    spawn_signal_thread(&session, &master)?;

    if let Some(path) = session.config.watch_file.clone() {
        let s = Arc::clone(&session);
        spawn_thread("file-hook", move || file_hook::watch(s, path))?;
    }
    session.refresh_registry();
    let s = Arc::clone(&session);
    spawn_thread("registry-keeper", move || keep_registry(&s))?;
    if let Some(context) = &session.config.context {
        let text = format!("[harnex session id={}] {context}", session.config.id);
        let payload = inbox::Payload {
            text,
            submit: true,
            enter_only: false,
            force: false,
        };
        session.shared.update(|live| {
            let _ = live
                .inbox
                .enqueue(payload, Some(Duration::MAX), Instant::now());
        });
    }
    Ok(Running {
        session,
        api,
        _master: master,
        _raw: raw,
    })
}

/// How often the supervisor checks that its registry entry is still there and readable.
const REGISTRY_CHECK: Duration = Duration::from_secs(2);

/// Rewrite the registry entry when it was damaged or deleted (clients need its port and token),
/// until the agent exits. One small file read every couple of seconds; a plain sleep, so the
/// agent's output does not wake this thread.
fn keep_registry(session: &Session) {
    loop {
        std::thread::sleep(REGISTRY_CHECK);
        if session.shared.lock().exit.is_some() {
            return;
        }
        if !session.registry_intact() {
            session.refresh_registry();
        }
    }
}

fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(|_| ())
        .map_err(|e| Error::failed(format!("cannot start the {name} thread: {e}")))
}

/// SIGWINCH resizes the PTY and screen; SIGTERM/SIGINT/SIGHUP end the agent (so records get
/// written) instead of killing the supervisor outright, each one a rung further up the stop
/// ladder; SIGCHLD has the reaper collect adopted orphans that exited.
fn spawn_signal_thread(
    session: &Arc<Session>,
    master: &Arc<Mutex<Box<dyn portable_pty::MasterPty + Send>>>,
) -> Result<()> {
    use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGWINCH};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGWINCH, SIGTERM, SIGINT, SIGHUP, SIGCHLD])
            .map_err(|e| Error::failed(format!("cannot install signal handlers: {e}")))?;
    let session = Arc::clone(session);
    let master = Arc::clone(master);
    // Adopted orphans that exit are reaped off this thread (reaping waits for them to settle).
    let (reap_tx, reap_rx) = mpsc::sync_channel::<()>(1);
    let agent = session.child_pid;
    spawn_thread("reaper", move || {
        while reap_rx.recv().is_ok() {
            crate::sweep::reap_adopted_zombies(agent, Duration::from_secs(1));
        }
    })?;
    spawn_thread("signals", move || {
        for signal in signals.forever() {
            if signal == SIGCHLD {
                let _ = reap_tx.try_send(());
                continue;
            }
            if signal == SIGWINCH {
                if session.config.mode.has_terminal()
                    && let Some((rows, cols)) = terminal::size()
                {
                    if let Ok(master) = master.lock() {
                        let _ = master.resize(pty::pty_size(rows, cols));
                    }
                    let _ = session.monitor.send(MonitorMsg::Resize { rows, cols });
                }
                continue;
            }
            // The first signal terminates the agent, a repeated one kills it.
            stop::escalate_on_signal(&session);
        }
    })
}

/// The environment the agent gets on top of ours.
fn child_env(config: &SessionConfig) -> Vec<(String, String)> {
    let mut env = vec![
        ("HARNEX_SESSION_ID".into(), config.session_id.clone()),
        (
            "HARNEX_SESSION_CLI".into(),
            crate::adapters::cli_name(&config.cli),
        ),
        ("HARNEX_ID".into(), config.id.clone()),
        (
            "HARNEX_SESSION_REPO_ROOT".into(),
            config.repo_root.display().to_string(),
        ),
    ];
    if let Some(description) = &config.description {
        env.push(("HARNEX_DESCRIPTION".into(), description.clone()));
    }
    if let Ok(pane) = std::env::var("TMUX_PANE")
        && !pane.is_empty()
    {
        env.push(("HARNEX_SPAWNER_PANE".into(), pane));
    }
    // TUIs need a capable terminal type; a detached harnex may have none.
    let term = std::env::var("TERM").unwrap_or_default();
    if term.is_empty() || term == "dumb" {
        env.push(("TERM".into(), "xterm-256color".into()));
    }
    env
}

/// After the agent exited: let the last output through, record the exit, clean up.
fn finish(running: Running, exit: ChildExit) -> Result<i32> {
    let session = running.session;
    // Nothing the agent started outlives the session: its background jobs and `setsid`
    // grandchildren (ours as their subreaper) end here, which also closes the terminal they held.
    let swept = crate::sweep::kill_descendants(session.child_pid);
    // Only into a detached supervisor's log: in the foreground, stderr is the person's terminal.
    if !swept.is_empty() && session.config.mode == Mode::Headless {
        let _ = writeln!(
            std::io::stderr(),
            "harnex: ended {} process(es) the agent left behind: {swept:?}",
            swept.len()
        );
    }
    // Output still in the PTY arrives after the exit; give it a moment (a grandchild holding the
    // terminal open must not keep us here).
    session
        .shared
        .wait_for(Some(Instant::now() + Duration::from_millis(500)), |live| {
            live.output_closed.then_some(())
        });
    ending::record_end(&session, exit);
    session.remove_registry();
    session.shared.update(|live| {
        live.inbox
            .fail_pending("the session ended before the message was delivered")
    });
    // Wake long-polls so they answer with the final state, and let answers in flight reach their
    // clients before the server and the process go.
    session.shared.update(|_| ());
    let deadline = Instant::now() + Duration::from_secs(2);
    while session
        .api_in_flight
        .load(std::sync::atomic::Ordering::SeqCst)
        > 0
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    running.api.shutdown();
    let _ = session.monitor.send(MonitorMsg::Shutdown);
    drop(running._raw);
    Ok(exit.code)
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
