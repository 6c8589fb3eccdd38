//! `harnex stop`: ask the supervisor to run its stop ladder; `--wait` until the session is gone.
//! A later, stronger stop (`--force`, a shorter `--grace`) moves a stop under way forward. For a
//! session whose supervisor died without cleaning up, end the processes it left behind.

use std::time::{Duration, Instant};

use super::print_json;
use crate::cli::StopArgs;
use crate::client::{CallError, Client};
use crate::error::{Error, Result};
use crate::paths::{SessionKey, StateDir};
use crate::registry::{self, Selector};
use crate::sweep;
use crate::wire::outputs::{StopTimeout, SupervisorGone};
use crate::wire::requests::StopRequest;
use crate::wire::to_value;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(60);

pub fn run(args: StopArgs) -> Result<i32> {
    if let Some(grace) = args.grace {
        crate::session::stop::check_grace(grace).map_err(Error::usage)?;
    }
    let (state, selector) = super::selector(&args.id.id, &args.target)?;
    if let Some(code) = sweep_after_dead_supervisor(&state, &selector)? {
        return Ok(code);
    }
    let entry = match selector.find_live(&state) {
        Ok(entry) => entry,
        Err(not_found) => {
            // Perhaps a supervisor that died earlier (its record says which run it was).
            let crashed = registry::read_exit(
                &state,
                &SessionKey::new(selector.home_repo()?, &selector.id),
            );
            if let Some(record) = crashed {
                let swept = sweep::sweep_session_processes(&record.session_id);
                if !swept.is_empty() {
                    print_swept(&record.id, &record.session_id, &swept);
                    return Ok(0);
                }
            }
            return Err(not_found);
        }
    };
    let timeout = args.timeout.unwrap_or(if args.wait {
        DEFAULT_WAIT_TIMEOUT
    } else {
        DEFAULT_TIMEOUT
    });
    let deadline = Instant::now() + timeout;
    let client = Client::for_entry(&entry);
    let body = StopRequest {
        force: Some(args.force),
        grace_ms: args.grace.map(|grace| grace.as_millis() as u64),
    };
    // The API may not be up yet right after `run`: retry refused connections until the deadline.
    let answer = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.post("/stop", &body, left.max(Duration::from_millis(50))) {
            Ok(answer) => break answer,
            Err(CallError::Unreachable(_)) if Instant::now() < deadline => {
                // Its supervisor may have been dying when it was looked up (alive, its lock
                // still held): once it is gone, no retry will ever be answered.
                if !entry.is_alive()
                    && let Some(code) = sweep_after_dead_supervisor(&state, &selector)?
                {
                    return Ok(code);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(CallError::Unreachable(_) | CallError::Timeout) => {
                print_json(&to_value(&StopTimeout {
                    ok: false,
                    id: entry.id.clone(),
                    status: "timeout".into(),
                    signal: None,
                    error: "the session API did not answer".into(),
                }));
                return Err(Error::timed_out());
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
        print_json(&to_value(&StopTimeout {
            ok: false,
            id: entry.id.clone(),
            status: "timeout".into(),
            signal: Some(answer["signal"].clone()),
            error: "the agent has not exited yet".into(),
        }));
        return Err(Error::timed_out());
    }
    let record = registry::await_exit(&state, &entry, Duration::from_secs(5));
    // Returned once the supervisor let go of the id: a `run` with it right after is not refused.
    let lock = crate::session_lock::lock_path(&state, &entry.key());
    crate::session_lock::await_free(&lock, Duration::from_secs(5));
    let mut out = answer;
    out["exit"] = serde_json::to_value(record).unwrap_or_default();
    print_json(&out);
    Ok(0)
}

/// The session's registry entry names a supervisor that is gone (killed with SIGKILL, say): end
/// the processes that still carry its session id, retire the entry, and say so. `None` when the
/// entry is missing or its supervisor is alive.
fn sweep_after_dead_supervisor(state: &StateDir, selector: &Selector) -> Result<Option<i32>> {
    let key = SessionKey::new(selector.home_repo()?, &selector.id);
    let path = state.registry_path(&key);
    let Some(entry) = registry::read_entry(&path) else {
        return Ok(None);
    };
    if entry.is_alive() {
        return Ok(None);
    }
    let swept = sweep::sweep_session_processes(&entry.session_id);
    // The registry's own handling of stale entries retires this one (as any lookup would).
    let _ = registry::live_entries(state);
    print_swept(&entry.id, &entry.session_id, &swept);
    Ok(Some(0))
}

fn print_swept(id: &str, session_id: &str, swept: &[u32]) {
    crate::warn!(
        "harnex: the supervisor of session {id} is gone; ended {} process(es) it left behind",
        swept.len()
    );
    print_json(&to_value(&SupervisorGone {
        ok: true,
        id: id.to_string(),
        session_id: session_id.to_string(),
        status: "supervisor_gone".into(),
        swept_pids: swept.to_vec(),
    }));
}
