//! Crash truth: the record of a run whose supervisor died before it could write one (`kill -9`,
//! OOM, a panic that took the process).
//!
//! Whoever finds such a run — a reader (`status`, `wait`, `events`, any lookup) or the next
//! supervisor of the same id — settles it, under the session lock so it happens once: an exit
//! record for that run's `session_id` with reason `crashed` (if the run has none), the run's
//! `exited` row (if the event log has none; `seq` continues the run's rows), and the removal of
//! its registry entry. Processes still carrying the run's session id are ended then (their pids
//! are `swept_pids` in the record). Only what is known is recorded: the agent's exit status is not
//! (`exit_code`/`code` are `null`), and `exited_at` is when the crash was noticed.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::paths::StateDir;
use crate::registry::{self, EntryError, ExitRecord, RegistryEntry};
use crate::session_lock::{self, SessionLock};
use crate::wire::events::Event;
use crate::wire::records::CrashEnd;

/// How long a reader waits for another reader that is settling the same run.
const PATIENCE: Duration = Duration::from_millis(500);

/// Record the crash of `entry`'s run (its supervisor is dead) and remove its entry — unless
/// someone else did or does it, or the entry changed meanwhile.
pub fn settle(state: &StateDir, entry: &RegistryEntry) {
    let Some(file) = entry.file.as_deref() else {
        return;
    };
    // An entry whose content names another slug than its file is not ours to act on.
    if state.registry_path(&entry.key()) != file {
        return;
    }
    let lock_path = session_lock::lock_path_of_entry(file);
    // Still held after a short wait: a new supervisor of this id owns the slug (it settles the
    // old run itself when it starts).
    let Ok(Some(lock)) = SessionLock::acquire_to_settle(&lock_path, PATIENCE) else {
        return;
    };
    match registry::parse_entry(file) {
        Ok(now) if now.session_id == entry.session_id => {
            record(state, &now);
            let _ = std::fs::remove_file(file);
            let _ = std::fs::remove_file(state.stale_mark_path(&now.key()));
        }
        _ => {}
    }
    lock.release();
}

/// The caller holds the session lock of `key` and is about to start a supervisor: settle
/// whatever run the slot still names (a crashed one) and clear a damaged entry.
pub fn claim_slot(state: &StateDir, registry_file: &Path) {
    match registry::parse_entry(registry_file) {
        Ok(old) => {
            record(state, &old);
            let _ = std::fs::remove_file(registry_file);
        }
        Err(EntryError::Corrupt(_)) => {
            let _ = std::fs::remove_file(registry_file);
        }
        Err(EntryError::Missing) => {}
    }
}

/// Write the crash record and the `exited` row of `entry`'s run, each unless already there.
fn record(state: &StateDir, entry: &RegistryEntry) {
    let key = entry.key();
    let last_state = entry
        .extra
        .get("agent_state")
        .cloned()
        .unwrap_or(Value::Null);
    // The supervisor may have died after writing its record but before its `exited` row: the
    // row then says what the record says.
    let record = match registry::read_exit(state, &key).filter(|r| r.session_id == entry.session_id)
    {
        Some(record) => record,
        None => {
            let record = crash_record(state, entry, &last_state);
            if let Err(e) = registry::write_exit(state, &record) {
                crate::warn!(
                    "harnex: cannot record the crash of session {}: {e}",
                    entry.id
                );
            }
            record
        }
    };
    let events = state.events_path(&key);
    let rows: Vec<Value> = crate::event_stream::read_all(&events)
        .unwrap_or_default()
        .into_iter()
        .filter(|row| row.session_id() == entry.session_id)
        .map(|row| row.value)
        .collect();
    if rows.iter().any(|row| row["type"] == "exited") {
        return;
    }
    let seq = rows
        .iter()
        .filter_map(|row| row["seq"].as_u64())
        .max()
        .unwrap_or(0)
        + 1;
    let line = crate::events::row_line(
        &entry.id,
        &entry.session_id,
        seq,
        &exited_event(&record, &last_state),
    );
    if let Err(e) = crate::events::append_row(&events, &line) {
        crate::warn!("harnex: {e}");
    }
}

fn exited_event(record: &ExitRecord, last_state: &Value) -> Event {
    let crashed = record.reason.as_deref() == Some("crashed");
    Event::Exited {
        code: record.exit_code,
        signal: record.signal,
        // A record without a reason (an older writer's) is not a success we can vouch for.
        reason: record.reason.clone().unwrap_or_else(|| "unknown".into()),
        last_state: crashed.then(|| last_state.as_str().map(str::to_string)),
    }
}

fn crash_record(state: &StateDir, entry: &RegistryEntry, last_state: &Value) -> ExitRecord {
    let key = entry.key();
    let extra = crate::wire::to_object(&CrashEnd {
        reason_detail: "supervisor_died".into(),
        pid: entry.pid,
        supervisor_pid: entry.supervisor_pid,
        // The agent may outlive its supervisor (it ignored the hangup): say so, so it can be found.
        agent_alive: registry::process_alive(entry.pid),
        last_state: last_state.clone(),
        turns: entry.extra.get("turns").cloned().unwrap_or(Value::Null),
        output_log_path: state.output_path(&key),
        events_log_path: state.events_path(&key),
        // What of the run still runs (an agent that ignored the hangup, its background jobs,
        // `setsid` children) belongs to a session that is over: end it once, here.
        swept_pids: crate::sweep::sweep_session_processes(&entry.session_id),
        // As the entry last said (an entry written before attribution existed has none).
        attribution: serde_json::from_value(Value::Object(entry.extra.clone())).unwrap_or_default(),
    });
    ExitRecord {
        ok: true,
        id: entry.id.clone(),
        cli: entry.cli.clone(),
        session_id: entry.session_id.clone(),
        repo_root: entry.repo_root.clone(),
        exit_code: None,
        signal: None,
        started_at: entry.started_at.clone(),
        exited_at: crate::time::now_rfc3339(),
        injected_count: entry
            .extra
            .get("injected_count")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        reason: Some("crashed".to_string()),
        extra,
    }
}
