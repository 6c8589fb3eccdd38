//! The Codex parser over real rollout files (`tests/fixtures/records/codex-*.jsonl`, recorded
//! from Codex 0.169.0 and 0.171.0 against a mock model) and over broken input.

use super::*;

const VERSIONS: [&str; 2] = ["0.169.0", "0.171.0"];
/// What the recording mock answered and reported (see tests/fixtures/records/README.md).
const MOCK_ANSWER: &str = "The mock model says: all done, 42 files checked.";

fn fixture(version: &str, case: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/records/codex-{version}-{case}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn facts(text: &str) -> Vec<RecordFact> {
    let mut parser = CodexRecords::new();
    text.lines().flat_map(|line| parser.feed(line)).collect()
}

fn turn_end(facts: &[RecordFact]) -> (TurnOutcome, Option<String>, Option<TurnError>) {
    let ends: Vec<_> = facts
        .iter()
        .filter_map(|f| match f {
            RecordFact::TurnEnded {
                outcome,
                answer,
                error,
                ..
            } => Some((*outcome, answer.clone(), error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(ends.len(), 1, "one turn end expected: {facts:#?}");
    ends[0].clone()
}

fn turn_ids(facts: &[RecordFact]) -> (Option<String>, Option<String>) {
    let started = facts.iter().find_map(|f| match f {
        RecordFact::TurnStarted { turn_id } => Some(turn_id.clone()),
        _ => None,
    });
    let ended = facts.iter().find_map(|f| match f {
        RecordFact::TurnEnded { turn_id, .. } => Some(turn_id.clone()),
        _ => None,
    });
    (started.flatten(), ended.flatten())
}

#[test]
fn first_row_names_the_session_and_its_folder() {
    for v in VERSIONS {
        let all = facts(&fixture(v, "ok"));
        match &all[0] {
            RecordFact::SessionMeta {
                agent_session_id,
                cwd,
                parent_session_id,
            } => {
                assert_eq!(agent_session_id.len(), 36, "{v}: {agent_session_id}");
                assert_eq!(cwd.as_deref(), Some("/tmp/repo"), "{v}");
                assert_eq!(*parent_session_id, None, "{v}");
            }
            other => panic!("{v}: first fact {other:?}"),
        }
    }
}

#[test]
fn good_turn_completes_with_the_mock_answer_and_usage() {
    let mock_usage = Usage {
        input_tokens: Some(1234),
        cached_input_tokens: Some(200),
        output_tokens: Some(56),
        reasoning_tokens: Some(7),
        total_tokens: Some(1290),
    };
    for v in VERSIONS {
        let all = facts(&fixture(v, "ok"));
        let (outcome, answer, error) = turn_end(&all);
        assert_eq!(outcome, TurnOutcome::Completed, "{v}");
        assert_eq!(answer.as_deref(), Some(MOCK_ANSWER), "{v}");
        assert_eq!(error, None, "{v}");
        let usages: Vec<_> = all
            .iter()
            .filter(|f| matches!(f, RecordFact::Usage { .. }))
            .collect();
        assert_eq!(
            usages,
            [&RecordFact::Usage {
                turn: Some(mock_usage.clone()),
                session: Some(mock_usage.clone()),
                model: Some("mock-model".to_string()),
            }],
            "{v}"
        );
        let (started, ended) = turn_ids(&all);
        assert!(started.is_some(), "{v}: {all:?}");
        assert_eq!(started, ended, "{v}");
        // Usage arrives before the turn ends, so it can be shown while the agent runs.
        let usage_at = all
            .iter()
            .position(|f| matches!(f, RecordFact::Usage { .. }));
        let end_at = all
            .iter()
            .position(|f| matches!(f, RecordFact::TurnEnded { .. }));
        assert!(usage_at < end_at, "{v}");
    }
}

#[test]
fn second_turn_counts_its_request_and_the_session_so_far() {
    let once = |n: u64| Usage {
        input_tokens: Some(1234 * n),
        cached_input_tokens: Some(200 * n),
        output_tokens: Some(56 * n),
        reasoning_tokens: Some(7 * n),
        total_tokens: Some(1290 * n),
    };
    for v in VERSIONS {
        let all = facts(&fixture(v, "two-turns"));
        let usages: Vec<_> = all
            .iter()
            .filter_map(|f| match f {
                RecordFact::Usage { turn, session, .. } => Some((turn.clone(), session.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            usages,
            [
                (Some(once(1)), Some(once(1))),
                (Some(once(1)), Some(once(2)))
            ],
            "{v}"
        );
        let ends: Vec<_> = all
            .iter()
            .filter_map(|f| match f {
                RecordFact::TurnEnded {
                    outcome, answer, ..
                } => Some((*outcome, answer.as_deref())),
                _ => None,
            })
            .collect();
        assert_eq!(
            ends,
            [(TurnOutcome::Completed, Some(MOCK_ANSWER)); 2],
            "{v}"
        );
    }
}

#[test]
fn rate_limited_turn_fails_as_rate_limited_with_codex_message() {
    for v in VERSIONS {
        let all = facts(&fixture(v, "rate-limited"));
        let (outcome, answer, error) = turn_end(&all);
        assert_eq!(outcome, TurnOutcome::Failed, "{v}");
        assert_eq!(answer, None, "{v}");
        assert_eq!(
            error,
            Some(TurnError {
                kind: ErrorKind::RateLimited,
                message: "exceeded retry limit, last status: 429 Too Many Requests".to_string(),
                http_status: Some(429),
            }),
            "{v}"
        );
        assert!(
            !all.iter().any(|f| matches!(f, RecordFact::Usage { .. })),
            "{v}: nothing was counted: {all:?}"
        );
    }
}

#[test]
fn overloaded_turn_fails_as_overloaded_with_its_status() {
    for v in VERSIONS {
        let (outcome, answer, error) = turn_end(&facts(&fixture(v, "overloaded")));
        assert_eq!((outcome, answer), (TurnOutcome::Failed, None), "{v}");
        let error = error.unwrap_or_else(|| panic!("{v}: no error"));
        assert_eq!(
            (error.kind, error.http_status),
            (ErrorKind::Overloaded, Some(529)),
            "{v}"
        );
        assert!(
            error.message.starts_with("unexpected status 529"),
            "{v}: {}",
            error.message
        );
    }
}

#[test]
fn cut_stream_fails_as_disconnected() {
    for v in VERSIONS {
        let all = facts(&fixture(v, "stream-cut"));
        let (outcome, answer, error) = turn_end(&all);
        assert_eq!(outcome, TurnOutcome::Failed, "{v}");
        assert_eq!(answer, None, "{v}");
        let error = error.unwrap_or_else(|| panic!("{v}: no error"));
        assert_eq!(error.kind, ErrorKind::Disconnected, "{v}");
        assert!(
            error
                .message
                .starts_with("stream disconnected before completion"),
            "{v}: {}",
            error.message
        );
        assert_eq!(error.http_status, None, "{v}");
        // The `token_count` rows with `info: null` (one per attempt) are not usage.
        assert!(
            !all.iter().any(|f| matches!(f, RecordFact::Usage { .. })),
            "{v}"
        );
    }
}

#[test]
fn escaped_turn_is_interrupted() {
    for v in VERSIONS {
        let all = facts(&fixture(v, "interrupted"));
        let (outcome, answer, error) = turn_end(&all);
        assert_eq!(outcome, TurnOutcome::Interrupted, "{v}");
        assert_eq!((answer, error), (None, None), "{v}");
        let (started, ended) = turn_ids(&all);
        assert!(ended.is_some() && started == ended, "{v}");
    }
}

#[test]
fn broken_lines_yield_nothing_and_never_panic() {
    let ok = fixture("0.169.0", "ok");
    let mut parser = CodexRecords::new();
    for line in ok.lines() {
        // Prefixes of a real line: what a reader sees of a row still being written (every
        // prefix of short lines, some 500 of the long ones).
        let step = (line.len() / 500).max(1);
        let cuts = (0..line.len())
            .step_by(step)
            .chain(line.len().checked_sub(1));
        for cut in cuts.filter(|&i| line.is_char_boundary(i)) {
            assert_eq!(parser.feed(&line[..cut]), [], "prefix {cut} of {line}");
        }
    }
    for garbage in [
        "",
        "   ",
        "\u{0}\u{1}",
        "null",
        "42",
        "[]",
        "\"event_msg\"",
        "{}",
        r#"{"type":"event_msg"}"#,
        r#"{"type":"event_msg","payload":null}"#,
        r#"{"type":"event_msg","payload":{"type":7}}"#,
        r#"{"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":"x"}}}"#,
        r#"{"type":"event_msg","payload":{"type":"stream_error"}}"#,
        r#"{"type":"session_meta","payload":{"cwd":"/x"}}"#,
        r#"{"type":"event_msg","payload":{"type":"item_completed","item":{"type":"CollabAgentToolCall","tool":"spawn_agent"}}}"#,
        r#"{"type":"turn_context","payload":{"model":["x"]}}"#,
        r#"{"type":"some_future_row","payload":{"type":"task_complete"}}"#,
    ] {
        assert_eq!(parser.feed(garbage), [], "{garbage:?}");
    }
}

#[test]
fn odd_values_are_tolerated() {
    let mut p = CodexRecords::new();
    let huge = r#"{"type":"event_msg","payload":{"type":"task_complete","last_agent_message":null,
        "error":{"message":"boom","codex_error_info":{"response_too_many_failed_attempts":{"http_status_code":99999}}}}}"#;
    let facts = p.feed(&huge.replace('\n', ""));
    assert_eq!(
        facts,
        [RecordFact::TurnEnded {
            turn_id: None,
            outcome: TurnOutcome::Failed,
            answer: None,
            error: Some(TurnError {
                kind: ErrorKind::Other,
                message: "boom".to_string(),
                http_status: None,
            }),
        }]
    );
}

fn failed_kind(info: &str, message: &str) -> Option<(ErrorKind, Option<u16>)> {
    let line = format!(
        r#"{{"type":"event_msg","payload":{{"type":"task_complete","turn_id":"t","last_agent_message":null,"error":{{"message":"{message}","codex_error_info":{info}}}}}}}"#
    );
    match CodexRecords::new().feed(&line).pop() {
        Some(RecordFact::TurnEnded {
            outcome: TurnOutcome::Failed,
            error: Some(e),
            ..
        }) => Some((e.kind, e.http_status)),
        _ => None,
    }
}

#[test]
fn error_kinds_follow_status_then_variant_then_words() {
    use ErrorKind::*;
    let cases = [
        (
            r#"{"response_too_many_failed_attempts":{"http_status_code":529}}"#,
            "x",
            (Overloaded, Some(529)),
        ),
        (
            r#"{"response_too_many_failed_attempts":{"http_status_code":401}}"#,
            "x",
            (Auth, Some(401)),
        ),
        (
            r#"{"response_stream_disconnected":{"http_status_code":null}}"#,
            "x",
            (Disconnected, None),
        ),
        (
            r#"{"http_connection_failed":{"http_status_code":null}}"#,
            "x",
            (Disconnected, None),
        ),
        (r#""usage_limit_exceeded""#, "x", (RateLimited, None)),
        (r#""unauthorized""#, "x", (Auth, None)),
        (r#""internal_server_error""#, "x", (Overloaded, None)),
        (
            r#""other""#,
            "stream disconnected before completion: x",
            (Disconnected, None),
        ),
        (r#""other""#, "something else", (Other, None)),
        ("null", "something else", (Other, None)),
    ];
    for (info, message, want) in cases {
        assert_eq!(failed_kind(info, message), Some(want), "{info} {message}");
    }
}

#[test]
fn an_error_row_fails_a_turn_that_ends_without_an_answer() {
    let mut p = CodexRecords::new();
    let lines = [
        r#"{"type":"event_msg","payload":{"type":"task_started","turn_id":"t1"}}"#,
        r#"{"type":"event_msg","payload":{"type":"error","message":"unexpected status 401 Unauthorized","codex_error_info":"unauthorized"}}"#,
        r#"{"type":"event_msg","payload":{"type":"task_complete","turn_id":"t1","last_agent_message":null}}"#,
        // The next turn starts clean: the old error does not leak into it.
        r#"{"type":"event_msg","payload":{"type":"task_started","turn_id":"t2"}}"#,
        r#"{"type":"event_msg","payload":{"type":"task_complete","turn_id":"t2","last_agent_message":null}}"#,
    ];
    let ends: Vec<_> = lines
        .iter()
        .flat_map(|l| p.feed(l))
        .filter_map(|f| match f {
            RecordFact::TurnEnded { outcome, error, .. } => Some((outcome, error.map(|e| e.kind))),
            _ => None,
        })
        .collect();
    assert_eq!(
        ends,
        [
            (TurnOutcome::Failed, Some(ErrorKind::Auth)),
            (TurnOutcome::Completed, None)
        ]
    );
}

#[test]
fn a_stream_error_row_is_a_retry_with_its_attempt() {
    let line = r#"{"type":"event_msg","payload":{"type":"stream_error","message":"Reconnecting... 2/5","codex_error_info":{"response_stream_disconnected":{"http_status_code":null}},"additional_details":"stream closed before response.completed"}}"#;
    assert_eq!(
        CodexRecords::new().feed(line),
        [RecordFact::Retrying {
            attempt: Some(2),
            max: Some(5),
            error: TurnError {
                kind: ErrorKind::Disconnected,
                message: "Reconnecting... 2/5".to_string(),
                http_status: None,
            },
        }]
    );
}

#[test]
fn a_spawned_sub_agent_is_named_by_parent_and_child_alike() {
    for v in VERSIONS {
        let parent = facts(&fixture(v, "subagent-parent"));
        let child = facts(&fixture(v, "subagent-child"));
        let Some(RecordFact::SessionMeta {
            agent_session_id: parent_id,
            ..
        }) = parent.first()
        else {
            panic!("{v}: {parent:?}")
        };
        let Some(RecordFact::SessionMeta {
            agent_session_id: child_id,
            parent_session_id,
            ..
        }) = child.first()
        else {
            panic!("{v}: {child:?}")
        };
        assert_ne!(parent_id, child_id, "{v}");
        assert_eq!(parent_session_id.as_ref(), Some(parent_id), "{v}");
        let spawned: Vec<_> = parent
            .iter()
            .filter(|f| matches!(f, RecordFact::Subagent { .. }))
            .collect();
        assert_eq!(
            spawned,
            [&RecordFact::Subagent {
                agent_session_id: Some(child_id.clone()),
                started: true,
            }],
            "{v}"
        );
        // Each file has its own one turn, completed with the mock's answer.
        for all in [&parent, &child] {
            assert_eq!(
                turn_end(all),
                (TurnOutcome::Completed, Some(MOCK_ANSWER.to_string()), None),
                "{v}"
            );
        }
    }
}

#[test]
fn a_sub_agent_names_its_parent_thread() {
    let line = r#"{"type":"session_meta","payload":{"id":"child","cwd":"/r","source":{"subagent":{"thread_spawn":{"parent_thread_id":"parent","depth":1}}}}}"#;
    assert_eq!(
        CodexRecords::new().feed(line),
        [RecordFact::SessionMeta {
            agent_session_id: "child".to_string(),
            cwd: Some("/r".to_string()),
            parent_session_id: Some("parent".to_string()),
        }]
    );
}
