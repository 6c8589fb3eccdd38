//! The end of a session: usage, git changes, exit classification, the dispatch summary, the exit
//! record and the closing events, in that order (`usage → git(end) → summary → exited`). The exit
//! record is written before the `exited` row, so whoever sees that row finds the record.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::Session;
use super::live::ChildExit;
use crate::registry::{self, ExitRecord};
use crate::telemetry::{self, git, summary};
use crate::wire::events::{Event, GitRow, UsageRow};
use crate::wire::records::SessionEnd;
use crate::wire::turns::{RecordsState, Source, TurnOutcome};

/// How much of the transcript's end adapters read for exit lines.
const TAIL_BYTES: u64 = 16 * 1024;

/// How long the end of a session waits for the record follower to read the agent's last rows.
const RECORDS_DRAIN: Duration = Duration::from_secs(2);

pub fn record_end(session: &Session, exit: ChildExit) -> ExitRecord {
    session
        .shared
        .wait_for(Some(Instant::now() + RECORDS_DRAIN), |live| {
            live.records_done.then_some(())
        });
    let (ever_ready, stop_requested, injected_count, turns) = {
        let live = session.shared.lock();
        (
            live.lifecycle.ever_ready(),
            live.lifecycle.stop_requested(),
            live.injected_count,
            live.turns.completed,
        )
    };
    let (records, last_turn, record_usage) = {
        let live = session.shared.lock();
        let ledger = &live.ledger;
        (
            ledger.records().clone(),
            ledger.last().cloned(),
            ledger.session_usage().cloned(),
        )
    };
    let tail = super::transcript_tail(&session.paths.output, TAIL_BYTES);
    // The agent's records, where they exist, say what the screen's last lines can only suggest.
    let (usage, usage_source) = match &record_usage {
        Some(tokens) => (
            tokens.exit_summary(records.agent_session_id.clone()),
            Source::Record,
        ),
        None => (
            session.adapter.exit_usage(&tail, &session.config.cwd),
            Source::Screen,
        ),
    };
    let gave_up = match (&records.state, &last_turn) {
        (RecordsState::Unavailable, _) | (_, None) => session
            .adapter
            .gave_up_on_model(&crate::text::strip_ansi(&tail)),
        (_, Some(last)) => last.facts.outcome == TurnOutcome::Failed,
    };
    let typed_ctrl_c = session
        .adapter
        .exit_sequence()
        .iter()
        .any(|key| key.bytes.contains(&0x03));
    let reason = telemetry::classify_exit(exit, ever_ready, stop_requested, gave_up, typed_ctrl_c);

    session.events.emit(&Event::Usage(UsageRow {
        totals: usage.clone(),
        request: None,
        model: None,
        source: Some(usage_source),
        key: Some("usage:exit".into()),
    }));
    let git_end = session
        .git_start
        .as_ref()
        .and_then(|start| git::capture_end(&session.config.repo_root, start));
    if let Some(end) = &git_end {
        session.events.emit(&Event::Git(GitRow::end(end)));
    }
    let summary_path = write_summary(session, reason, &usage, git_end.as_ref());
    session.events.emit(&Event::Summary {
        path: summary_path,
        exit: reason.to_string(),
    });

    let size = super::status::current_size(session, &session.shared.lock());
    let details = SessionEnd {
        reason_detail: if stop_requested { "stopped" } else { "exited" }.to_string(),
        turns,
        summary: usage.clone(),
        git: git_end.clone(),
        output_log_path: session.paths.output.clone(),
        transcript_dropped_bytes: session
            .transcript_dropped
            .load(std::sync::atomic::Ordering::SeqCst),
        events_log_path: session.paths.events.clone(),
        records,
        last_turn,
        attribution: session.config.options.attribution.clone(),
        size,
    };
    let record = ExitRecord {
        ok: true,
        id: session.config.id.clone(),
        cli: session.config.cli.clone(),
        session_id: session.config.session_id.clone(),
        repo_root: session.config.repo_root.clone(),
        exit_code: Some(exit.code),
        signal: exit.signal,
        started_at: crate::time::rfc3339(session.config.started_at),
        exited_at: crate::time::now_rfc3339(),
        injected_count,
        reason: Some(reason.to_string()),
        extra: crate::wire::to_object(&details),
    };
    let deadline = Instant::now() + PERSIST_RETRY;
    write_exit_record(session, &record, deadline);
    session.events.emit(&Event::Exited {
        code: Some(exit.code),
        signal: exit.signal,
        reason: reason.to_string(),
        last_state: None,
    });
    // Rows a full disk held back go out now if they can; the process is about to end.
    while session.events.pending() > 0 && Instant::now() < deadline {
        std::thread::sleep(RETRY_EVERY);
        session.events.retry_pending();
    }
    record
}

/// How long the end of a session keeps trying to write its record and last rows when the disk
/// refuses them (a full disk that gets space back soon loses nothing).
const PERSIST_RETRY: Duration = Duration::from_secs(10);
const RETRY_EVERY: Duration = Duration::from_millis(200);

/// Write the exit record, retrying until `deadline` while the disk refuses it: without it,
/// `wait` cannot tell how the run ended.
fn write_exit_record(session: &Session, record: &ExitRecord, deadline: Instant) {
    let mut said = false;
    loop {
        match registry::write_exit(&session.state_dir, record) {
            Ok(()) => return,
            Err(e) => {
                session.events.health().count_error();
                if !said {
                    said = true;
                    crate::warn!(
                        "harnex: cannot write the exit record: {e}; retrying for {}s",
                        PERSIST_RETRY.as_secs()
                    );
                }
            }
        }
        if Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(RETRY_EVERY);
    }
}

/// Append the dispatch summary, if the session has a destination. Returns where it went.
fn write_summary(
    session: &Session,
    reason: &str,
    usage: &crate::adapters::ExitSummary,
    git_end: Option<&git::GitEnd>,
) -> Option<String> {
    let path = session.config.options.summary_out.as_ref()?;
    let counts = event_counts(session);
    let record = summary::build(&summary::Facts {
        id: &session.config.id,
        session_id: &session.config.session_id,
        description: session.config.options.description.as_deref(),
        agent: session.adapter.name(),
        repo: &session.config.repo_root,
        started_at: session.config.started_at,
        ended_at: std::time::SystemTime::now(),
        meta: session.config.options.meta.as_ref(),
        git_start: session.git_start.as_ref(),
        git_end,
        usage,
        exit: reason,
        stalls: counts("log_idle"),
        force_resumes: counts("resume"),
        compactions: counts("compaction"),
    });
    match summary::append(path, &record) {
        Ok(()) => Some(path.display().to_string()),
        Err(e) => {
            session.events.health().count_error();
            crate::warn!(
                "harnex: failed to write dispatch summary to {}: {e}",
                path.display()
            );
            None
        }
    }
}

/// Count this run's rows of a type in the event log (the watcher's stalls and resumes land there).
fn event_counts(session: &Session) -> impl Fn(&str) -> u64 {
    let rows: Vec<Value> = crate::event_stream::read_all(&session.paths.events)
        .unwrap_or_default()
        .into_iter()
        .map(|row| row.value)
        .filter(|row| row["session_id"] == session.config.session_id.as_str())
        .collect();
    move |kind: &str| rows.iter().filter(|row| row["type"] == kind).count() as u64
}
