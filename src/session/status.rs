//! The session's status ([`crate::wire::status::Status`]): served by `GET /status` and, its
//! snapshot part, written into the registry entry.

use std::time::SystemTime;

use super::Session;
use super::live::Live;
use super::state::AgentState;
use crate::time::rfc3339;
use crate::wire::status::{InputState, LiveView, Size, Snapshot, Status, TmuxPane, TurnCounters};

/// `input_state` as the Ruby harnex reports it: `{state, input_ready[, action]}`.
pub fn input_state(live: &Live) -> InputState {
    let state = live.visible_state();
    match (&live.dialog, state) {
        (Some(dialog), AgentState::Blocked) => InputState {
            state: dialog.reason.clone(),
            input_ready: false,
            action: Some(if dialog.enter_is_safe {
                "press-enter-to-confirm".to_string()
            } else {
                format!("send-keys:{}", dialog.accept_keys.join(","))
            }),
            accept_keys: Some(dialog.accept_keys.clone()),
            enter_is_safe: Some(dialog.enter_is_safe),
        },
        _ => InputState {
            state: state.as_str().to_string(),
            input_ready: state == AgentState::Prompt,
            action: None,
            accept_keys: None,
            enter_is_safe: None,
        },
    }
}

/// The turn counters as every answer reports them.
pub fn turn_counters(live: &Live) -> TurnCounters {
    TurnCounters {
        submitted: live.turns.submitted,
        started: live.turns.started,
        completed: live.turns.completed,
        pending: live.pending_turn,
    }
}

/// `log_mtime` / `log_idle_s` from the transcript file (null when missing or empty).
fn log_activity(session: &Session) -> (Option<String>, Option<u64>) {
    match std::fs::metadata(&session.paths.output) {
        Ok(meta) if meta.len() > 0 => match meta.modified() {
            Ok(mtime) => {
                let idle = SystemTime::now()
                    .duration_since(mtime)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                (Some(rfc3339(mtime)), Some(idle))
            }
            Err(_) => (None, None),
        },
        _ => (None, None),
    }
}

/// The retry the screen shows while the agent is busy (it counts attempts against a maximum),
/// with the error the records give; else the one the records report (Codex writes no retries to
/// its records; Claude's transcript shows only that it re-sent its request).
fn retrying(live: &Live) -> Option<crate::wire::turns::Retrying> {
    let from_records = live.ledger.retrying();
    let on_screen = live
        .verdict
        .retry
        .filter(|_| live.state == super::state::AgentState::Busy);
    match on_screen {
        Some(on_screen) => Some(crate::wire::turns::Retrying {
            attempt: Some(on_screen.attempt),
            max: on_screen.max,
            error: from_records.and_then(|r| r.error.clone()),
            source: crate::wire::turns::Source::Screen,
        }),
        None => from_records.cloned(),
    }
}

/// The terminal's size now (`logs --plain` renders the transcript at it).
pub fn current_size(session: &Session, live: &Live) -> Size {
    let (cols, rows) = live.resized_to.unwrap_or(session.config.size);
    Size { cols, rows }
}

/// What the registry entry stores of the status.
pub fn snapshot(session: &Session, live: &Live) -> Snapshot {
    let config = &session.config;
    let (log_mtime, log_idle_s) = log_activity(session);
    let meta_field = |name: &str| {
        config
            .options
            .meta
            .as_ref()
            .and_then(|m| m.get(name))
            .cloned()
            .unwrap_or_default()
    };
    Snapshot {
        last_injected_at: live.last_injected_at.map(rfc3339),
        injected_count: live.injected_count,
        transcript_max_bytes: config.transcript_max,
        transcript_dropped_bytes: session
            .transcript_dropped
            .load(std::sync::atomic::Ordering::SeqCst),
        log_mtime,
        log_idle_s,
        agent_state: live.visible_state().as_str().to_string(),
        state_since: rfc3339(live.state_since),
        inbox: live.inbox.stats(),
        turns: live.turns.completed,
        turn: turn_counters(live),
        last_completed_at: live.last_completed_at.map(rfc3339),
        done_at: live.done_at.map(rfc3339),
        stopping: live.lifecycle.stop_requested(),
        last_progress_at: rfc3339(live.progress_at),
        progress_idle_s: SystemTime::now()
            .duration_since(live.progress_at)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        model: meta_field("model"),
        effort: meta_field("effort"),
        size: current_size(session, live),
        meta: config.options.meta.clone(),
        attribution: config.options.attribution.clone(),
        summary_out: config.options.summary_out.clone(),
        watch_path: config.options.watch_file.clone(),
        watch_absolute_path: config.options.watch_file.clone(),
        watch_debounce_seconds: config
            .options
            .watch_file
            .as_ref()
            .map(|_| super::file_hook::DEBOUNCE.as_secs_f64()),
        records: live.ledger.records().clone(),
        usage: live.ledger.session_usage().cloned(),
        agent_model: live.ledger.model().map(str::to_string),
        last_turn: live.ledger.last().cloned(),
        retrying: retrying(live),
        health: session.events.health().counts(),
        tmux: config.tmux.as_ref().map(|pane| TmuxPane {
            tmux_target: pane.target.clone(),
            tmux_session: pane.session.clone(),
            tmux_window: pane.window.clone(),
            tmux_socket: pane.socket.clone(),
        }),
    }
}

/// The status as the registry entry stores it: the clock fields (`log_mtime`, `log_idle_s`,
/// `progress_idle_s`) left out, for the reader to fill in ([`crate::live_status`]).
pub fn status_for_entry(session: &Session, live: &Live) -> Status {
    let mut status = status(session, live);
    status.snapshot.log_mtime = None;
    status.snapshot.log_idle_s = None;
    status.snapshot.progress_idle_s = 0.0;
    status
}

/// The full status (`GET /status`).
pub fn status(session: &Session, live: &Live) -> Status {
    let config = &session.config;
    Status {
        ok: true,
        session_id: config.session_id.clone(),
        repo_root: config.repo_root.clone(),
        repo_key: crate::paths::repo_key(&config.repo_root),
        cli: config.cli.clone(),
        adapter: session.adapter.name().to_string(),
        id: config.id.clone(),
        pid: session.child_pid,
        supervisor_pid: std::process::id(),
        host: config.options.host.to_string(),
        port: session.port,
        mode: config.mode.as_str().to_string(),
        command: config.command.clone(),
        started_at: rfc3339(config.started_at),
        description: config.options.description.clone(),
        output_log_path: session.paths.output.clone(),
        events_log_path: session.paths.events.clone(),
        snapshot: snapshot(session, live),
        live: Some(LiveView {
            input_state: input_state(live),
            title: live.title.clone(),
            dialog: live.dialog.clone(),
        }),
        registered: None,
    }
}
