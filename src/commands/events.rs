//! `harnex events`: print a session's event rows; by default keep following until the current
//! run's `exited` row.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::cli::EventsArgs;
use crate::error::{Error, Result};
use crate::event_stream::{FollowError, Follower, Row};
use crate::paths::StateDir;
use crate::registry::{RegistryEntry, Resolved, SessionFile};

/// How long a stream may stay silent after its supervisor died before we stop following.
const GONE_GRACE: Duration = Duration::from_secs(1);

pub fn run(args: EventsArgs) -> Result<i32> {
    let from = args.from.as_deref().map(parse_from).transpose()?;
    let (state, path, live) = locate(&args)?;
    let mut follower = Follower::open(&path)
        .map_err(|e| Error::failed(format!("cannot read {}: {e}", path.display())))?;
    let rows = follower.read_rows().map_err(follow_error)?;
    // The run to follow: the live one, else the last run in the stream.
    let current = match &live {
        Some(entry) => entry.session_id.clone(),
        None => rows
            .iter()
            .rev()
            .find(|r| r.kind() == "started")
            .map(|r| r.session_id().to_string())
            .unwrap_or_default(),
    };
    let mut out = std::io::stdout().lock();
    let ended = print(&mut out, &rows, from, &current);
    if args.snapshot || ended || live.is_none() {
        return Ok(0);
    }
    let Some(entry) = live else {
        return Ok(0);
    };
    // Wakes for each new row and when the supervisor exits; idle, it blocks.
    let mut follower = follower.until_exit_of(entry.supervisor_pid.unwrap_or(entry.pid));
    let mut gone_since: Option<Instant> = None;
    let mut rows = Vec::new();
    loop {
        // (Liveness is checked after the exit watch was set up: no exit goes unnoticed.)
        if rows.is_empty() && !entry.is_alive() {
            // The supervisor died without writing `exited` (killed): record its crash, which
            // appends the run's `exited` row (reason `crashed`) for the next read to find.
            if gone_since.is_none() {
                crate::crash::settle(&state, &entry);
            }
            let since = *gone_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= GONE_GRACE {
                return Err(Error::failed(format!(
                    "session {} ended without an exited event (its supervisor was killed)",
                    entry.id
                )));
            }
        }
        follower.wait(gone_since.map(|since| GONE_GRACE.saturating_sub(since.elapsed())));
        rows = follower.read_rows().map_err(follow_error)?;
        if print(&mut out, &rows, from, &current) {
            return Ok(0);
        }
    }
}

fn follow_error(e: FollowError) -> Error {
    Error::failed(e.to_string())
}

/// The stream of the session: live, or left behind by an ended one.
fn locate(args: &EventsArgs) -> Result<(StateDir, PathBuf, Option<RegistryEntry>)> {
    let (state, selector) = super::selector(&args.id.id, &args.target)?;
    let not_found = || {
        Error::failed(format!(
            "no session or event stream found for id {:?}; list sessions with `harnex status --all`",
            selector.id
        ))
    };
    match selector.resolve(&state)? {
        Resolved::Live(entry) => {
            let path = entry
                .events_log_path
                .clone()
                .unwrap_or_else(|| state.events_path(&entry.key()));
            if !path.exists() {
                return Err(not_found());
            }
            Ok((state, path, Some(*entry)))
        }
        Resolved::None { .. } => match selector.find_file(&state, SessionFile::Events)? {
            Some(path) => Ok((state, path, None)),
            None => Err(not_found()),
        },
    }
}

/// `--from`: an RFC 3339 time, or a duration back from now (`5m`, `2h`, `1d`).
fn parse_from(text: &str) -> Result<SystemTime> {
    if let Some(time) = crate::time::parse_rfc3339(text) {
        return Ok(time);
    }
    crate::time::parse_duration(text)
        .ok()
        .and_then(|ago| SystemTime::now().checked_sub(ago))
        .ok_or_else(|| {
            Error::usage(format!(
                "--from {text:?} is neither an RFC 3339 time nor a duration ago; use e.g. 2026-11-21T08:00:00Z or 5m"
            ))
        })
}

/// Print rows (those at or after `from`); true once the `exited` row of `current` went by.
fn print(out: &mut impl Write, rows: &[Row], from: Option<SystemTime>, current: &str) -> bool {
    let mut ended = false;
    for row in rows {
        let keep = match from {
            None => true,
            Some(from) => crate::time::parse_rfc3339(row.field("ts")).is_some_and(|ts| ts >= from),
        };
        if keep {
            let _ = writeln!(out, "{}", row.raw);
        }
        if row.kind() == "exited" && row.session_id() == current {
            ended = true;
        }
    }
    let _ = out.flush();
    ended
}
