//! `harnex doctor --remote HOST`: can we reach HOST over ssh, is harnex there and of our
//! version, and what does its own doctor say. Tells how to install harnex there when it is not.

use serde_json::Value;

use super::failure::Outcome;
use super::hosts::HostsFile;
use super::runner::{self, Input, Output, Plumbing};
use super::shell::{RemoteCall, local_version};
use super::ssh::Ssh;
use crate::error::{Error, Result};

pub fn run(name: &str, json: bool) -> Result<i32> {
    let host = HostsFile::load()?.resolve_one(name)?;
    let mut args = vec!["doctor".to_string()];
    if json {
        args.push("--json".into());
    }
    let call = RemoteCall {
        args,
        dir: None,
        stream: false,
    };
    let plumbing = Plumbing {
        output: if json { Output::Capture } else { Output::Relay },
        input: Input::Null,
        relay_stderr: !json,
    };
    let finished = runner::run(&Ssh::from_env()?, &host, &call, "doctor", plumbing)?;
    match finished.outcome {
        Outcome::Exited(code) if json => {
            let remote: Value = serde_json::from_slice(&finished.stdout).unwrap_or(Value::Null);
            let ok = code == 0 && remote["ok"] != false;
            let out = serde_json::json!({
                "ok": ok,
                "host": host.name,
                "destination": host.destination,
                "harnex": host.harnex,
                "version": local_version(),
                "remote": remote,
            });
            println!("{out}");
            Ok(code)
        }
        Outcome::Exited(code) => {
            crate::warn!(
                "harnex: {} is reachable over ssh and runs {} ({}), as here",
                host.name,
                local_version(),
                host.harnex
            );
            Ok(code)
        }
        Outcome::Failed(e) => {
            if json {
                let out = serde_json::json!({
                    "ok": false,
                    "host": host.name,
                    "destination": host.destination,
                    "harnex": host.harnex,
                    "version": local_version(),
                    "error": e.to_string(),
                    "error_kind": e.kind(),
                });
                println!("{out}");
            }
            Err(Error::from(e))
        }
    }
}
