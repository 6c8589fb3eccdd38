//! `harnex run <cli>`: resolve the run once into a [`plan::Plan`], then supervise it in the
//! foreground, start its supervisor detached ([`detach`]) or in a new tmux window ([`tmux`]) and
//! report once it is up, or babysit a detached one ([`watch`]). A supervisor in another process
//! gets the plan through [`handoff`] and answers through [`report`]; [`supervise`] is its body.

pub mod boot_failure;
pub mod detach;
pub mod handoff;
pub mod hooks;
pub mod plan;
pub mod report;
pub mod supervise;
pub mod tmux;
pub mod watch;

use std::time::Duration;

use serde_json::Value;

use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::paths::StateDir;
use crate::registry::RegistryEntry;
use crate::wire::outputs::{RunStarted, StartedMode};
use plan::{Plan, PlanMode};

/// How long `--detach` and `--tmux` wait for the session by default.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(args: RunArgs) -> Result<i32> {
    args.check_watch_file()?;
    if args.watch() && args.detach {
        return Err(Error::usage(
            "--watch watches from this terminal: drop --detach (the agent runs headless anyway)",
        ));
    }
    let policy = if args.watch() || args.preset.is_some() {
        Some(watch::policy(&args)?)
    } else {
        None
    };
    let state = StateDir::from_env()?;
    let adapter = crate::adapters::configured_for_cli(args.cli())?;
    let mode = PlanMode::of(&args);
    let plan = Plan::resolve(&args, adapter.as_ref(), &state, mode)?;
    let timeout = args.timeout.unwrap_or(DEFAULT_START_TIMEOUT);
    if let (true, Some(policy)) = (args.watch(), policy) {
        return watch::run(&plan, policy, timeout);
    }
    match mode {
        PlanMode::Foreground => supervise::supervise(&plan, None, None),
        PlanMode::Headless => {
            let started = detach::start(&plan, timeout)?;
            print_started(
                &args,
                &started.entry,
                &started.agent_state,
                StartedMode::Headless { log: started.log },
            );
            Ok(0)
        }
        PlanMode::Tmux => {
            let window = args.tmux_window().flatten();
            let started = tmux::start(&plan, window, timeout)?;
            let extra = |key: &str| {
                started
                    .entry
                    .extra
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            print_started(
                &args,
                &started.entry,
                &started.agent_state,
                StartedMode::Tmux {
                    window: extra("tmux_window").unwrap_or_else(|| started.window.clone()),
                    pane: started.pane.clone(),
                    tmux_session: extra("tmux_session"),
                },
            );
            Ok(0)
        }
    }
}

/// The Ruby-compatible JSON line of a started session, with the mode's own fields.
fn print_started(args: &RunArgs, entry: &RegistryEntry, agent_state: &str, mode: StartedMode) {
    crate::commands::print_json(&crate::wire::to_value(&RunStarted {
        ok: true,
        id: entry.id.clone(),
        cli: args.cli().to_string(),
        pid: entry.pid,
        port: entry.port,
        output_log_path: entry.output_log_path.clone(),
        agent_state: agent_state.to_string(),
        mode,
        description: args.description.clone(),
    }));
}
