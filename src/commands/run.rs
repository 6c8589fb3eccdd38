//! `harnex run <cli>`: check everything, then supervise in the foreground, or re-exec a detached
//! supervisor (setsid, stdio to `logs/<id>.log`) or a supervisor in a new tmux window, and report
//! once it is up.
//!
//! A tmux window's process is started by the tmux server, with the server's environment, not
//! ours. So `--tmux` writes our environment to a 0600 file in the state dir and the supervisor in
//! the window loads it first thing (and deletes it): every variable the agent needs (API keys,
//! PATH, HARNEX_*) arrives, none of it shows in a process's argv (as `new-window -e` would), and
//! nothing is left behind in the server's global environment.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value, json};

use crate::adapters::{self, Adapter};
use crate::cli::RunArgs;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::paths::{self, SessionKey, StateDir};
use crate::registry;
use crate::session::{self, Mode, SessionConfig};
use crate::session_lock::{self, Probe, SessionLock};
use crate::tmux;

const DEFAULT_SIZE: (u16, u16) = (120, 40);
const DEFAULT_DETACH_TIMEOUT: Duration = Duration::from_secs(5);
/// How often to look for a starting session's registry entry.
const POLL: Duration = Duration::from_millis(20);

pub fn run(args: RunArgs) -> Result<i32> {
    if args.watch && !args.headless {
        return crate::watch::run(&args);
    }
    if args.preset.is_some() {
        crate::watch::policy(&args)?;
    }
    // In a window `run --tmux` opened: learn our pane while $TMUX_PANE is still the window's own,
    // then take on the caller's environment.
    let pane = if args.tmux_child {
        Some(tmux_child_pane()?)
    } else {
        None
    };
    if let Some(path) = &args.env_file {
        load_caller_env(path)?;
    }
    let state = StateDir::from_env()?;
    let adapter = adapters::for_cli(&args.cli);
    let plan = plan(&args, adapter.as_ref(), &state)?;
    if let Some(window) = args.tmux_window()
        && !args.tmux_child
    {
        return dispatch_tmux(&args, &plan, &state, window);
    }
    if args.detach && !args.headless {
        return detach(&args, &plan, &state);
    }
    // This process is the supervisor: hold the session lock for its whole life.
    let lock = claim_session(&state, &plan)?;
    let listener = bind(&plan, &args)?;
    let mode = if args.headless {
        Mode::Headless
    } else if pane.is_some() {
        Mode::Tmux
    } else {
        Mode::Foreground
    };
    let size = match mode {
        Mode::Foreground | Mode::Tmux => crate::session::terminal::size()
            .map(|(rows, cols)| (cols, rows))
            .or(args.size)
            .unwrap_or(DEFAULT_SIZE),
        Mode::Headless => args.size.unwrap_or(DEFAULT_SIZE),
    };
    let config = SessionConfig {
        id: plan.id.clone(),
        cli: args.cli.clone(),
        command: plan.command.clone(),
        repo_root: plan.repo_root.clone(),
        cwd: plan.cwd.clone(),
        description: args.description.clone(),
        host: plan.host,
        port: args.port,
        context: args.context.clone(),
        inbox_ttl: plan.inbox_ttl,
        meta: plan.meta.clone(),
        summary_out: plan.summary_out.clone(),
        watch_file: args.watch_file.as_ref().map(|p| {
            if p.is_absolute() {
                p.clone()
            } else {
                plan.cwd.join(p)
            }
        }),
        size,
        mode,
        tmux: pane.clone(),
        session_id: crate::ids::random_hex(8),
        token: crate::ids::token()?,
        started_at: SystemTime::now(),
        transcript_max: plan.transcript_max,
    };
    let code = session::run(config, adapter, state.clone(), listener)?;
    lock.release();
    if let Some(pane) = &pane {
        release_pane(&state, &plan, pane, code);
    }
    Err(Error::Exit(code))
}

/// What `run` checked and decided before starting anything.
struct Plan {
    id: String,
    command: Vec<String>,
    repo_root: PathBuf,
    cwd: PathBuf,
    host: IpAddr,
    inbox_ttl: Duration,
    meta: Option<Map<String, Value>>,
    summary_out: Option<PathBuf>,
    transcript_max: Option<u64>,
}

