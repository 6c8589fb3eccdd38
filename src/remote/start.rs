//! `harnex run --remote HOST`: start the session there, in tmux (detached from us) unless the
//! command names another mode, from `--cd PATH` on that host; print the remote JSON line with
//! `remote` added. Run from inside a session, the child there records that session as its parent.

use serde_json::Value;

use super::argv;
use super::failure::Outcome;
use super::hosts::HostsFile;
use super::runner::{self, Input, Output, Plumbing};
use super::shell::RemoteCall;
use super::ssh::Ssh;
use crate::cli::{Command, RunArgs};
use crate::error::{Error, Result};

/// What a session started from inside another inherits (crate::attribution): a parent here
/// passes it on to a child there, so the child records its parent, root and tags.
const ATTRIBUTION_VARS: [&str; 5] = [
    "HARNEX_ID",
    "HARNEX_SESSION_ID",
    crate::attribution::ROOT_ID_VAR,
    crate::attribution::ROOT_SESSION_ID_VAR,
    crate::attribution::TAGS_VAR,
];

pub fn run(name: &str, args: &RunArgs) -> Result<i32> {
    let mut host = HostsFile::load()?.resolve_one(name)?;
    for var in ATTRIBUTION_VARS {
        if let Ok(value) = std::env::var(var)
            && !host.env.iter().any(|(k, _)| k == var)
        {
            host.env.push((var.to_string(), value));
        }
    }
    let mut words = argv::own_args()?;
    // --cd first: it needs --remote.
    if args.cd.is_some() {
        words = argv::without_option(&words, "--cd", |c| {
            if let Command::Run(a) = c {
                a.cd = None;
            }
        })?;
    }
    words = argv::without_option(&words, "--remote", |c| {
        if let Command::Run(a) = c {
            a.remote.remote = None;
        }
    })?;
    // Nobody is at a terminal there: the foreground default becomes a tmux window a person can
    // attach to.
    let foreground = !args.detach && args.tmux_window().is_none() && !args.watch();
    if foreground {
        words = argv::with_flag(&words, "--tmux", |c| {
            if let Command::Run(a) = c {
                a.tmux = Some(None);
            }
        })?;
    }
    let watch = args.watch();
    let call = RemoteCall {
        args: words,
        dir: args.cd.clone(),
        stream: watch,
    };
    let plumbing = Plumbing {
        // `--watch` reports as it goes; the others print one JSON line, which gets `remote`.
        output: if watch {
            Output::Relay
        } else {
            Output::Capture
        },
        input: if watch { Input::Hold } else { Input::Null },
        relay_stderr: true,
    };
    let finished = runner::run(&Ssh::from_env()?, &host, &call, "run", plumbing)?;
    let code = match finished.outcome {
        Outcome::Exited(code) => code,
        Outcome::Failed(e) => return Err(Error::from(e)),
    };
    let text = String::from_utf8_lossy(&finished.stdout);
    for line in text.lines() {
        println!("{}", with_remote(line, &host.name));
    }
    Ok(code)
}

/// A JSON object line gets `"remote": HOST`; anything else is printed as it came.
fn with_remote(line: &str, host: &str) -> String {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(mut map)) => {
            map.insert("remote".into(), Value::from(host));
            Value::Object(map).to_string()
        }
        _ => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_line_names_the_host() {
        let line = with_remote(r#"{"ok":true,"id":"x"}"#, "b1");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (v["remote"].as_str(), v["id"].as_str()),
            (Some("b1"), Some("x"))
        );
        assert_eq!(with_remote("not json", "b1"), "not json");
    }
}
