use std::time::{Duration, Instant};

use super::*;
use crate::records::{ErrorKind, RecordFact, TurnError, TurnOutcome, Usage};
use crate::wire::events::Event;
use crate::wire::turns::{RecordsState, RecordsStatus, Source};

/// The record lag most adapters have.
const LAG: Duration = Duration::from_secs(3);

fn status(state: RecordsState) -> RecordsStatus {
    RecordsStatus {
        state,
        source: Some("codex-rollout".into()),
        path: None,
        why: None,
        agent_session_id: None,
    }
}

/// A ledger following the records with `lag`, and the moment the test's turns start from.
fn following(lag: Duration) -> (Ledger, Instant) {
    let ledger = Ledger::new(status(RecordsState::Following), lag);
    (ledger, Instant::now())
}

/// The `task_complete` rows of turn `turn` ended on the screen's word.
fn screen_ended(turn: u64) -> Vec<(u64, TurnOutcome, Source)> {
    vec![(turn, TurnOutcome::Completed, Source::Screen)]
}

/// The turn the screen saw end at `t0` is held for its record `lag`, not a moment less.
fn assert_holds_for(ledger: &mut Ledger, t0: Instant, lag: Duration) {
    assert_eq!(ledger.next_deadline(), Some(t0 + lag));
    assert!(ledger.tick(t0 + lag - Duration::from_millis(1)).is_empty());
}