fn plan(args: &RunArgs, adapter: &dyn Adapter, state: &StateDir) -> Result<Plan> {
    let wanted_id = args.id.as_deref().map(paths::normalize_id).transpose()?;
    let meta = args.meta.as_deref().map(parse_meta).transpose()?;
    let host = parse_host(args.host.as_deref())?;
    let transcript_max = session::transcript::max_from_env().map_err(Error::usage)?;
    let inbox_ttl = match args.inbox_ttl {
        Some(ttl) => ttl,
        None => env_ttl()?,
    };
    if args.cli.trim().is_empty() {
        return Err(Error::usage(
            "<CLI> must not be empty: try `harnex run bash`",
        ));
    }
    let command = adapter.command(&args.cli, &args.agent_args);
    if session::pty::find_program(&command[0]).is_none() {
        return Err(Error::failed(format!(
            "{:?} was not found on PATH; install it or pass the full path to the program",
            command[0]
        )));
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::failed(format!("cannot read the current directory: {e}")))?;
    let work_dir = adapter
        .repo_dir(&args.agent_args)
        .map(|d| if d.is_absolute() { d } else { cwd.join(d) })
        .unwrap_or_else(|| cwd.clone());
    let repo_root = paths::repo_root_of(&work_dir);
    state.ensure()?;
    let live = registry::live_entries(state);
    let id = match wanted_id {
        Some(id) => id,
        None => {
            let taken: Vec<String> = live
                .iter()
                .filter(|e| e.repo_root == repo_root)
                .map(|e| e.id.clone())
                .collect();
            crate::ids::generate_id(&taken)
        }
    };
    let key = SessionKey::new(repo_root.clone(), &id);
    if let Some(active) = live.iter().find(|e| e.key().slug() == key.slug()) {
        return Err(Error::failed(format!(
            "session {:?} is already active in {} (pid {}); stop it with `harnex stop --id {}` or pick another --id",
            active.id,
            repo_root.display(),
            active.pid,
            active.id
        )));
    }
    // The lock answers even when the entry is damaged or missing.
    if session_lock::probe(&session_lock::lock_path(state, &key)) == Probe::Held {
        return Err(already_running(state, &key));
    }
    let summary_out = args
        .summary_out
        .as_ref()
        .map(|p| resolve_against(&repo_root, p))
        .or_else(|| default_summary_out(&repo_root));
    Ok(Plan {
        id,
        command,
        repo_root,
        cwd,
        host,
        inbox_ttl,
        meta,
        summary_out,
        transcript_max,
    })
}

/// Take the session lock for this supervisor, or refuse: another supervisor of the same id is
/// alive. With the lock held, a run the slot still names (crashed) is settled first.
fn claim_session(state: &StateDir, plan: &Plan) -> Result<SessionLock> {
    let key = SessionKey::new(plan.repo_root.clone(), &plan.id);
    let path = session_lock::lock_path(state, &key);
    match SessionLock::acquire(&path, Duration::from_millis(500)) {
        Ok(Some(lock)) => {
            crate::crash::claim_slot(state, &state.registry_path(&key));
            Ok(lock)
        }
        Ok(None) => Err(already_running(state, &key)),
        Err(e) => Err(Error::failed(format!(
            "cannot take the session lock {}: {e}",
            path.display()
        ))),
    }
}

fn already_running(state: &StateDir, key: &SessionKey) -> Error {
    let entry = state.registry_path(key);
    let damaged = match registry::parse_entry(&entry) {
        Ok(_) => String::new(),
        Err(_) => format!(
            " (its registry entry {} is damaged or missing; the supervisor rewrites it)",
            entry.display()
        ),
    };
    Error::failed(format!(
        "session {:?} is already active in {}{damaged}; stop it with `harnex stop --id {}` or pick another --id",
        key.id,
        key.repo_root.display(),
        key.id
    ))
}

pub fn parse_meta(text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::usage(
            "--meta must be a JSON object, e.g. --meta '{\"issue\":\"12\"}'",
        )),
        Err(e) => Err(Error::usage(format!(
            "--meta must be valid JSON ({e}), e.g. --meta '{{\"issue\":\"12\"}}'"
        ))),
    }
}

