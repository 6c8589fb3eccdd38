//! The supervisor of one planned run: take the session lock, bind the API, run the session to
//! its end. A foreground `run` calls it in process; a detached or tmux supervisor gets here
//! through the one hidden entry point, `harnex supervise --plan FILE [--report-fd N]`.

use std::net::TcpListener;
use std::time::{Duration, Instant, SystemTime};

use super::plan::{Plan, PlanMode, already_running};
use super::report::{Report, Reporter};
use super::{boot_failure, handoff, tmux};
use crate::cli::SuperviseArgs;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::registry;
use crate::session::{self, Mode, SessionConfig};
use crate::session_lock::SessionLock;

const DEFAULT_SIZE: (u16, u16) = (120, 40);

/// `harnex supervise`: the plan's supervisor, in a process of its own.
pub fn run(args: SuperviseArgs) -> Result<i32> {
    let reporter = args.report_fd.map(Reporter::from_fd).transpose()?;
    let mut plan = handoff::take(&args.plan)?;
    // In a window `run --tmux` opened: learn our pane while $TMUX_PANE is still the window's own,
    // then take on the caller's environment (before any thread starts).
    let pane = match plan.mode {
        PlanMode::Tmux => Some(tmux::own_pane()?),
        _ => None,
    };
    if let Some(env) = plan.caller_env.take() {
        handoff::load_caller_env(&env);
    }
    supervise(&plan, pane, reporter)
}

/// Run the session of `plan` to its end; `Err(Exit(code))` carries the agent's exit code.
pub fn supervise(
    plan: &Plan,
    pane: Option<crate::tmux::Pane>,
    reporter: Option<Reporter>,
) -> Result<i32> {
    let state = plan.state();
    // The rules `run` checked; read again here, where the session runs.
    let adapter = crate::adapters::configured_for_cli(&plan.cli)?;
    // Held for the whole life of this supervisor.
    let lock = claim_session(plan)?;
    let listener = bind(plan)?;
    let mode = match plan.mode {
        PlanMode::Headless => Mode::Headless,
        PlanMode::Tmux => Mode::Tmux,
        PlanMode::Foreground => Mode::Foreground,
    };
    let size = match mode {
        Mode::Foreground | Mode::Tmux => session::terminal::size()
            .map(|(rows, cols)| (cols, rows))
            .or(plan.size)
            .unwrap_or(DEFAULT_SIZE),
        Mode::Headless => plan.size.unwrap_or(DEFAULT_SIZE),
    };
    let config = SessionConfig {
        id: plan.id.clone(),
        cli: plan.cli.clone(),
        command: plan.command.clone(),
        repo_root: plan.repo_root.clone(),
        cwd: plan.cwd.clone(),
        options: plan.options.clone(),
        size,
        mode,
        tmux: pane.clone(),
        session_id: crate::ids::random_hex(8),
        token: crate::ids::token()?,
        started_at: SystemTime::now(),
        transcript_max: plan.transcript_max,
        records: plan.records.clone(),
    };
    let session_id = config.session_id.clone();
    if let Some(reporter) = &reporter {
        report_ready(plan, &config, &listener, reporter.clone())?;
    }
    let code = session::run(config, adapter, state.clone(), listener)?;
    if let Some(reporter) = &reporter
        && !reporter.sent()
    {
        let message = boot_failure::of_run(&state, &plan.key(), |r| r.session_id == session_id)
            .unwrap_or_else(|| {
                format!("agent {} exited with code {code} during start-up", plan.cli)
            });
        reporter.send(&Report::BootFailure { message });
    }
    lock.release();
    if let Some(pane) = &pane {
        tmux::release_pane(&state, plan, pane, code);
    }
    Err(Error::Exit(code))
}

/// Take the session lock for this supervisor, or refuse: another supervisor of the same id is
/// alive. With the lock held, a run the slot still names (crashed) is settled first.
fn claim_session(plan: &Plan) -> Result<SessionLock> {
    let state = plan.state();
    let key = plan.key();
    let path = crate::session_lock::lock_path(&state, &key);
    match SessionLock::acquire(&path, Duration::from_millis(500)) {
        Ok(Some(lock)) => {
            crate::crash::claim_slot(&state, &state.registry_path(&key));
            Ok(lock)
        }
        Ok(None) => Err(already_running(&state, &key)),
        Err(e) => Err(Error::failed(format!(
            "cannot take the session lock {}: {e}",
            path.display()
        ))),
    }
}

pub fn bind(plan: &Plan) -> Result<TcpListener> {
    match plan.options.port {
        Some(port) => TcpListener::bind((plan.options.host, port)).map_err(|e| {
            Error::failed(format!(
                "port {port} is not available ({e}); pick another --port or leave it out to get a free one"
            ))
        }),
        None => crate::ports::bind_first_free(
            plan.options.host,
            crate::ports::candidates(&plan.repo_root, &plan.id),
        )
        .map_err(|e| Error::failed(format!("no free port for the API ({e}); pass --port"))),
    }
}

/// How long one ready long-poll may take before it is asked again (the API caps it at 60 s).
const READY_POLL: Duration = Duration::from_secs(55);
/// The registry entry is written as the API starts, long before an agent can be ready; this
/// only bounds the look for it should that ever not hold.
const ENTRY_GRACE: Duration = Duration::from_secs(2);

/// Tell the parent once the agent is ready: a thread long-polls our own API (its listener is
/// bound, so the call waits in the backlog until the server takes it).
fn report_ready(
    plan: &Plan,
    config: &SessionConfig,
    listener: &TcpListener,
    reporter: Reporter,
) -> Result<()> {
    let port = listener
        .local_addr()
        .map_err(|e| Error::failed(format!("cannot read the API address: {e}")))?
        .port();
    let client = Client::new(&plan.options.host.to_string(), port, &config.token);
    let registry_path = plan.state().registry_path(&plan.key());
    let session_id = config.session_id.clone();
    let ready = move || {
        let agent_state = loop {
            match client.wait("ready", None, READY_POLL) {
                Ok(body) if body["ok"] == true => {
                    // Ready means the agent reached its prompt or a dialog. By the time the answer
                    // is read, a `--context` message may already have made it busy: report the
                    // state it was ready in, not what came after.
                    break match body["state"].as_str() {
                        Some(state @ ("blocked" | "exited")) => state.to_string(),
                        _ => "prompt".to_string(),
                    };
                }
                Ok(_) => continue,
                // The session ended: the supervisor's main thread reports how.
                Err(_) => return,
            }
        };
        if agent_state == "exited" {
            return;
        }
        let grace = Instant::now() + ENTRY_GRACE;
        let entry = loop {
            match registry::read_entry(&registry_path) {
                Some(entry) if entry.session_id == session_id => break entry,
                _ if Instant::now() >= grace => return,
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        reporter.send(&Report::Ready {
            agent_state,
            entry: Box::new(entry),
        });
    };
    std::thread::Builder::new()
        .name("ready-report".into())
        .spawn(ready)
        .map(|_| ())
        .map_err(|e| Error::failed(format!("cannot start the ready-report thread: {e}")))
}
