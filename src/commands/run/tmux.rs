//! `run --tmux`: the plan's supervisor runs in the foreground of a new tmux window, and this
//! process reports once the agent is up.
//!
//! A tmux window's process is started by the tmux server, with the server's environment, not
//! ours. So the plan file (0600, in the state dir) carries our environment and the supervisor
//! in the window loads it first thing: every variable the agent needs (API keys, PATH,
//! HARNEX_*) arrives, none of it shows in a process's argv (as `new-window -e` would), and
//! nothing is left behind in the server's global environment.

use std::time::{Duration, Instant, SystemTime};

use super::boot_failure::{self, last_lines};
use super::handoff;
use super::plan::Plan;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::paths::{SessionKey, StateDir};
use crate::registry::{self, RegistryEntry};
use crate::tmux;

/// A session that came up in a tmux window.
pub struct Started {
    pub entry: RegistryEntry,
    pub agent_state: String,
    /// The window's name as asked for (the id by default).
    pub window: String,
    pub pane: String,
}

/// Start the plan's supervisor in a new tmux window and wait up to `timeout` for its agent.
pub fn start(plan: &Plan, window: Option<String>, timeout: Duration) -> Result<Started> {
    if !tmux::installed() {
        return Err(Error::failed(
            "tmux is not installed (`tmux -V` failed): install tmux, or run the session headless with --detach",
        ));
    }
    let window = window.unwrap_or_else(|| plan.id.clone());
    if window.trim().is_empty() {
        return Err(Error::usage("--tmux NAME must not be empty"));
    }
    plan.check_port()?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::failed(format!("cannot find the harnex binary: {e}")))?;
    let state = plan.state();
    let mut plan = plan.clone();
    plan.caller_env = Some(handoff::caller_env());
    // Read by the supervisor at once; dropped when we return, so an environment a supervisor
    // never read is not left behind.
    let plan_file = handoff::write(&state, &plan)?;
    let argv = [
        exe.to_string_lossy().into_owned(),
        "supervise".to_string(),
        "--plan".to_string(),
        plan_file.path().to_string_lossy().into_owned(),
    ];
    let dispatched_at = SystemTime::now();
    let placement = tmux::Placement::from_env();
    let pane = tmux::new_window(&placement, &window, &plan.cwd, &argv)?;
    let (entry, agent_state) = wait_for_session(&plan, &pane, dispatched_at, timeout)?;
    Ok(Started {
        entry,
        agent_state,
        window,
        pane,
    })
}

/// Until the supervisor in `pane` registers and its agent is ready (or dies, or time runs out).
/// Its process is the tmux server's child, not ours: the registry and the pane are what we
/// can see of it.
fn wait_for_session(
    plan: &Plan,
    pane: &str,
    dispatched_at: SystemTime,
    timeout: Duration,
) -> Result<(RegistryEntry, String)> {
    let deadline = crate::time::deadline_after(timeout);
    let state = plan.state();
    let key = plan.key();
    let registry_path = state.registry_path(&key);
    let entry = loop {
        if let Some(entry) = registry::read_entry(&registry_path) {
            break entry;
        }
        if tmux::pane_life(None, pane) != tmux::PaneLife::Alive {
            return Err(boot_failure(&state, &key, pane, dispatched_at));
        }
        if Instant::now() >= deadline {
            return Err(Error::timeout(format!(
                "session {} in tmux pane {pane} did not register within {}s; it is left running in that window: look at it (`tmux capture-pane -p -t {pane}`; `harnex pane` needs a registered session) and close it with `tmux kill-pane -t {pane}`",
                plan.id,
                timeout.as_secs_f64(),
            )));
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
        return Err(boot_failure(&state, &key, pane, dispatched_at));
    }
    Ok((entry, agent_state))
}

/// The session in `pane` ended before it was ready: the agent's exit code and last lines, or
/// what the pane shows when the supervisor itself failed.
fn boot_failure(
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
    let fresh = boot_failure::written_since(state, key, dispatched_at);
    if let Some(message) = boot_failure::of_run(state, key, |_| fresh) {
        return Error::failed(format!("{message}{keeps}"));
    }
    if matches!(life, tmux::PaneLife::Gone) {
        return Error::failed(format!(
            "the tmux window of the session (pane {pane}) closed before the session started"
        ));
    }
    let screen = tmux::capture(None, pane, None)
        .map(|text| last_lines(&text, 15))
        .unwrap_or_default();
    let status = match life {
        tmux::PaneLife::Dead(Some(code)) => format!(" with status {code}"),
        _ => String::new(),
    };
    Error::failed(format!(
        "the harnex supervisor in tmux pane {pane} exited{status} before the session started; the pane shows:\n{screen}{keeps}"
    ))
}

/// In the window `run --tmux` opened: which pane we are (from the window's own `$TMUX` and
/// `$TMUX_PANE`), and keep the pane open if we exit before the agent is ready, so the error
/// stays readable.
pub fn own_pane() -> Result<tmux::Pane> {
    let target = std::env::var("TMUX_PANE").unwrap_or_default();
    if target.is_empty() {
        return Err(Error::usage(
            "a tmux plan is internal to `harnex run --tmux`: it must run in a tmux pane",
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
pub fn release_pane(state: &StateDir, plan: &Plan, pane: &tmux::Pane, code: i32) {
    let boot_failure = registry::read_exit(state, &plan.key())
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