/// The API host: loopback only.
pub fn parse_host(host: Option<&str>) -> Result<IpAddr> {
    let env_host = std::env::var("HARNEX_HOST").ok().filter(|h| !h.is_empty());
    let text = host
        .map(str::to_string)
        .or(env_host)
        .unwrap_or_else(|| "127.0.0.1".into());
    let addr: IpAddr = match text.as_str() {
        "localhost" => IpAddr::from([127, 0, 0, 1]),
        other => other.trim_matches(['[', ']']).parse().map_err(|_| {
            Error::usage(format!(
                "--host {other:?} is not an IP address; use 127.0.0.1 or ::1"
            ))
        })?,
    };
    if !addr.is_loopback() {
        return Err(Error::usage(format!(
            "--host {addr} is not a loopback address: harnex serves its API on loopback only (127.0.0.1 or ::1)"
        )));
    }
    Ok(addr)
}

fn env_ttl() -> Result<Duration> {
    match std::env::var("HARNEX_INBOX_TTL") {
        Ok(v) if !v.trim().is_empty() => crate::cli::parse_positive_duration(&v)
            .map_err(|e| Error::usage(format!("HARNEX_INBOX_TTL: {e}"))),
        _ => Ok(session::inbox::DEFAULT_TTL),
    }
}

fn resolve_against(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// `<repo>/koder/DISPATCH.jsonl`, only when `koder/` exists.
pub fn default_summary_out(repo_root: &Path) -> Option<PathBuf> {
    let koder = repo_root.join("koder");
    koder.is_dir().then(|| koder.join("DISPATCH.jsonl"))
}

fn bind(plan: &Plan, args: &RunArgs) -> Result<std::net::TcpListener> {
    match args.port {
        Some(port) => std::net::TcpListener::bind((plan.host, port)).map_err(|e| {
            Error::failed(format!(
                "port {port} is not available ({e}); pick another --port or leave it out to get a free one"
            ))
        }),
        None => crate::ports::bind_first_free(
            plan.host,
            crate::ports::candidates(&plan.repo_root, &plan.id),
        )
        .map_err(|e| Error::failed(format!("no free port for the API ({e}); pass --port"))),
    }
}

/// Start a headless supervisor in its own session and report once the agent is up.
fn detach(args: &RunArgs, plan: &Plan, state: &StateDir) -> Result<i32> {
    if let Some(port) = args.port {
        // Check now: the child would only find out after we returned.
        drop(bind(plan, args).map_err(|_| {
            Error::failed(format!(
                "port {port} is not available; pick another --port or leave it out to get a free one"
            ))
        })?);
    }
    let key = SessionKey::new(plan.repo_root.clone(), &plan.id);
    let log_path = state.supervisor_log_path(&key);
    let log = paths::open_append(&log_path)?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::failed(format!("cannot open {}: {e}", log_path.display())))?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::failed(format!("cannot find the harnex binary: {e}")))?;
    let mut command = Command::new(exe);
    command
        .args(child_args(&plan.id, &["--headless"]))
        // A session of its own: a sweep of the session this command runs in leaves it alone.
        .env(crate::sweep::DETACHED_SUPERVISOR_ENV, "1")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let spawned_at = SystemTime::now();
    let mut child = command
        .spawn()
        .map_err(|e| Error::failed(format!("cannot start the detached supervisor: {e}")))?;
    let timeout = args.timeout.unwrap_or(DEFAULT_DETACH_TIMEOUT);
    let deadline = crate::time::deadline_after(timeout);
    let registry_path = state.registry_path(&key);

    // 1. The supervisor registers (or dies trying).
    let entry = loop {
        if let Some(entry) = registry::read_entry(&registry_path) {
            break entry;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(boot_failure(
                state,
                &key,
                &log_path,
                status.code(),
                spawned_at,
            ));
        }
        if Instant::now() >= deadline {
            // Nobody could reach a session that never registered: stop it rather than leave it
            // running unseen.
            let fate = stop_unregistered(&mut child);
            crate::warn!(
                "harnex: detached session {} did not register within {}s; {fate}; see {} (a slow agent may need a longer --timeout)",
                plan.id,
                timeout.as_secs_f64(),
                log_path.display()
            );
            return Err(Error::Exit(124));
        }
        std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    };
    // 2. The agent shows its first prompt or dialog, exits, or is still starting at the deadline.
    let client = Client::for_entry(&entry);
    let remaining = deadline.saturating_duration_since(Instant::now());
    let waited = client.wait("ready", None, remaining);
    let agent_state = match &waited {
        Ok(body) => body["state"].as_str().unwrap_or("starting").to_string(),
        Err(_) => "exited".to_string(),
    };
    if agent_state == "exited" {
        let _ = child.wait();
        return Err(boot_failure(state, &key, &log_path, None, spawned_at));
    }
    print_started(
        args,
        &entry,
        &agent_state,
        json!({"mode": "headless", "log": log_path}),
    );
    Ok(0)
}

