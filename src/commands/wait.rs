//! `harnex wait`: until the session exits (exit code = the agent's), or `--until STATE`.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::print_json;
use crate::cli::WaitArgs;
use crate::client::{CallError, Client};
use crate::error::{Error, Result};
use crate::paths::SessionKey;
use crate::registry::{self, Resolved};
use crate::wire::outputs::WaitOutcome;
use crate::wire::to_value;
use crate::wire::turns::TurnFacts;

const STATES: [&str; 5] = ["prompt", "busy", "blocked", "unknown", "task_complete"];
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
    let (state, selector) = super::selector(&args.id.id, &args.target)?;
    let started = Instant::now();
    let within = args.timeout.unwrap_or(FOREVER);
    let entry = match selector.resolve(&state)? {
        Resolved::Live(entry) => *entry,
        Resolved::None { hint } => {
            // Gone already: the exit record of its last run answers an exit-wait.
            let key = SessionKey::new(selector.home_repo()?, &selector.id);
            // A held lock without an entry: the supervisor is alive, either with a damaged entry
            // (not ended) or in its last moments (its exit record, written before the entry is
            // removed, is the last run's: ended).
            let lock = crate::session_lock::lock_path(&state, &key);
            let held = crate::session_lock::probe(&lock) == crate::session_lock::Probe::Held;
            return match (args.until.is_none(), last_run_record(&state, &key)) {
                (true, Ok(Some(record))) => {
                    print_json(&serde_json::to_value(&record).unwrap_or_default());
                    Ok(record.command_exit_code())
                }
                (_, Err(e)) if !held => Err(e),
                _ => Err(Error::failed(hint)),
            };
        }
    };
    if args.until.as_deref() == Some("task_complete") {
        return wait_task_complete(&state, &entry, args.turn, within, started);
    }
    let client = Client::for_entry(&entry);
    let until = args.until.as_deref().unwrap_or("exited");
    if args.until.is_some() {
        crate::warn!("harnex: waiting for {} to reach {until}", entry.id);
    }
    let answer = match client.wait(until, None, within) {
        Ok(answer) => answer,
        // The supervisor went away between lookup and call, or during the call: it has exited
        // (or crashed, which the exit record below says).
        Err(CallError::Unreachable(_)) => exited_answer(),
        Err(_) if !entry.is_alive() => exited_answer(),
        Err(e) => {
            return Err(Error::failed(format!(
                "lost contact with {}: {e}",
                entry.id
            )));
        }
    };
    let waited = started.elapsed().as_secs_f64();
    if answer["status"] == "timeout" {
        print_json(&to_value(&WaitOutcome {
            id: entry.id.clone(),
            status: Some("timeout".into()),
            state: answer["state"].as_str().map(str::to_string),
            waited_seconds: waited,
            ..WaitOutcome::default()
        }));
        return Err(Error::timed_out());
    }
    let reached = answer["state"].as_str().unwrap_or("unknown");
    if args.until.is_some() {
        let ok = reached == until;
        print_json(&to_value(&WaitOutcome {
            ok,
            id: entry.id.clone(),
            state: Some(reached.to_string()),
            waited_seconds: waited,
            ..WaitOutcome::default()
        }));
        return Ok(if ok { 0 } else { 1 });
    }
    // Exit-wait: the supervisor writes the exit record right after the agent exits (a crashed
    // one gets it written here); only this run's record counts.
    let record = registry::await_exit(&state, &entry, Duration::from_secs(10));
    // Returned once the supervisor let go of the id: a `run` with it right after is not refused.
    let lock = crate::session_lock::lock_path(&state, &entry.key());
    crate::session_lock::await_free(&lock, Duration::from_secs(5));
    match record {
        Some(record) => {
            print_json(&serde_json::to_value(&record).unwrap_or_default());
            Ok(record.command_exit_code())
        }
        None => Err(Error::failed(format!(
            "session {} ended without an exit record",
            entry.id
        ))),
    }
}

