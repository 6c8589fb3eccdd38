//! Sessions on other machines, through the user's own OpenSSH: the local CLI runs the remote
//! harnex CLI over a shared ssh connection and relays its output and exit code, so each session's
//! API stays on its own host's loopback.
//!
//! [`dispatch`] decides whether a parsed command goes elsewhere (`--remote HOST`, or `--id
//! HOST:ID` for a host of hosts.toml); [`hosts`] reads hosts.toml, [`ssh`] builds the ssh command,
//! [`shell`] the remote command line, [`runner`] runs it and [`failure`] says what its end means.

pub mod argv;
pub mod doctor;
pub mod failure;
pub mod forward;
pub mod hosts;
pub mod runner;
pub mod shell;
pub mod ssh;
pub mod start;
pub mod status;

pub use failure::RemoteError;

use crate::cli::Command;
use crate::error::Result;

/// Run `command` on another host if it names one; `None` when it is a local command.
pub fn dispatch(command: &Command) -> Result<Option<i32>> {
    match command {
        Command::Status(args) => status::dispatch(args),
        Command::Doctor(args) => match &args.remote.remote {
            Some(name) => doctor::run(name, args.json).map(Some),
            None => Ok(None),
        },
        Command::Run(args) => match &args.remote.remote {
            Some(name) => start::run(name, args).map(Some),
            None => Ok(None),
        },
        other => forward::dispatch(other),
    }
}

/// `HOST:ID` → (HOST, ID) when HOST is a host of hosts.toml (an id may itself hold a `:`).
pub fn split_host_id(hosts: &hosts::HostsFile, id: &str) -> Option<(String, String)> {
    let (host, rest) = id.split_once(':')?;
    (hosts.hosts.contains_key(host) && !rest.is_empty())
        .then(|| (host.to_string(), rest.to_string()))
}