/// How long a detached supervisor that missed its deadline gets to stop after SIGTERM (its stop
/// ladder ends the agent and writes the exit record) before its process group is killed.
const UNREGISTERED_STOP_GRACE: Duration = Duration::from_secs(5);

/// Stop a detached supervisor that did not register in time, and say what became of it.
fn stop_unregistered(child: &mut std::process::Child) -> String {
    use nix::sys::signal::{Signal, kill, killpg};
    use nix::unistd::Pid;
    let Ok(raw) = i32::try_from(child.id()) else {
        return "it could not be stopped".to_string();
    };
    let pid = Pid::from_raw(raw);
    let _ = kill(pid, Signal::SIGTERM);
    let give_up = Instant::now() + UNREGISTERED_STOP_GRACE;
    while Instant::now() < give_up {
        if let Ok(Some(_)) = child.try_wait() {
            return "it was stopped".to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // It is a session leader (setsid): its group is it and whatever it started there.
    let _ = killpg(pid, Signal::SIGKILL);
    match child.wait() {
        Ok(_) => "it was killed (it did not stop on SIGTERM)".to_string(),
        Err(_) => format!("it could not be stopped (pid {raw}): kill it yourself"),
    }
}

/// The Ruby-compatible JSON line of a started session, with the mode's own fields.
fn print_started(
    args: &RunArgs,
    entry: &registry::RegistryEntry,
    agent_state: &str,
    mode_fields: Value,
) {
    let mut line = json!({
        "ok": true,
        "id": entry.id,
        "cli": args.cli,
        "pid": entry.pid,
        "port": entry.port,
        "output_log_path": entry.output_log_path,
        "agent_state": agent_state,
    });
    if let (Value::Object(line), Value::Object(extra)) = (&mut line, mode_fields) {
        line.extend(extra);
    }
    if let Some(description) = &args.description {
        line["description"] = json!(description);
    }
    println!("{line}");
}

/// Our own argv for a child supervisor: the same options, without `--detach` and `--tmux`, with
/// the id fixed and `added` (e.g. `--headless`) after `run`.
fn child_args(id: &str, added: &[&str]) -> Vec<String> {
    rewrite_args(std::env::args().skip(1).collect(), id, added)
}

fn rewrite_args(argv: Vec<String>, id: &str, added: &[&str]) -> Vec<String> {
    let split = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
    let (ours, agent) = argv.split_at(split);
    let run_at = ours.iter().position(|a| a == "run").unwrap_or(0);
    let mut out: Vec<String> = Vec::new();
    let mut skip_value = false;
    for (i, arg) in ours.iter().enumerate() {
        if skip_value {
            skip_value = false;
            continue;
        }
        if arg == "--detach" || arg.starts_with("--tmux=") || arg.starts_with("--tmux-name=") {
            continue;
        }
        if arg == "--tmux" {
            // Its optional NAME is the next word when that is not an option (as clap parsed it).
            skip_value = ours.get(i + 1).is_some_and(|next| !next.starts_with('-'));
            continue;
        }
        if arg == "--tmux-name" {
            skip_value = true;
            continue;
        }
        if arg == "--id" {
            skip_value = true;
            continue;
        }
        if arg.starts_with("--id=") {
            continue;
        }
        out.push(arg.clone());
        if i == run_at {
            out.extend(added.iter().map(|a| a.to_string()));
            out.extend(["--id".to_string(), id.to_string()]);
        }
    }
    out.extend(agent.iter().cloned());
    out
}

/// Start the foreground supervisor in a new tmux window and report once the agent is up.
fn dispatch_tmux(
    args: &RunArgs,
    plan: &Plan,
    state: &StateDir,
    window: Option<String>,
) -> Result<i32> {
    if !tmux::installed() {
        return Err(Error::failed(
            "tmux is not installed (`tmux -V` failed): install tmux, or run the session headless with --detach",
        ));
    }
    let name = window.unwrap_or_else(|| plan.id.clone());
    if name.trim().is_empty() {
        return Err(Error::usage("--tmux NAME must not be empty"));
    }
    if let Some(port) = args.port {
        drop(bind(plan, args).map_err(|_| {
            Error::failed(format!(
                "port {port} is not available; pick another --port or leave it out to get a free one"
            ))
        })?);
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::failed(format!("cannot find the harnex binary: {e}")))?;
    let env_file = write_caller_env(state, &plan.id)?;
    let env_arg = env_file.to_string_lossy().into_owned();
    let mut argv = vec![exe.to_string_lossy().into_owned()];
    argv.extend(child_args(
        &plan.id,
        &["--tmux-child", "--env-file", env_arg.as_str()],
    ));
    let dispatched_at = SystemTime::now();
    let placement = tmux::Placement::from_env();
    let pane = match tmux::new_window(&placement, &name, &plan.cwd, &argv) {
        Ok(pane) => pane,
        Err(e) => {
            let _ = std::fs::remove_file(&env_file);
            return Err(e);
        }
    };
    let outcome = wait_for_tmux_session(args, plan, state, &pane, dispatched_at);
    // Read by the supervisor at once; if it never started, do not leave the environment behind.
    let _ = std::fs::remove_file(&env_file);
    let (entry, agent_state) = outcome?;
    let session_name = entry.extra.get("tmux_session").and_then(Value::as_str);
    let window_name = entry.extra.get("tmux_window").and_then(Value::as_str);
    print_started(
        args,
        &entry,
        &agent_state,
        json!({"mode": "tmux", "window": window_name.unwrap_or(&name), "pane": pane,
            "tmux_session": session_name}),
    );
    Ok(0)
}

/// Until the supervisor in `pane` registers and its agent is ready (or dies, or time runs out).
fn wait_for_tmux_session(
    args: &RunArgs,
    plan: &Plan,
    state: &StateDir,
    pane: &str,
    dispatched_at: SystemTime,
) -> Result<(registry::RegistryEntry, String)> {
    let timeout = args.timeout.unwrap_or(DEFAULT_DETACH_TIMEOUT);
    let deadline = crate::time::deadline_after(timeout);
    let key = SessionKey::new(plan.repo_root.clone(), &plan.id);
    let registry_path = state.registry_path(&key);
    let entry = loop {
        if let Some(entry) = registry::read_entry(&registry_path) {
            break entry;
        }
        if tmux::pane_life(None, pane) != tmux::PaneLife::Alive {
            return Err(tmux_boot_failure(state, &key, pane, dispatched_at));
        }
        if Instant::now() >= deadline {
            crate::warn!(
                "harnex: session {} in tmux pane {pane} did not register within {}s; it is left running in that window: look at it (`tmux capture-pane -p -t {pane}`; `harnex pane` needs a registered session) and close it with `tmux kill-pane -t {pane}`",
                plan.id,
                timeout.as_secs_f64(),
            );
            return Err(Error::Exit(124));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let client = Client::for_entry(&entry);
    let remaining = deadline.saturating_duration_since(Instant::now());
    let agent_state = match client.wait("ready", None, remaining) {
        Ok(body) => body["state"].as_str().unwrap_or("starting").to_string(),
        Err(_) => "exited".to_string(),
    };
    if agent_state == "exited" {
        return Err(tmux_boot_failure(state, &key, pane, dispatched_at));
    }
    Ok((entry, agent_state))
}

/// The session in `pane` ended before it was ready: the agent's exit code and last lines, or
/// what the pane shows when the supervisor itself failed.
fn tmux_boot_failure(
    state: &StateDir,
    key: &SessionKey,
    pane: &str,
    dispatched_at: SystemTime,
) -> Error {
    // The supervisor writes the exit record, then exits; give it a moment to get there.
    let settle = Instant::now() + Duration::from_secs(3);
    while tmux::pane_life(None, pane) == tmux::PaneLife::Alive && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(20));
    }
    let life = tmux::pane_life(None, pane);
    let keeps = match life {
        tmux::PaneLife::Gone => String::new(),
        _ => format!(
            "\nThe tmux window stays open with its last screen; close it with `tmux kill-pane -t {pane}`."
        ),
    };
    let record = registry::read_exit(state, key).filter(|_| {
        std::fs::metadata(state.exit_path(key))
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= dispatched_at)
    });
    if let Some(record) = record {
        let tail = session::transcript_tail(&state.output_path(key), 4096);
        let lines = last_lines(&crate::text::strip_ansi(&tail), 10);
        return Error::failed(format!(
            "agent {} exited with code {} during start-up{}{keeps}",
            record.cli,
            record.exit_code_text(),
            if lines.is_empty() {
                String::new()
            } else {
                format!("; its last output:\n{lines}")
            }
        ));
    }
    let screen = tmux::capture(None, pane, None)
        .map(|text| last_lines(&text, 15))
        .unwrap_or_default();
    let status = match life {
        tmux::PaneLife::Dead(Some(code)) => format!(" with status {code}"),
        _ => String::new(),
    };
    if matches!(life, tmux::PaneLife::Gone) {
        return Error::failed(format!(
            "the tmux window of the session (pane {pane}) closed before the session started"
        ));
    }
    Error::failed(format!(
        "the harnex supervisor in tmux pane {pane} exited{status} before the session started; the pane shows:\n{screen}{keeps}"
    ))
}

/// In the window `run --tmux` opened: which pane we are (from the window's own `$TMUX` and
/// `$TMUX_PANE`), and keep the pane open if we exit before the agent is ready, so the error
/// stays readable.
fn tmux_child_pane() -> Result<tmux::Pane> {
    let target = std::env::var("TMUX_PANE").unwrap_or_default();
    if target.is_empty() {
        return Err(Error::usage(
            "--tmux-child is internal to `harnex run --tmux`: it must run in a tmux pane",
        ));
    }
    let socket = std::env::var("TMUX")
        .ok()
        .and_then(|v| tmux::socket_from_env(&v));
    let pane = tmux::describe(socket.as_deref(), &target).unwrap_or(tmux::Pane {
        socket: socket.clone(),
        target: target.clone(),
        session: String::new(),
        window: String::new(),
    });
    if let Err(e) = tmux::set_remain_on_exit(socket.as_deref(), &target, true) {
        crate::warn!("harnex: {e}");
    }
    Ok(pane)
}

/// The session in our tmux pane is over: let the window close, unless the agent never got
/// ready — then the pane stays with the agent's last screen and a line saying why.
fn release_pane(state: &StateDir, plan: &Plan, pane: &tmux::Pane, code: i32) {
    let key = SessionKey::new(plan.repo_root.clone(), &plan.id);
    let boot_failure = registry::read_exit(state, &key)
        .is_none_or(|record| record.reason.as_deref() == Some("boot_failure"));
    if boot_failure {
        crate::warn!(
            "\r\nharnex: the agent exited with code {code} before it was ready; this window stays open so you can read why (close it with `tmux kill-pane`)"
        );
        return;
    }
    if let Err(e) = tmux::set_remain_on_exit(pane.socket.as_deref(), &pane.target, false) {
        crate::warn!("harnex: {e}");
    }
}

/// Our environment, for the supervisor in a tmux window: `KEY=VALUE\0…` in a 0600 file in the
/// (0700) state dir.
fn write_caller_env(state: &StateDir, id: &str) -> Result<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let dir = state.root().join("run");
    paths::ensure_private_dir(&dir)?;
    let path = dir.join(format!(
        "env-{}-{}",
        paths::id_key(id),
        crate::ids::random_hex(4)
    ));
    let mut bytes = Vec::new();
    for (key, value) in std::env::vars_os() {
        bytes.extend_from_slice(key.as_bytes());
        bytes.push(b'=');
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
    }
    paths::write_atomic(&path, &bytes)?;
    Ok(path)
}