/// The exit record of the session's last run (the last `started` row of its event log), or an
/// error when the record on disk belongs to an earlier run: never another run's end.
fn last_run_record(
    state: &crate::paths::StateDir,
    key: &SessionKey,
) -> Result<Option<registry::ExitRecord>> {
    let record = registry::read_exit(state, key);
    let last_run = crate::event_stream::read_all(&state.events_path(key))
        .ok()
        .and_then(|rows| {
            rows.iter()
                .rev()
                .find(|r| r.kind() == "started")
                .map(|r| r.session_id().to_string())
        });
    match (record, last_run) {
        (Some(record), Some(last)) if record.session_id != last => Err(Error::failed(format!(
            "the last run of {:?} (session_id {last}) ended without an exit record; the record on disk is of an earlier run ({}). See `harnex events --id {} --snapshot`",
            key.id, record.session_id, key.id
        ))),
        (record, _) => Ok(record),
    }
}

/// `--until task_complete`: the next `task_complete` row of this run appended after the call, or
/// with `--turn N` the completion of turn N (at once if it already happened).
fn wait_task_complete(
    state: &crate::paths::StateDir,
    entry: &registry::RegistryEntry,
    turn: Option<u64>,
    within: Duration,
    started: Instant,
) -> Result<i32> {
    use crate::event_stream::Follower;
    let path = entry
        .events_log_path
        .clone()
        .ok_or_else(|| Error::failed(format!("session {} has no event stream", entry.id)))?;
    // Wakes for each new row and when the supervisor exits; idle, it blocks.
    let mut follower = Follower::open(&path)
        .map_err(|e| Error::failed(format!("cannot read {}: {e}", path.display())))?
        .until_exit_of(entry.supervisor_pid.unwrap_or(entry.pid));
    let deadline = started
        .checked_add(within)
        .unwrap_or_else(|| crate::time::deadline_after(within));
    let mut first = true;
    loop {
        let rows = follower
            .read_rows()
            .map_err(|e| Error::failed(e.to_string()))?;
        for row in rows.iter().filter(|r| r.session_id() == entry.session_id) {
            let value = row.value.clone();
            let row_turn = value["turn"].as_u64().unwrap_or(0);
            let counts = match turn {
                Some(wanted) => row_turn >= wanted,
                // Rows already in the stream when we started are history, not news.
                None => !first,
            };
            if row.kind() == "task_complete" && counts {
                let end: Option<TurnFacts> = serde_json::from_value(value.clone()).ok();
                let failed = end
                    .as_ref()
                    .is_some_and(|e| e.outcome == crate::records::TurnOutcome::Failed);
                print_json(&to_value(&WaitOutcome {
                    ok: !failed,
                    id: entry.id.clone(),
                    event: Some("task_complete".into()),
                    turn: Some(value["turn"].clone()),
                    seq: Some(value["seq"].clone()),
                    waited_seconds: started.elapsed().as_secs_f64(),
                    end,
                    ..WaitOutcome::default()
                }));
                // A turn that failed at the model is not a finished task.
                return Ok(if failed { 1 } else { 0 });
            }
            if row.kind() == "exited" {
                print_json(&ended(&entry.id, "exited", started));
                return Ok(1);
            }
        }
        first = false;
        let now = Instant::now();
        if now >= deadline {
            print_json(&to_value(&WaitOutcome {
                id: entry.id.clone(),
                status: Some("timeout".into()),
                waited_seconds: started.elapsed().as_secs_f64(),
                ..WaitOutcome::default()
            }));
            return Err(Error::timed_out());
        }
        if !entry.is_alive() {
            crate::crash::settle(state, entry);
            print_json(&ended(&entry.id, "exited", started));
            return Ok(1);
        }
        follower.wait(Some(deadline - now));
    }
}

/// Stands in for the `/wait` answer when the session went away: the exit record says the rest.
fn exited_answer() -> Value {
    Value::Object(serde_json::Map::from_iter([(
        "state".to_string(),
        Value::from("exited"),
    )]))
}

/// A wait that ended in `state` without reaching its goal.
fn ended(id: &str, state: &str, started: Instant) -> Value {
    to_value(&WaitOutcome {
        id: id.to_string(),
        state: Some(state.to_string()),
        waited_seconds: started.elapsed().as_secs_f64(),
        ..WaitOutcome::default()
    })
}
