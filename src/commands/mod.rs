//! One module per subcommand: parse → act → print. stdout carries results (JSON where asked);
//! stderr carries messages for people.

pub mod completions;
pub mod conversation;
pub mod docs;
pub mod doctor;
mod doctor_adapters;
pub mod done;
pub mod events;
pub mod explain;
pub mod help;
pub mod hook_relay;
pub mod logs;
pub mod pane;
pub mod prune;
pub mod run;
pub mod send;
pub mod skills;
pub mod status;
pub mod status_tree;
pub mod stop;
pub mod wait;

use crate::cli::SessionFilter;
use crate::error::Result;
use crate::paths::StateDir;
use crate::registry::{RegistryEntry, Selector};

/// The live session named by `--id` (+ `--repo`, `--cli`).
pub fn find_live(id: &str, target: &SessionFilter) -> Result<(StateDir, RegistryEntry)> {
    let (state, selector) = selector(id, target)?;
    let entry = selector.find_live(&state)?;
    Ok((state, entry))
}

pub fn selector(id: &str, target: &SessionFilter) -> Result<(StateDir, Selector)> {
    let state = StateDir::from_env()?;
    let selector = Selector::new(id, target.repo.as_deref(), target.cli.as_deref())?;
    Ok((state, selector))
}

/// Print one JSON value on stdout.
pub fn print_json(value: &serde_json::Value) {
    println!("{value}");
}