fn task_completes(outs: &[LedgerOut]) -> Vec<(u64, TurnOutcome, Source)> {
    outs.iter()
        .filter_map(|o| match o {
            LedgerOut::Emit(event) => match event.as_ref() {
                Event::TaskComplete { turn, end } => {
                    let end = end.as_ref().expect("a task_complete row says how it ended");
                    Some((*turn, end.outcome, end.source))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: Some(input),
        output_tokens: Some(output),
        total_tokens: Some(input + output),
        ..Usage::default()
    }
}

fn ended(outcome: TurnOutcome, answer: Option<&str>, error: Option<TurnError>) -> RecordFact {
    RecordFact::TurnEnded {
        turn_id: Some("t1".into()),
        outcome,
        answer: answer.map(str::to_string),
        error,
    }
}

fn started(turn_id: Option<&str>) -> RecordFact {
    RecordFact::TurnStarted {
        turn_id: turn_id.map(str::to_string),
    }
}

/// A model request of the open turn answered, with its tokens.
fn answered() -> RecordFact {
    RecordFact::Usage {
        turn: Some(usage(100, 5)),
        session: None,
        model: None,
    }
}

#[test]
fn without_records_the_screen_ends_a_turn_at_once() {
    let mut ledger = Ledger::new(status(RecordsState::Unavailable), LAG);
    let outs = ledger.screen_completed(1, Instant::now());
    assert_eq!(task_completes(&outs), screen_ended(1));
    assert_eq!(ledger.completed(), 1);
}

#[test]
fn a_failed_turn_the_screen_saw_end_is_reported_failed_from_its_record() {
    let (mut ledger, t0) = following(LAG);
    assert!(
        ledger
            .fact(
                RecordFact::TurnStarted {
                    turn_id: Some("t1".into())
                },
                Source::Record,
                1
            )
            .is_empty()
    );
    // The screen is back at the prompt first: the turn waits for its record.
    assert!(ledger.screen_completed(1, t0).is_empty());
    assert_eq!(ledger.completed(), 0, "not decided before the record");
    assert_eq!(ledger.next_deadline(), Some(t0 + LAG));
    let error = TurnError {
        kind: ErrorKind::RateLimited,
        message: "exceeded retry limit, last status: 429".into(),
        http_status: Some(429),
    };
    let outs = ledger.fact(
        ended(TurnOutcome::Failed, None, Some(error.clone())),
        Source::Record,
        1,
    );
    assert_eq!(
        task_completes(&outs),
        vec![(1, TurnOutcome::Failed, Source::Record)]
    );
    let result = ledger.result(1).unwrap();
    assert_eq!(result.facts.error.as_ref(), Some(&error));
    assert_eq!(ledger.next_deadline(), None);
}

#[test]
fn a_turn_the_records_end_first_is_closed_through_the_screen_tracker_with_its_answer_and_usage() {
    let mut ledger = Ledger::new(status(RecordsState::Following), LAG);
    ledger.fact(
        RecordFact::Usage {
            turn: Some(usage(10, 1)),
            session: Some(usage(10, 1)),
            model: None,
        },
        Source::Record,
        0,
    );
    ledger.fact(
        RecordFact::TurnStarted {
            turn_id: Some("t1".into()),
        },
        Source::Record,
        1,
    );
    let outs = ledger.fact(
        RecordFact::Usage {
            turn: Some(usage(100, 5)),
            session: Some(usage(110, 6)),
            model: Some("mock-model".into()),
        },
        Source::Record,
        1,
    );
    assert!(
        matches!(outs.as_slice(), [LedgerOut::Emit(e)] if matches!(e.as_ref(), Event::Usage(_)))
    );
    let outs = ledger.fact(
        ended(TurnOutcome::Completed, Some("all done"), None),
        Source::Record,
        1,
    );
    assert!(matches!(outs.as_slice(), [LedgerOut::CompleteTurn(1)]));
    // The tracker closes the turn; only then the row, with the record's facts.
    let outs = ledger.screen_completed(1, Instant::now());
    assert_eq!(
        task_completes(&outs),
        vec![(1, TurnOutcome::Completed, Source::Record)]
    );
    let facts = &ledger.result(1).unwrap().facts;
    assert_eq!(facts.answer.as_deref(), Some("all done"));
    let usage_of_turn = facts.usage.as_ref().unwrap();
    assert_eq!(
        usage_of_turn.turn,
        Some(usage(100, 5)),
        "the session's growth during the turn"
    );
    assert_eq!(usage_of_turn.session, Some(usage(110, 6)));
    assert_eq!(usage_of_turn.model.as_deref(), Some("mock-model"));
}

#[test]
fn an_overdue_record_lets_the_screen_decide_and_a_late_record_still_corrects_status() {
    let (mut ledger, t0) = following(LAG);
    ledger.screen_completed(1, t0);
    assert_holds_for(&mut ledger, t0, LAG);
    let outs = ledger.tick(t0 + LAG);
    assert_eq!(task_completes(&outs), screen_ended(1));
    let error = TurnError {
        kind: ErrorKind::Overloaded,
        message: "529".into(),
        http_status: Some(529),
    };
    let outs = ledger.fact(
        ended(TurnOutcome::Failed, None, Some(error)),
        Source::Record,
        1,
    );
    assert!(task_completes(&outs).is_empty(), "one row per turn");
    assert_eq!(ledger.result(1).unwrap().facts.outcome, TurnOutcome::Failed);
}

/// OpenCode's `session.idle` comes seconds after its answer on a loaded machine: its longer lag
/// holds the turn past the 3 s most agents get, so the record (a failure here) still decides.
#[test]
fn a_longer_record_lag_waits_longer_for_the_record() {
    let lag = Duration::from_secs(6);
    let (mut ledger, t0) = following(lag);
    ledger.fact_at(started(Some("t1")), Source::Record, 1, t0);
    assert!(ledger.screen_completed(1, t0).is_empty());
    assert_eq!(ledger.next_deadline(), Some(t0 + lag));
    assert!(
        ledger.tick(t0 + LAG).is_empty(),
        "the default lag is not this one"
    );
    assert!(ledger.tick(t0 + lag - Duration::from_millis(1)).is_empty());
    let error = TurnError {
        kind: ErrorKind::RateLimited,
        message: "429".into(),
        http_status: Some(429),
    };
    let outs = ledger.fact_at(
        ended(TurnOutcome::Failed, None, Some(error)),
        Source::Record,
        1,
        t0 + lag - Duration::from_millis(1),
    );
    assert_eq!(
        task_completes(&outs),
        vec![(1, TurnOutcome::Failed, Source::Record)]
    );
    assert_eq!(ledger.next_deadline(), None);
}

/// Under load OpenCode took the message 7 s after the Enter and drew busy a second later: the
/// screen had taken the prompt that held for its grace as a very fast answer. The records said
/// the turn started only after that, so the screen's word does not stand while they hold the
/// turn open, however long it runs.
#[test]
fn a_turn_the_records_started_after_the_screen_saw_it_end_is_theirs_to_end() {
    let lag = Duration::from_secs(6);
    let secs = Duration::from_secs;
    let (mut ledger, t0) = following(lag);
    assert!(ledger.screen_completed(1, t0).is_empty());
    assert!(
        ledger
            .fact_at(
                started(Some("t1")),
                Source::Record,
                1,
                t0 + Duration::from_millis(107)
            )
            .is_empty()
    );
    assert_eq!(ledger.next_deadline(), None, "the records have it");
    assert!(ledger.tick(t0 + secs(60)).is_empty());
    ledger.fact_at(answered(), Source::Record, 1, t0 + secs(61));
    assert!(ledger.tick(t0 + secs(70)).is_empty());
    let outs = ledger.fact_at(
        ended(TurnOutcome::Completed, Some("done"), None),
        Source::Record,
        1,
        t0 + secs(71),
    );
    assert_eq!(
        task_completes(&outs),
        vec![(1, TurnOutcome::Completed, Source::Record)]
    );
}

/// Such a turn whose end never comes (its events were lost) is not held for ever: once the
/// records move on to the next turn, the screen's word stands one lag after the last record of
/// it.
#[test]
fn a_late_started_turn_whose_end_never_comes_ends_on_the_screens_word_after_the_next_starts() {
    let lag = Duration::from_secs(6);
    let (mut ledger, t0) = following(lag);
    ledger.screen_completed(1, t0);
    let t1 = t0 + Duration::from_secs(4);
    ledger.fact_at(started(None), Source::Record, 1, t1);
    assert!(ledger.tick(t1 + lag * 10).is_empty());
    let t2 = t1 + lag * 10;
    ledger.fact_at(started(None), Source::Record, 2, t2);
    assert_eq!(ledger.next_deadline(), Some(t1 + lag));
    assert_eq!(task_completes(&ledger.tick(t2)), screen_ended(1));
}

/// A turn the records saw start before the screen saw it end: a later record of it at work
/// (a request answered) starts the wait for its end again.
#[test]
fn a_record_of_the_turn_at_work_restarts_the_wait_for_its_end() {
    let lag = Duration::from_secs(3);
    let secs = Duration::from_secs;
    let (mut ledger, t0) = following(lag);
    ledger.fact_at(started(None), Source::Record, 1, t0);
    ledger.screen_completed(1, t0 + secs(1));
    assert_eq!(ledger.next_deadline(), Some(t0 + secs(1) + lag));
    ledger.fact_at(answered(), Source::Record, 1, t0 + secs(3));
    assert!(ledger.tick(t0 + secs(1) + lag).is_empty());
    assert_eq!(ledger.next_deadline(), Some(t0 + secs(3) + lag));
    assert_eq!(
        task_completes(&ledger.tick(t0 + secs(3) + lag)),
        screen_ended(1)
    );
}

/// A shorter lag lets the screen's word stand sooner.
#[test]
fn a_shorter_record_lag_lets_the_screen_decide_sooner() {
    let lag = Duration::from_millis(500);
    let (mut ledger, t0) = following(lag);
    ledger.screen_completed(1, t0);
    assert_holds_for(&mut ledger, t0, lag);
    assert_eq!(task_completes(&ledger.tick(t0 + lag)), screen_ended(1));
}

#[test]
fn the_same_turn_end_from_a_hook_and_the_record_is_recorded_once_and_filled_in() {
    let mut ledger = Ledger::new(status(RecordsState::Following), LAG);
    ledger.fact(
        RecordFact::TurnStarted {
            turn_id: Some("t1".into()),
        },
        Source::Record,
        1,
    );
    // The hook's word waits a moment for the record's.
    let outs = ledger.fact(ended(TurnOutcome::Completed, None, None), Source::Hook, 1);
    assert!(outs.is_empty());
    assert!(ledger.next_deadline().is_some());
    // The record of the same turn adds the answer, and the turn ends: one row.
    let outs = ledger.fact(
        ended(TurnOutcome::Completed, Some("hello"), None),
        Source::Record,
        1,
    );
    assert!(matches!(outs.as_slice(), [LedgerOut::CompleteTurn(1)]));
    let outs = ledger.screen_completed(1, Instant::now());
    assert_eq!(task_completes(&outs).len(), 1);
    let again = ledger.fact(
        ended(TurnOutcome::Completed, Some("again"), None),
        Source::Record,
        1,
    );
    assert!(task_completes(&again).is_empty());
    let facts = &ledger.result(1).unwrap().facts;
    assert_eq!(facts.source, Source::Hook, "the first source is kept");
    assert_eq!(facts.answer.as_deref(), Some("hello"));
}

#[test]
fn a_turn_harnex_did_not_start_is_remembered_without_a_task_complete_row() {
    let mut ledger = Ledger::new(status(RecordsState::Following), LAG);
    ledger.fact(RecordFact::TurnStarted { turn_id: None }, Source::Record, 0);
    let outs = ledger.fact(
        RecordFact::TurnEnded {
            turn_id: None,
            outcome: TurnOutcome::Completed,
            answer: Some("typed by a person".into()),
            error: None,
        },
        Source::Record,
        0,
    );
    assert!(outs.is_empty());
    assert_eq!(ledger.last().unwrap().turn, None);
    assert_eq!(ledger.completed(), 0);
}

#[test]
fn records_that_become_unavailable_release_held_turns() {
    let mut ledger = Ledger::new(status(RecordsState::Waiting), LAG);
    ledger.screen_completed(1, Instant::now());
    let outs = ledger.unavailable("the agent exited before it wrote its records".into());
    assert_eq!(task_completes(&outs), screen_ended(1));
}

#[test]
fn answers_are_masked_and_bounded() {
    let mut ledger = Ledger::new(status(RecordsState::Following), LAG);
    ledger.fact(
        RecordFact::TurnStarted {
            turn_id: Some("t1".into()),
        },
        Source::Record,
        1,
    );
    let long = format!(
        "key sk-ant-api03-{} {}",
        "a".repeat(40),
        "x".repeat(100_000)
    );
    ledger.fact(
        ended(TurnOutcome::Completed, Some(&long), None),
        Source::Record,
        1,
    );
    ledger.screen_completed(1, Instant::now());
    let answer = ledger.result(1).unwrap().facts.answer.clone().unwrap();
    assert!(!answer.contains("sk-ant-api03-aaaa"), "{}", &answer[..60]);
    assert!(answer.len() <= 64 * 1024);
}

#[test]
fn a_hook_ahead_of_the_record_ends_the_turn_and_the_record_fills_in_its_usage() {
    let mut ledger = Ledger::new(status(RecordsState::Following), LAG);
    // Claude's Stop hook runs before its transcript rows reach the file.
    let hook_end = RecordFact::TurnEnded {
        turn_id: None,
        outcome: TurnOutcome::Completed,
        answer: Some("done".into()),
        error: None,
    };
    let outs = ledger.fact(hook_end, Source::Hook, 1);
    assert!(outs.is_empty(), "waits for the record");
    // Then the record of the same turn: its start, its usage, its end.
    let mut later = Vec::new();
    later.extend(ledger.fact(
        RecordFact::TurnStarted {
            turn_id: Some("p1".into()),
        },
        Source::Record,
        1,
    ));
    later.extend(ledger.fact(
        RecordFact::Usage {
            turn: Some(usage(10, 2)),
            session: Some(usage(10, 2)),
            model: None,
        },
        Source::Record,
        1,
    ));
    later.extend(ledger.fact(
        ended(TurnOutcome::Completed, Some("done"), None),
        Source::Record,
        1,
    ));
    assert!(matches!(
        later.as_slice(),
        [LedgerOut::Emit(_), LedgerOut::CompleteTurn(1)]
    ));
    let outs = ledger.screen_completed(1, Instant::now());
    assert_eq!(
        task_completes(&outs),
        vec![(1, TurnOutcome::Completed, Source::Hook)]
    );
    let last = ledger.last().unwrap();
    assert_eq!(last.turn, Some(1), "the record's turn is the hook's");
    assert_eq!(last.facts.source, Source::Hook);
    assert_eq!(
        last.facts.usage.as_ref().and_then(|u| u.session.clone()),
        Some(usage(10, 2))
    );
    assert_eq!(ledger.results.len(), 1, "no turn of its own for the record");
}

#[test]
fn a_failed_turn_from_a_hook_while_the_record_turn_is_open_is_failed_once() {
    let mut ledger = Ledger::new(status(RecordsState::Following), LAG);
    ledger.fact(
        RecordFact::TurnStarted {
            turn_id: Some("p1".into()),
        },
        Source::Record,
        1,
    );
    let error = TurnError {
        kind: ErrorKind::Overloaded,
        message: "overloaded".into(),
        http_status: None,
    };
    let outs = ledger.fact(
        RecordFact::TurnEnded {
            turn_id: None,
            outcome: TurnOutcome::Failed,
            answer: None,
            error: Some(error),
        },
        Source::Hook,
        1,
    );
    assert!(outs.is_empty());
    let outs = ledger.fact(ended(TurnOutcome::Failed, None, None), Source::Record, 1);
    assert!(matches!(outs.as_slice(), [LedgerOut::CompleteTurn(1)]));
    let outs = ledger.screen_completed(1, Instant::now());
    assert_eq!(
        task_completes(&outs),
        vec![(1, TurnOutcome::Failed, Source::Hook)]
    );
    assert_eq!(ledger.results.len(), 1);
}

#[test]
fn a_hook_whose_record_never_comes_ends_the_turn_after_a_moment() {
    let (mut ledger, t0) = following(LAG);
    let hook_end = RecordFact::TurnEnded {
        turn_id: None,
        outcome: TurnOutcome::Completed,
        answer: Some("done".into()),
        error: None,
    };
    assert!(ledger.fact_at(hook_end, Source::Hook, 1, t0).is_empty());
    assert_eq!(ledger.next_deadline(), Some(t0 + HOOK_LAG));
    assert!(ledger.tick(t0 + HOOK_LAG / 2).is_empty());
    let outs = ledger.tick(t0 + HOOK_LAG);
    assert!(matches!(outs.as_slice(), [LedgerOut::CompleteTurn(1)]));
    let outs = ledger.screen_completed(1, t0 + HOOK_LAG);
    assert_eq!(
        task_completes(&outs),
        vec![(1, TurnOutcome::Completed, Source::Hook)]
    );
}

#[test]
fn without_records_a_hook_ends_the_turn_at_once() {
    let mut ledger = Ledger::new(status(RecordsState::Unavailable), LAG);
    let failed = RecordFact::TurnEnded {
        turn_id: None,
        outcome: TurnOutcome::Failed,
        answer: None,
        error: Some(TurnError {
            kind: ErrorKind::RateLimited,
            message: "rate limit".into(),
            http_status: None,
        }),
    };
    let outs = ledger.fact(failed, Source::Hook, 1);
    assert!(matches!(outs.as_slice(), [LedgerOut::CompleteTurn(1)]));
    let outs = ledger.screen_completed(1, Instant::now());
    assert_eq!(
        task_completes(&outs),
        vec![(1, TurnOutcome::Failed, Source::Hook)]
    );
}

#[test]
fn once_a_turn_waited_out_a_record_file_never_found_later_turns_do_not_wait() {
    let mut ledger = Ledger::new(status(RecordsState::Waiting), LAG);
    let t0 = Instant::now();
    assert!(
        ledger.screen_completed(1, t0).is_empty(),
        "the first turn waits"
    );
    let outs = ledger.tick(t0 + LAG);
    assert_eq!(task_completes(&outs), screen_ended(1));
    // The file is still not there: the next turn ends on the screen's word at once.
    let outs = ledger.screen_completed(2, t0 + LAG * 2);
    assert_eq!(task_completes(&outs), screen_ended(2));
    // Found after all: turns wait for their record again.
    ledger.following(std::path::PathBuf::from("/records/late.jsonl"));
    assert!(ledger.screen_completed(3, t0 + LAG * 3).is_empty());
}