/// Variables of the tmux window that stay: the pane's terminal type is what draws the agent.
const PANE_ENV_KEPT: [&str; 1] = ["TERM"];

/// Replace our environment with the one in `path` (written by [`write_caller_env`]), then delete
/// the file.
fn load_caller_env(path: &Path) -> Result<()> {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let bytes = crate::private_fs::read(path).map_err(|e| {
        Error::failed(format!(
            "cannot read the caller's environment from {}: {e}",
            path.display()
        ))
    })?;
    let _ = std::fs::remove_file(path);
    let wanted: Vec<(&OsStr, &OsStr)> = bytes
        .split(|b| *b == 0)
        .filter_map(|pair| {
            let eq = pair.iter().position(|b| *b == b'=')?;
            (eq > 0).then(|| {
                (
                    OsStr::from_bytes(&pair[..eq]),
                    OsStr::from_bytes(&pair[eq + 1..]),
                )
            })
        })
        .collect();
    let kept = |key: &OsStr| PANE_ENV_KEPT.iter().any(|k| OsStr::new(k) == key);
    for (key, _) in std::env::vars_os() {
        if !kept(&key) && !wanted.iter().any(|(k, _)| *k == key) {
            // SAFETY: called first thing in `run`, before this process starts any thread.
            unsafe { std::env::remove_var(&key) };
        }
    }
    for (key, value) in wanted {
        if !kept(key) {
            // SAFETY: as above, single-threaded.
            unsafe { std::env::set_var(key, value) };
        }
    }
    Ok(())
}

