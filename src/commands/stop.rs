//! `harnex stop`: ask the supervisor to run its stop ladder; `--wait` until the session is gone.

use std::time::{Duration, Instant};

use serde_json::json;

use super::print_json;
use crate::cli::StopArgs;
use crate::client::{CallError, Client};
use crate::error::{Error, Result};
use crate::registry;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(60);

pub fn run(args: StopArgs) -> Result<i32> {
    let (state, entry) = super::find_live(&args.id, &args.target)?;
    let timeout = args.timeout.unwrap_or(if args.wait {
        DEFAULT_WAIT_TIMEOUT
    } else {
        DEFAULT_TIMEOUT
    });
    let deadline = Instant::now() + timeout;
    let client = Client::for_entry(&entry);
    let mut body = json!({"force": args.force});
    if let Some(grace) = args.grace {
        body["grace_ms"] = json!(grace.as_millis() as u64);
    }
    // The API may not be up yet right after `run`: retry refused connections until the deadline.
    let answer = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.post("/stop", &body, left.max(Duration::from_millis(50))) {
            Ok(answer) => break answer,
            Err(CallError::Unreachable(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(CallError::Unreachable(_) | CallError::Timeout) => {
                print_json(&json!({"ok": false, "id": entry.id, "status": "timeout",
                    "error": "the session API did not answer"}));
                return Err(Error::Exit(124));
            }
            Err(e) => return Err(Error::failed(format!("cannot stop {}: {e}", entry.id))),
        }
    };
    if !args.wait {
        print_json(&answer);
        return Ok(0);
    }
    let left = deadline.saturating_duration_since(Instant::now());
    let gone = client.wait("exited", None, left);
    let exited = match gone {
        Ok(body) => body["state"] == "exited",
        Err(CallError::Unreachable(_)) => true,
        Err(_) => false,
    };
    if !exited {
        print_json(&json!({"ok": false, "id": entry.id, "status": "timeout",
            "signal": answer["signal"], "error": "the agent has not exited yet"}));
        return Err(Error::Exit(124));
    }
    let record = registry::await_exit(&state, &entry, Duration::from_secs(5));
    let mut out = answer;
    out["exit"] = serde_json::to_value(record).unwrap_or_default();
    print_json(&out);
    Ok(0)
}
