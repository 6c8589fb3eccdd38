//! `harnex wait`: until the session exits (exit code = the agent's), or `--until STATE`.

use std::time::{Duration, Instant};

use serde_json::json;

use super::print_json;
use crate::cli::WaitArgs;
use crate::client::{CallError, Client};
use crate::error::{Error, Result};
use crate::paths::SessionKey;
use crate::registry::{self, Resolved};

const STATES: [&str; 4] = ["prompt", "busy", "blocked", "unknown"];
/// Without --timeout, wait (practically) forever.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 86400);

pub fn run(args: WaitArgs) -> Result<i32> {
    if let Some(until) = &args.until
        && !STATES.contains(&until.as_str())
    {
        return Err(Error::usage(format!(
            "--until {until:?} is not a state; use one of: {}",
            STATES.join(", ")
        )));
    }
    let (state, selector) = super::selector(&args.id, &args.repo, &args.cli)?;
    let started = Instant::now();
    let within = args.timeout.unwrap_or(FOREVER);
    let entry = match selector.resolve(&state)? {
        Resolved::Live(entry) => *entry,
        Resolved::None { hint } => {
            // Gone already: the exit record answers an exit-wait.
            let key = SessionKey::new(selector.home_repo()?, &selector.id);
            return match (args.until.is_none(), registry::read_exit(&state, &key)) {
                (true, Some(record)) => {
                    print_json(&serde_json::to_value(&record).unwrap_or_default());
                    Ok(record.exit_code)
                }
                _ => Err(Error::failed(hint)),
            };
        }
    };
    let client = Client::for_entry(&entry);
    let until = args.until.as_deref().unwrap_or("exited");
    if args.until.is_some() {
        eprintln!("harnex: waiting for {} to reach {until}", entry.id);
    }
    let answer = match client.wait(until, None, within) {
        Ok(answer) => answer,
        // The supervisor went away between lookup and call: it has exited.
        Err(CallError::Unreachable(_)) => json!({"ok": true, "state": "exited"}),
        Err(e) => {
            return Err(Error::failed(format!(
                "lost contact with {}: {e}",
                entry.id
            )));
        }
    };
    let waited = started.elapsed().as_secs_f64();
    if answer["status"] == "timeout" {
        print_json(&json!({"ok": false, "id": entry.id, "status": "timeout",
            "state": answer["state"], "waited_seconds": waited}));
        return Err(Error::Exit(124));
    }
    let reached = answer["state"].as_str().unwrap_or("unknown");
    if args.until.is_some() {
        let ok = reached == until;
        print_json(&json!({"ok": ok, "id": entry.id, "state": reached, "waited_seconds": waited}));
        return Ok(if ok { 0 } else { 1 });
    }
    // Exit-wait: the supervisor writes the exit record right after the agent exits.
    let record = wait_for_exit_record(&state, &entry.key(), &entry.session_id);
    match record {
        Some(record) => {
            print_json(&serde_json::to_value(&record).unwrap_or_default());
            Ok(record.exit_code)
        }
        None => Err(Error::failed(format!(
            "session {} ended without an exit record",
            entry.id
        ))),
    }
}

fn wait_for_exit_record(
    state: &crate::paths::StateDir,
    key: &SessionKey,
    session_id: &str,
) -> Option<registry::ExitRecord> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(record) = registry::read_exit(state, key)
            && record.session_id == session_id
        {
            return Some(record);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
