//! Carrying out what a key asked for ([`Effect`]): requests to a session's API (send, answer a
//! dialog, stop, its screen), reading its event log or rendered transcript, switching tmux to
//! its window. Each call is short and bounded by a timeout; what became of it is a note in the
//! footer. Runs on the dashboard's main thread.

use std::time::Duration;

use serde_json::Value;

use super::app::{App, Effect, Mode, Page, PageKind};
use super::model::SessionRow;
use crate::client::Client;
use crate::paths::StateDir;
use crate::registry::RegistryEntry;
use crate::wire::requests::{KeySpec, SendRequest, StopRequest};

/// Budget of one request made for a key press.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Event rows and log lines a page keeps (the newest).
const PAGE_LINES: u64 = 2000;

pub fn perform(app: &mut App, state: &StateDir, effect: Effect) {
    match effect {
        Effect::Send { entry, text } => send(app, &entry, text),
        Effect::Keys { entry, keys } => answer(app, &entry, keys),
        Effect::Stop(entry) => stop(app, &entry),
        Effect::Open(kind, row) => match page(state, kind, &row) {
            Ok(page) => app.mode = Mode::Page(page),
            Err(why) => app.fail(why),
        },
        Effect::Tmux { id, socket, pane } => match switch_tmux(socket.as_deref(), &pane) {
            Ok(()) => app.done(format!("switched tmux to {id}")),
            Err(why) => app.fail(format!("cannot switch to {id}'s window: {why}")),
        },
    }
}

fn send(app: &mut App, entry: &RegistryEntry, text: String) {
    let body = SendRequest {
        text: Some(text),
        submit: Some(Some(true)),
        wait: Some(Some(false)),
        ..SendRequest::default()
    };
    match Client::for_entry(entry).post("/send", &body, CALL_TIMEOUT) {
        Ok(answer) => app.done(format!(
            "sent to {}: {}{}",
            entry.id,
            answer["status"].as_str().unwrap_or("taken"),
            turn_of(&answer)
        )),
        Err(e) => app.fail(format!("cannot send to {}: {e}", entry.id)),
    }
}

fn turn_of(answer: &Value) -> String {
    answer["turn"]
        .as_u64()
        .map(|t| format!(" (turn {t})"))
        .unwrap_or_default()
}

fn answer(app: &mut App, entry: &RegistryEntry, keys: Vec<String>) {
    let joined = keys.join(",");
    let body = SendRequest {
        keys: Some(KeySpec::List(keys)),
        ..SendRequest::default()
    };
    match Client::for_entry(entry).post("/send", &body, CALL_TIMEOUT) {
        Ok(_) => app.done(format!("answered {}'s dialog with {joined}", entry.id)),
        Err(e) => app.fail(format!("cannot answer {}'s dialog: {e}", entry.id)),
    }
}

fn stop(app: &mut App, entry: &RegistryEntry) {
    let body = StopRequest {
        force: Some(false),
        grace_ms: None,
    };
    match Client::for_entry(entry).post("/stop", &body, CALL_TIMEOUT) {
        Ok(_) => app.done(format!("stopping {}", entry.id)),
        Err(e) => app.fail(format!(
            "cannot stop {}: {e}; try `harnex stop --id {} --force`",
            entry.id, entry.id
        )),
    }
}

/// The text of a page about `row`.
pub fn page(state: &StateDir, kind: PageKind, row: &SessionRow) -> Result<Page, String> {
    let lines = match kind {
        PageKind::Screen => screen(row)?,
        PageKind::Events => events(state, row)?,
        PageKind::Log => log(state, row)?,
    };
    Ok(Page {
        kind,
        slug: row.slug.clone(),
        title: row.id.clone(),
        lines,
        back: 0,
    })
}

/// The emulated screen, without its trailing blank rows.
fn screen(row: &SessionRow) -> Result<Vec<String>, String> {
    let entry = row
        .entry
        .as_ref()
        .ok_or_else(|| format!("{} has ended, so it has no screen", row.id))?;
    let body = Client::for_entry(entry)
        .get("/screen", CALL_TIMEOUT)
        .map_err(|e| format!("cannot read {}'s screen: {e}", row.id))?;
    let mut lines: Vec<String> = body["text"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    Ok(lines)
}

/// The run's event rows, one line each: time, type, and the rest of the row.
fn events(state: &StateDir, row: &SessionRow) -> Result<Vec<String>, String> {
    let path = state
        .root()
        .join("events")
        .join(format!("{}.jsonl", row.slug));
    let bytes = crate::private_fs::read(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<String> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["session_id"].as_str() == Some(row.run.as_str()))
        .map(|v| event_line(&v))
        .collect();
    let keep = PAGE_LINES as usize;
    if lines.len() > keep {
        lines.drain(..lines.len() - keep);
    }
    Ok(lines)
}

fn event_line(row: &Value) -> String {
    let time = row["ts"]
        .as_str()
        .and_then(|ts| ts.get(11..19))
        .unwrap_or("")
        .to_string();
    let kind = row["type"].as_str().unwrap_or("?");
    let rest: Vec<String> = row
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "ts" | "type" | "id" | "session_id" | "schema_version" | "seq"
            )
        })
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    format!("{time} {kind:<13} {}", rest.join(" "))
}

/// The transcript as `harnex logs --plain` renders it.
fn log(state: &StateDir, row: &SessionRow) -> Result<Vec<String>, String> {
    let path = state
        .root()
        .join("output")
        .join(format!("{}.log", row.slug));
    let mut file = crate::private_fs::open_read(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let size = crate::commands::logs::plain::size_of(row.entry.as_ref(), state, &path);
    crate::commands::logs::plain::last_rows(&mut file, size, PAGE_LINES)
        .map_err(|e| format!("cannot render {}: {e}", path.display()))
}

/// Make the tmux client we run in show the pane's window. Only from inside tmux: outside, there
/// is no client to switch.
fn switch_tmux(socket: Option<&std::path::Path>, pane: &str) -> Result<(), String> {
    if std::env::var_os("TMUX").is_none_or(|v| v.is_empty()) {
        return Err("the dashboard is not running inside tmux: `tmux attach` and look for the window, or press Enter for its screen here".into());
    }
    for args in [["select-window", "-t", pane], ["switch-client", "-t", pane]] {
        let mut command = std::process::Command::new("tmux");
        if let Some(socket) = socket {
            command.arg("-S").arg(socket);
        }
        let out = command
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot run tmux: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
    }
    Ok(())
}
