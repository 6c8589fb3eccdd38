//! `send`, `wait`, `stop`, `logs`, `events`, `pane`, `explain` on a remote session: the same
//! command line, run by the remote harnex, its output and exit code relayed.

use std::io::IsTerminal;

use super::argv;
use super::hosts::{Host, HostsFile};
use super::runner::{self, Input, Output, Plumbing};
use super::shell::RemoteCall;
use super::ssh::Ssh;
use crate::cli::Command;
use crate::error::{Error, Result};

/// The remote target of a session command, if it has one.
struct Target {
    host: Host,
    /// `--id HOST:ID` → (HOST:ID, ID): the id to put in its place.
    id_rewrite: Option<(String, String)>,
}

pub fn dispatch(command: &Command) -> Result<Option<i32>> {
    let Some((remote, id)) = fields(command) else {
        return Ok(None);
    };
    let Some(target) = target(remote, id)? else {
        return Ok(None);
    };
    let mut args = argv::own_args()?;
    if remote.is_some() {
        args = argv::without_option(&args, "--remote", |c| {
            if let Some(slot) = remote_slot(c) {
                *slot = None;
            }
        })?;
    }
    if let Some((from, to)) = &target.id_rewrite {
        args = argv::with_id(&args, from, to, |c| {
            if let Some(slot) = id_slot(c) {
                *slot = to.clone();
            }
        })?;
    }
    let call = RemoteCall {
        args,
        dir: None,
        stream: is_stream(command),
    };
    let plumbing = Plumbing {
        output: Output::Relay,
        input: if call.stream {
            Input::Hold
        } else if matches!(command, Command::Send(_)) && !std::io::stdin().is_terminal() {
            // A piped message; a terminal is not read, as a local send does not read one (the
            // remote side would wait for its end of file).
            Input::Inherit
        } else {
            Input::Null
        },
        relay_stderr: true,
    };
    let name = command_name(command);
    let finished = runner::run(&Ssh::from_env()?, &target.host, &call, name, plumbing)?;
    match finished.outcome {
        super::failure::Outcome::Exited(code) => Ok(Some(code)),
        super::failure::Outcome::Failed(e) => Err(Error::from(e)),
    }
}

fn target(remote: Option<&str>, id: Option<&str>) -> Result<Option<Target>> {
    if let Some(name) = remote {
        let hosts = HostsFile::load()?;
        let host = hosts.resolve_one(name)?;
        // `--remote b1 --id b1:x` says the host twice: the id is x.
        let id_rewrite = id.and_then(|id| {
            let rest = id.strip_prefix(name)?.strip_prefix(':')?;
            (!rest.is_empty()).then(|| (id.to_string(), rest.to_string()))
        });
        return Ok(Some(Target { host, id_rewrite }));
    }
    let Some(id) = id.filter(|id| id.contains(':')) else {
        return Ok(None);
    };
    let hosts = HostsFile::load()?;
    let Some((name, rest)) = super::split_host_id(&hosts, id) else {
        return Ok(None);
    };
    let host = hosts.resolve_one(&name)?;
    Ok(Some(Target {
        host,
        id_rewrite: Some((id.to_string(), rest)),
    }))
}

/// `--remote` and `--id` of a session command.
fn fields(command: &Command) -> Option<(Option<&str>, Option<&str>)> {
    let (remote, id) = match command {
        Command::Send(a) => (&a.remote.remote, Some(&a.id.id)),
        Command::Wait(a) => (&a.remote.remote, Some(&a.id.id)),
        Command::Stop(a) => (&a.remote.remote, Some(&a.id.id)),
        Command::Logs(a) => (&a.remote.remote, Some(&a.id.id)),
        Command::Events(a) => (&a.remote.remote, Some(&a.id.id)),
        Command::Pane(a) => (&a.remote.remote, Some(&a.id.id)),
        Command::Explain(a) => (&a.remote.remote, a.id.as_ref()),
        _ => return None,
    };
    Some((remote.as_deref(), id.map(String::as_str)))
}

fn remote_slot(command: &mut Command) -> Option<&mut Option<String>> {
    Some(match command {
        Command::Send(a) => &mut a.remote.remote,
        Command::Wait(a) => &mut a.remote.remote,
        Command::Stop(a) => &mut a.remote.remote,
        Command::Logs(a) => &mut a.remote.remote,
        Command::Events(a) => &mut a.remote.remote,
        Command::Pane(a) => &mut a.remote.remote,
        Command::Explain(a) => &mut a.remote.remote,
        _ => return None,
    })
}

fn id_slot(command: &mut Command) -> Option<&mut String> {
    Some(match command {
        Command::Send(a) => &mut a.id.id,
        Command::Wait(a) => &mut a.id.id,
        Command::Stop(a) => &mut a.id.id,
        Command::Logs(a) => &mut a.id.id,
        Command::Events(a) => &mut a.id.id,
        Command::Pane(a) => &mut a.id.id,
        Command::Explain(a) => a.id.as_mut()?,
        _ => return None,
    })
}

/// Commands that run until something happens: the remote harnex ends when we go away.
fn is_stream(command: &Command) -> bool {
    match command {
        Command::Wait(_) => true,
        Command::Events(a) => !a.snapshot,
        Command::Logs(a) => a.follow,
        Command::Pane(a) => a.follow,
        Command::Stop(a) => a.wait,
        // Its message comes on stdin when not on the command line: then stdin is the message's.
        Command::Send(a) => a.wait_for_idle && (a.message.is_some() || !a.words.is_empty()),
        _ => false,
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Send(_) => "send",
        Command::Wait(_) => "wait",
        Command::Stop(_) => "stop",
        Command::Logs(_) => "logs",
        Command::Events(_) => "events",
        Command::Pane(_) => "pane",
        Command::Explain(_) => "explain",
        _ => "harnex",
    }
}