/// The agent died before it was ready: its exit code and last lines.
fn boot_failure(
    state: &StateDir,
    key: &SessionKey,
    log: &Path,
    code: Option<i32>,
    spawned_at: SystemTime,
) -> Error {
    // An exit record older than this start is an earlier run's: it says nothing about this one.
    let record = registry::read_exit(state, key).filter(|_| {
        std::fs::symlink_metadata(state.exit_path(key))
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= spawned_at)
    });
    let tail = session::transcript_tail(&state.output_path(key), 4096);
    let lines = last_lines(&crate::text::strip_ansi(&tail), 10);
    match record {
        Some(record) => Error::failed(format!(
            "agent {} exited with code {} during start-up{}",
            record.cli,
            record.exit_code_text(),
            if lines.is_empty() {
                String::new()
            } else {
                format!("; its last output:\n{lines}")
            }
        )),
        None => {
            let log_tail = last_lines(&session::transcript_tail(log, 4096), 10);
            Error::failed(format!(
                "the detached supervisor exited{} before the session started:\n{log_tail}",
                code.map(|c| format!(" with code {c}")).unwrap_or_default()
            ))
        }
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_must_be_a_json_object() {
        assert!(parse_meta(r#"{"issue":"23"}"#).is_ok());
        let not_json = parse_meta("{").unwrap_err().to_string();
        assert!(not_json.contains("--meta must be valid JSON"), "{not_json}");
        let not_object = parse_meta("[]").unwrap_err().to_string();
        assert!(not_object.contains("--meta must be a JSON object"));
    }

    #[test]
    fn only_loopback_hosts_are_accepted() {
        assert!(parse_host(Some("127.0.0.1")).is_ok());
        assert!(parse_host(Some("::1")).is_ok());
        assert!(parse_host(Some("localhost")).is_ok());
        assert!(parse_host(Some("0.0.0.0")).is_err());
        assert!(parse_host(Some("example.com")).is_err());
    }

    #[test]
    fn summary_default_needs_koder() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(default_summary_out(dir.path()), None);
        std::fs::create_dir(dir.path().join("koder")).unwrap();
        assert_eq!(
            default_summary_out(dir.path()),
            Some(dir.path().join("koder/DISPATCH.jsonl"))
        );
    }

    #[test]
    fn child_args_drop_tmux_and_fix_the_id() {
        let rewrite = |argv: &[&str]| {
            rewrite_args(
                argv.iter().map(|a| a.to_string()).collect(),
                "w1",
                &["--tmux-child"],
            )
            .join(" ")
        };
        assert_eq!(
            rewrite(&["run", "bash", "--tmux", "--id", "x", "--", "--tmux", "y"]),
            "run --tmux-child --id w1 bash -- --tmux y"
        );
        assert_eq!(
            rewrite(&["run", "bash", "--tmux", "win", "--timeout", "9"]),
            "run --tmux-child --id w1 bash --timeout 9"
        );
        assert_eq!(
            rewrite(&["run", "--tmux=win", "bash", "--tmux-name", "n", "--id=z"]),
            "run --tmux-child --id w1 bash"
        );
    }

    #[test]
    fn last_lines_skips_blank_lines() {
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b\nc");
    }
}
