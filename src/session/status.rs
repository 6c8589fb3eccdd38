//! The status payload (Ruby-compatible names plus harnex's own fields): served by `GET /status`
//! and written into the registry.

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::Session;
use super::live::Live;
use super::state::AgentState;
use crate::time::rfc3339;

/// `input_state` as the Ruby harnex reports it: `{state, input_ready[, action]}`.
pub fn input_state(live: &Live) -> Value {
    let state = live.visible_state();
    match (&live.dialog, state) {
        (Some(dialog), AgentState::Blocked) => json!({
            "state": dialog.reason,
            "input_ready": false,
            "action": if dialog.enter_is_safe {
                "press-enter-to-confirm".to_string()
            } else {
                format!("send-keys:{}", dialog.accept_keys.join(","))
            },
            "accept_keys": dialog.accept_keys,
            "enter_is_safe": dialog.enter_is_safe,
        }),
        _ => json!({"state": state.as_str(), "input_ready": state == AgentState::Prompt}),
    }
}

/// `log_mtime` / `log_idle_s` from the transcript file (null when missing or empty).
fn log_activity(session: &Session) -> (Value, Value) {
    match std::fs::metadata(&session.paths.output) {
        Ok(meta) if meta.len() > 0 => match meta.modified() {
            Ok(mtime) => {
                let idle = SystemTime::now()
                    .duration_since(mtime)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                (json!(rfc3339(mtime)), json!(idle))
            }
            Err(_) => (Value::Null, Value::Null),
        },
        _ => (Value::Null, Value::Null),
    }
}

pub fn payload(session: &Session, live: &Live, include_live: bool) -> Map<String, Value> {
    let config = &session.config;
    let (log_mtime, log_idle_s) = log_activity(session);
    let meta_field = |name: &str| {
        config
            .meta
            .as_ref()
            .and_then(|m| m.get(name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let Value::Object(mut map) = json!({
        "ok": true,
        "session_id": config.session_id,
        "repo_root": config.repo_root,
        "repo_key": crate::paths::repo_key(&config.repo_root),
        "cli": config.cli,
        "adapter": session.adapter.name(),
        "id": config.id,
        "pid": session.child_pid,
        "supervisor_pid": std::process::id(),
        "host": config.host.to_string(),
        "port": session.port,
        "mode": config.mode.as_str(),
        "command": config.command,
        "started_at": rfc3339(config.started_at),
        "last_injected_at": live.last_injected_at.map(rfc3339),
        "injected_count": live.injected_count,
        "output_log_path": session.paths.output,
        "transcript_max_bytes": config.transcript_max,
        "transcript_dropped_bytes": session.transcript_dropped.load(std::sync::atomic::Ordering::SeqCst),
        "events_log_path": session.paths.events,
        "log_mtime": log_mtime,
        "log_idle_s": log_idle_s,
        "description": config.description,
        "agent_state": live.visible_state().as_str(),
        "state_since": rfc3339(live.state_since),
        "inbox": live.inbox.stats(),
        "turns": live.turns.completed,
        "turn": {
            "submitted": live.turns.submitted,
            "started": live.turns.started,
            "completed": live.turns.completed,
            "pending": live.pending_turn,
        },
        "last_completed_at": live.last_completed_at.map(rfc3339),
        "done_at": live.done_at.map(rfc3339),
        "last_progress_at": rfc3339(live.progress_at),
        "progress_idle_s": SystemTime::now()
            .duration_since(live.progress_at)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        "model": meta_field("model"),
        "effort": meta_field("effort"),
        "size": {"cols": config.size.0, "rows": config.size.1},
        "meta": config.meta,
        "summary_out": config.summary_out,
        "watch_path": config.watch_file,
        "watch_absolute_path": config.watch_file,
        "watch_debounce_seconds": config.watch_file.as_ref().map(|_| super::file_hook::DEBOUNCE.as_secs_f64()),
    }) else {
        unreachable!("json! of an object literal is an object")
    };
    // What a full disk (or EIO) cost so far: zero in a healthy session.
    if let Value::Object(health) = session.events.health().status_fields() {
        map.extend(health);
    }
    if let Some(pane) = &config.tmux {
        map.insert("tmux_target".into(), json!(pane.target));
        map.insert("tmux_session".into(), json!(pane.session));
        map.insert("tmux_window".into(), json!(pane.window));
        map.insert("tmux_socket".into(), json!(pane.socket));
    }
    if include_live {
        map.insert("input_state".into(), input_state(live));
        map.insert("title".into(), json!(live.title));
        if let Some(dialog) = &live.dialog {
            map.insert("dialog".into(), json!(dialog));
        }
    }
    map
}
