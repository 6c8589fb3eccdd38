//! The outer shell around the session core: opens the agent's PTY, starts the threads (PTY
//! reader and writer, monitor, child waiter, inbox delivery, API, signals, reaper, registry
//! keeper, stdin forwarder in the foreground), waits for the agent to exit, then ends the session.
//! Everything here touches the operating system; the decisions live in the core's modules.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::clock::RealClock;
use super::core::CoreParts;
use super::live::ChildExit;
use super::monitor::MonitorMsg;
use super::pty::WriteRequest;
use super::{
    Mode, Session, SessionConfig, SessionPaths, api_server, delivery, ending, file_hook, inbox,
    monitor, pty, record_feed, registry_writer, screen, stop, terminal, transcript,
};
use crate::adapters::Adapter;
use crate::error::{Error, Result};
use crate::events::EventLog;
use crate::paths::{SessionKey, StateDir};
use crate::wire::events::{Event, GitRow};

/// Everything the main thread holds on to while the session runs.
struct Running {
    session: Arc<Session>,
    api: api_server::ApiServer,
    _master: Arc<pty::Master>,
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
        .wait_for(None, |live| live.exit())
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
    let host = crate::registry::url_host(&config.options.host.to_string());
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
    // Watching for the agent's records starts before the agent does, so no write is missed.
    let (records_finder, records_problem) = match record_feed::Finder::prepare(&config.records) {
        Ok(finder) => (finder, None),
        Err(why) => (None, Some(why)),
    };
    // From this thread, which lives as long as the session: the agent dies with it.
    let spawned = pty::spawn(
        &config.command,
        &config.cwd,
        &child_env(&config, adapter.as_ref()),
        rows,
        cols,
    )?;
    let child_pid = spawned.pid;

    let (writer_tx, writer_rx) = mpsc::channel::<WriteRequest>();
    let (monitor_tx, monitor_rx) = mpsc::sync_channel::<MonitorMsg>(1024);
    let git_start = crate::telemetry::git::capture_start(&config.repo_root);
    let session = Arc::new(Session::new(CoreParts {
        adapter,
        events,
        state_dir,
        paths,
        port,
        child_pid,
        writer: writer_tx,
        monitor: monitor_tx.clone(),
        clock: Arc::new(RealClock),
        signal: Box::new(move |signals| stop::signal_agent(child_pid, signals)),
        git_start,
        transcript_dropped,
        config,
    }));

    let attribution = session.config.options.attribution.clone();
    session.events.emit(&Event::Started {
        pid: child_pid,
        cli: session.config.cli.clone(),
        // Verbatim, except for values that look like secrets.
        meta: session.config.options.meta.clone().map(|mut meta| {
            meta.values_mut().for_each(crate::redact::redact_value);
            meta
        }),
        parent: attribution.parent,
        parent_session_id: attribution.parent_session_id,
        root: attribution.root,
        root_session_id: attribution.root_session_id,
        tags: attribution
            .tags
            .into_iter()
            .map(|(key, value)| (key, crate::redact::redact(&value)))
            .collect(),
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
        s.shared
            .update(|live| live.lifecycle = live.lifecycle.exited(exit));
    })?;
    let s = Arc::clone(&session);
    spawn_thread("inbox", move || delivery::inbox_loop(s))?;
    match (records_finder, records_problem) {
        (Some(finder), _) => {
            let s = Arc::clone(&session);
            spawn_thread("records", move || record_feed::run(s, finder))?;
        }
        (None, Some(why)) => {
            session.shared.update(|live| {
                let _ = live.ledger.unavailable(why);
                live.records_done = true;
            });
        }
        (None, None) => session.shared.update(|live| live.records_done = true),
    }
    let api = api_server::ApiServer::start(Arc::clone(&session), listener)?;

    let master = Arc::new(spawned.master);
    let raw = if foreground {
        let s = Arc::clone(&session);
        spawn_thread("stdin", move || terminal::forward_stdin(&s.keyboard))?;
        terminal::RawMode::enable_on_stdin()
    } else {
        None
    };
    spawn_signal_thread(&session, &master)?;

    if let Some(path) = session.config.options.watch_file.clone() {
        let s = Arc::clone(&session);
        spawn_thread("file-hook", move || file_hook::watch(s, path))?;
    }
    session.refresh_registry();
    let s = Arc::clone(&session);
    spawn_thread("registry-writer", move || registry_writer::run(s))?;
    let s = Arc::clone(&session);
    spawn_thread("registry-keeper", move || keep_registry(&s))?;
    if let Some(context) = &session.config.options.context {
        let text = format!("[harnex session id={}] {context}", session.config.id);
        let payload = inbox::Payload::text(&text);
        session.shared.update(|live| {
            let now = session.clock().now();
            let _ = live.inbox.enqueue(payload, Some(Duration::MAX), now);
        });
    }
    if session.config.options.auto_stop {
        let s = Arc::clone(&session);
        spawn_thread("auto-stop", move || auto_stop(&s))?;
    }
    Ok(Running {
        session,
        api,
        _master: master,
        _raw: raw,
    })
}

/// `run --auto-stop`: once the first turn (the `--context`) is completed — seen busy, then back
/// at the prompt, so the prompt drawn before it started does not count — stop the agent as
/// `harnex stop` would. Once only; nothing if the agent ends first.
fn auto_stop(session: &Arc<Session>) {
    let first_done = session
        .shared
        .wait_for(None, |live| {
            if live.exit().is_some() || live.lifecycle.stop_requested() {
                return Some(false);
            }
            (live.turns.completed >= 1).then_some(true)
        })
        .unwrap_or(false);
    if first_done {
        super::stop::request_stop(
            session,
            super::stop::StopRequest {
                force: false,
                grace: super::stop::DEFAULT_GRACE,
            },
        );
    }
}

/// How often the supervisor checks that its registry entry is still there and readable.
const REGISTRY_CHECK: Duration = Duration::from_secs(2);

/// Rewrite the registry entry when it was damaged or deleted (clients need its port and token),
/// until the agent exits. One small file read every couple of seconds; a plain sleep, so the
/// agent's output does not wake this thread.
fn keep_registry(session: &Session) {
    loop {
        std::thread::sleep(REGISTRY_CHECK);
        if session.shared.lock().exit().is_some() {
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
fn spawn_signal_thread(session: &Arc<Session>, master: &Arc<pty::Master>) -> Result<()> {
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
                    let _ = master.resize(rows, cols);
                    let _ = session.monitor.send(MonitorMsg::Resize { rows, cols });
                    // The registry says the size, for `logs --plain` to render at.
                    session.shared.lock().resized_to = Some((cols, rows));
                    session.refresh_registry();
                }
                continue;
            }
            // The first signal terminates the agent, a repeated one kills it.
            stop::escalate_on_signal(&session);
        }
    })
}

/// The environment the agent gets on top of ours.
fn child_env(config: &SessionConfig, adapter: &dyn Adapter) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = adapter
        .agent_env()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.extend(vec![
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
    ]);
    env.extend(
        config
            .options
            .attribution
            .child_env(&config.id, &config.session_id),
    );
    if let Some(description) = &config.options.description {
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
    session.shared.wait_for(
        Some(session.clock().now() + Duration::from_millis(500)),
        |live| live.output_closed.then_some(()),
    );
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
