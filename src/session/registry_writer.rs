//! Keeps the session's registry entry (`sessions/<slug>.json`) current. The entry holds the
//! session's whole status, as `GET /status` answers it (the fields that change with the clock
//! alone aside, which the reader computes): `harnex status` reads one file per session and makes
//! no request ([`crate::live_status`]).
//!
//! Its own thread sleeps on the shared state's condition variable and wakes on every update; it
//! rewrites the entry only when the status changed, so an idle session writes nothing and costs
//! nothing. Updates that come while a write is under way, or within [`MIN_INTERVAL`] of it, make
//! one rewrite afterwards. The API also writes it ([`flush`]) before it answers a wait, a send or
//! a stop, so a `status` run after such an answer shows at least what the answer said. Every
//! write builds the status while holding [`Written`]'s lock, so the entry never goes back to an
//! older state after a newer one.
//!
//! Keys another writer added to the entry (the Ruby harnex's tmux annotation writes `tmux_*`
//! and `registry_path`) are kept. A write that fails (a full disk) leaves the last entry in
//! place, so it marks it stale (`sessions/<slug>.stale`, see [`crate::paths::StateDir`]): readers
//! then ask the session itself. The next write that succeeds removes the mark.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::Session;
use crate::json_row::Row;
use crate::wire::records::EntryDocument;

/// The least time between two rewrites by the thread. A burst of output changes the status (its
/// progress time) thousands of times a second; rewriting it for each took as much CPU as
/// parsing the burst. A change after a quiet spell is written at once; within a burst the entry
/// is at most this far behind.
const MIN_INTERVAL: Duration = Duration::from_millis(20);

/// What was last written, shared by the thread and [`flush`].
#[derive(Default)]
pub struct Written {
    /// The document as this session built it (before keys of other writers were merged in).
    bytes: Vec<u8>,
    at: Option<Instant>,
    /// Every key this session has written: any other key in the file is another writer's.
    own_keys: BTreeSet<String>,
    /// The last problem warned about (each is warned once, not on every write).
    warned: Option<String>,
    stale: bool,
}

pub type EntryFile = Mutex<Written>;

/// Run until the agent has exited (the session removes the entry when it ends).
pub fn run(session: Arc<Session>) {
    let mut seen: Option<u64> = None;
    loop {
        let last = session
            .entry_file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .at;
        if let Some(wait) = last.and_then(|at| MIN_INTERVAL.checked_sub(at.elapsed())) {
            std::thread::sleep(wait);
        }
        // Without a deadline the wait ends only with an answer.
        let Some(()) = session.shared.wait_for(None, |_| {
            let updates = session.shared.updates();
            let changed = seen != Some(updates);
            seen = Some(updates);
            changed.then_some(())
        }) else {
            return;
        };
        match write(&session, Force::No) {
            Some(exited) if !exited => {}
            _ => return,
        }
    }
}

/// Write the entry now if the status changed since the last write.
pub fn flush(session: &Session) {
    let _ = write(session, Force::No);
}

/// Write the entry now, changed or not (it was found damaged or missing).
pub fn rewrite(session: &Session) {
    let _ = write(session, Force::Yes);
}

#[derive(PartialEq)]
enum Force {
    Yes,
    No,
}

/// `None` once the session removed its entry for good; else whether the agent has exited.
fn write(session: &Session, force: Force) -> Option<bool> {
    let mut written = session.entry_file.lock().unwrap_or_else(|p| p.into_inner());
    let (document, exited) = {
        let live = session.shared.lock();
        let status = super::status::status_for_entry(session, &live);
        let document = EntryDocument {
            status: &status,
            token: &session.config.token,
            cwd: &session.config.cwd,
            supervisor_started: session.supervisor_started,
        };
        (crate::wire::to_value(&document), live.exit().is_some())
    };
    let (Value::Object(own), Ok(bytes)) = (&document, serde_json::to_vec(&document)) else {
        return Some(exited);
    };
    if force == Force::No && bytes == written.bytes && !written.stale {
        return Some(exited);
    }
    let path = &session.paths.registry;
    let outcome = session.unless_removed(|| {
        let is_own = |key: &str| written.own_keys.contains(key) || own.contains_key(key);
        let others = keys_of_others(path, &session.config.session_id, is_own)?;
        let merged;
        let bytes = if others.is_empty() {
            &bytes
        } else {
            let mut all = own.clone();
            all.extend(others);
            merged = serde_json::to_vec(&all).map_err(|e| Problem::Failed(e.to_string()))?;
            &merged
        };
        crate::paths::write_atomic_volatile(path, bytes).map_err(|e| Problem::Failed(e.to_string()))
    })?;
    match outcome {
        Ok(()) => {
            // Its own mark, or one a crashed run of this id left (on the first write).
            if written.stale || written.at.is_none() {
                let _ = std::fs::remove_file(session.state_dir.stale_mark_path(&session.key()));
            }
            written.own_keys.extend(own.keys().cloned());
            written.bytes = bytes;
            written.at = Some(Instant::now());
            written.warned = None;
            written.stale = false;
        }
        Err(Problem::NotOurs(why)) => warn_once(&mut written, why),
        Err(Problem::Failed(why)) => {
            // The entry left in place would be shown as current: the mark sends readers to the
            // session itself. An empty file needs no free block, so it can be made on a full disk.
            let mark = session.state_dir.stale_mark_path(&session.key());
            let _ = session.unless_removed(|| crate::private_fs::create_new(&mark));
            written.stale = true;
            written.bytes.clear();
            session.events.health().count_error();
            warn_once(&mut written, format!("cannot update the registry: {why}"));
        }
    }
    Some(exited)
}

enum Problem {
    /// The file is another run's entry: left alone.
    NotOurs(String),
    Failed(String),
}

fn warn_once(written: &mut Written, problem: String) {
    if written.warned.as_ref() != Some(&problem) {
        crate::warn!("harnex: {problem}");
        written.warned = Some(problem);
    }
}

/// The keys in the entry at `path` that another writer added (those not `is_own`), with their
/// values; an error when the entry there is another run's.
fn keys_of_others(
    path: &std::path::Path,
    session_id: &str,
    is_own: impl Fn(&str) -> bool,
) -> Result<Map<String, Value>, Problem> {
    let mut others = Map::new();
    let Ok(bytes) = crate::private_fs::read(path) else {
        return Ok(others); // not there (yet, or deleted): written afresh
    };
    let Some(old) = Row::parse(&bytes) else {
        crate::warn!(
            "harnex: the registry entry {} was damaged; rewriting it",
            path.display()
        );
        return Ok(others);
    };
    match old.get_as::<String>("session_id") {
        Some(theirs) if theirs != session_id => {
            return Err(Problem::NotOurs(format!(
                "the registry entry {} belongs to another run ({theirs}); leaving it alone",
                path.display()
            )));
        }
        _ => {}
    }
    for (key, raw) in old.iter() {
        if !is_own(key)
            && let Ok(value) = serde_json::from_str(raw.get())
        {
            others.insert(key.to_string(), value);
        }
    }
    Ok(others)
}
