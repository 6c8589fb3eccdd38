//! The Claude parser over real transcripts recorded from Claude Code 2.1.328 (and the newest,
//! 2.1.332, for the main cases) against a mock model
//! (`tests/fixtures/records/README.md` says how each was made), plus hand-written rows for what the
//! recordings cannot show (sidechains, a `system`/`api_error` row, malformed lines).

use super::*;
use crate::records::{ErrorKind, RecordFact, TurnOutcome, Usage};

const MOCK_ANSWER: &str = "The mock answer is forty-two.";
const MOCK_MODEL: &str = "claude-opus-5-5";
/// The pinned version, and the newest published one (recorded for the main cases).
const VERSIONS: [&str; 2] = ["2.1.328", "2.1.332"];

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/records/{name}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn facts_of_text(text: &str) -> Vec<RecordFact> {
    let mut parser = ClaudeRecords::new();
    text.lines().flat_map(|line| parser.feed(line)).collect()
}

fn facts_of(name: &str) -> Vec<RecordFact> {
    facts_of_text(&fixture(name))
}

/// The mock reports input 120, cache creation 7, cache read 30, output 9.
fn mock_usage() -> Usage {
    Usage {
        input_tokens: Some(120 + 7 + 30),
        cached_input_tokens: Some(30),
        output_tokens: Some(9),
        reasoning_tokens: Some(0),
        total_tokens: Some(120 + 7 + 30 + 9),
    }
}

fn turn_ends(facts: &[RecordFact]) -> Vec<&RecordFact> {
    facts
        .iter()
        .filter(|f| matches!(f, RecordFact::TurnEnded { .. }))
        .collect()
}

fn retries(facts: &[RecordFact]) -> Vec<Option<u32>> {
    facts
        .iter()
        .filter_map(|f| match f {
            RecordFact::Retrying { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect()
}

fn usages(facts: &[RecordFact]) -> Vec<&RecordFact> {
    facts
        .iter()
        .filter(|f| matches!(f, RecordFact::Usage { .. }))
        .collect()
}

fn only_turn_end(facts: &[RecordFact]) -> &RecordFact {
    let ends = turn_ends(facts);
    assert_eq!(ends.len(), 1, "one turn end expected in {facts:#?}");
    ends[0]
}

fn assert_failed(facts: &[RecordFact], kind: ErrorKind, status: Option<u16>, words: &str) {
    match only_turn_end(facts) {
        RecordFact::TurnEnded {
            outcome: TurnOutcome::Failed,
            answer: None,
            error: Some(error),
            ..
        } => {
            assert_eq!(error.kind, kind);
            assert_eq!(error.http_status, status);
            assert!(error.message.contains(words), "{}", error.message);
        }
        other => panic!("expected a failed turn, got {other:?}"),
    }
}

#[test]
fn ok_turn_completes_with_the_mock_answer_and_usage() {
    let facts = facts_of("claude-2.1.328-ok");
    assert_eq!(
        facts,
        vec![
            RecordFact::SessionMeta {
                agent_session_id: "7fe5191e-b301-4e4d-95f0-5709ffc7fa8f".into(),
                cwd: Some("/tmp/harnex-rec/repo".into()),
                parent_session_id: None,
            },
            RecordFact::TurnStarted {
                turn_id: Some("5d61bd21-83c9-48af-884d-d5d28a2fb6f5".into())
            },
            RecordFact::Usage {
                turn: Some(mock_usage()),
                session: Some(mock_usage()),
                model: Some(MOCK_MODEL.into()),
            },
            RecordFact::TurnEnded {
                turn_id: Some("5d61bd21-83c9-48af-884d-d5d28a2fb6f5".into()),
                outcome: TurnOutcome::Completed,
                answer: Some(MOCK_ANSWER.into()),
                error: None,
            },
        ]
    );
}

#[test]
fn newest_version_ok_turn_reads_the_same() {
    let facts = facts_of("claude-2.1.332-ok");
    assert!(
        matches!(facts.first(), Some(RecordFact::SessionMeta { cwd: Some(cwd), .. }) if cwd == "/tmp/harnex-rec/repo")
    );
    assert_eq!(
        usages(&facts),
        vec![&RecordFact::Usage {
            turn: Some(mock_usage()),
            session: Some(mock_usage()),
            model: Some(MOCK_MODEL.into()),
        }]
    );
    match only_turn_end(&facts) {
        RecordFact::TurnEnded {
            outcome: TurnOutcome::Completed,
            answer,
            turn_id,
            error: None,
        } => {
            assert_eq!(answer.as_deref(), Some(MOCK_ANSWER));
            assert_eq!(
                turn_id.as_deref(),
                Some("4a713d6c-131c-4258-9e3b-78e7ea87f5b3")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_message_written_as_several_rows_counts_once_and_its_text_is_the_answer() {
    // Thinking block and text block: two assistant rows with one message id and one usage.
    let facts = facts_of("claude-2.1.328-thinking");
    assert_eq!(usages(&facts).len(), 1, "{facts:#?}");
    match only_turn_end(&facts) {
        RecordFact::TurnEnded {
            outcome: TurnOutcome::Completed,
            answer,
            ..
        } => assert_eq!(answer.as_deref(), Some(MOCK_ANSWER)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn overloaded_retries_then_fails_as_overloaded() {
    // Recorded with CLAUDE_CODE_MAX_RETRIES=2: three requests, then Claude gives up.
    let facts = facts_of("claude-2.1.328-overloaded");
    assert_eq!(retries(&facts), vec![Some(1), Some(2)]);
    assert!(
        usages(&facts).is_empty(),
        "the error row's zero usage is no usage"
    );
    assert_failed(&facts, ErrorKind::Overloaded, Some(529), "529 Overloaded");
    assert!(matches!(facts.last(), Some(RecordFact::TurnEnded { .. })));
}

#[test]
fn rate_limited_retries_then_fails_as_rate_limited() {
    for version in VERSIONS {
        let facts = facts_of(&format!("claude-{version}-rate-limited"));
        assert_eq!(retries(&facts), vec![Some(1), Some(2)], "{version}");
        assert_failed(
            &facts,
            ErrorKind::RateLimited,
            Some(429),
            "Rate limited by mock",
        );
    }
}

#[test]
fn a_cut_stream_that_claude_recovers_without_streaming_completes() {
    // Three streams cut mid-answer, then Claude's non-streaming fallback got the whole answer.
    for version in VERSIONS {
        let facts = facts_of(&format!("claude-{version}-stream-cut"));
        assert_eq!(
            retries(&facts),
            vec![Some(1), Some(2), Some(3)],
            "{version}"
        );
        match only_turn_end(&facts) {
            RecordFact::TurnEnded {
                outcome: TurnOutcome::Completed,
                answer,
                error: None,
                ..
            } => assert_eq!(answer.as_deref(), Some(MOCK_ANSWER)),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_connection_that_stays_broken_fails_as_disconnected() {
    let facts = facts_of("claude-2.1.328-disconnected");
    assert_eq!(retries(&facts), vec![Some(1), Some(2), Some(3)]);
    assert_failed(&facts, ErrorKind::Disconnected, None, "ECONNRESET");
}

#[test]
fn esc_mid_answer_is_an_interrupted_turn() {
    let facts = facts_of("claude-2.1.328-interrupted");
    assert!(matches!(
        only_turn_end(&facts),
        RecordFact::TurnEnded {
            outcome: TurnOutcome::Interrupted,
            answer: None,
            error: None,
            ..
        }
    ));
    // The part of the answer streamed before Esc was paid for: it counts.
    assert_eq!(usages(&facts).len(), 1);
}

#[test]
fn malformed_lines_give_no_facts_and_no_panic() {
    let garbage = [
        "",
        "not json",
        "{",
        "[1,2,3]",
        "42",
        "null",
        "\"assistant\"",
        r#"{"type": 7}"#,
        r#"{"type": "assistant"}"#,
        r#"{"type": "assistant", "message": "text"}"#,
        r#"{"type": "assistant", "message": {"usage": "lots", "content": 3}}"#,
        r#"{"type": "user"}"#,
        r#"{"type": "user", "message": {"content": 5}}"#,
        r#"{"type": "system", "subtype": "turn_duration"}"#,
        r#"{"type": "api-request", "querySource": "repl_main_thread"}"#,
        r#"{"type": "something-new", "sessionId": 1, "cwd": []}"#,
        "\u{0}\u{ffff}",
    ];
    let mut parser = ClaudeRecords::new();
    for line in garbage {
        assert_eq!(parser.feed(line), vec![], "{line:?}");
    }
    // Every real line cut short: never a panic.
    for name in [
        "claude-2.1.328-ok",
        "claude-2.1.328-overloaded",
        "claude-2.1.332-ok",
    ] {
        let mut parser = ClaudeRecords::new();
        for line in fixture(name).lines() {
            let cut = line.char_indices().nth(line.chars().count() / 2);
            let half = cut.map_or(line, |(i, _)| &line[..i]);
            assert_eq!(parser.feed(half), vec![]);
        }
    }
}

const PROMPT: &str = r#"{"type":"user","isSidechain":false,"promptId":"p1","sessionId":"s","cwd":"/r","message":{"role":"user","content":"go"}}"#;

#[test]
fn tool_results_and_sidechains_do_not_start_turns() {
    let lines = [
        PROMPT,
        r#"{"type":"assistant","isSidechain":false,"message":{"id":"m1","model":"m","content":[{"type":"text","text":"Looking."},{"type":"tool_use","id":"t1"}],"usage":{"input_tokens":10,"output_tokens":2}}}"#,
        r#"{"type":"user","isSidechain":false,"message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}}"#,
        r#"{"type":"user","isSidechain":true,"agentId":"a1","message":{"role":"user","content":"sub task"}}"#,
        r#"{"type":"assistant","isSidechain":true,"agentId":"a1","message":{"id":"s1","content":[{"type":"text","text":"sub answer"}],"usage":{"input_tokens":500,"output_tokens":50}}}"#,
        r#"{"type":"system","subtype":"turn_duration","isSidechain":true,"agentId":"a1"}"#,
        r#"{"type":"assistant","isSidechain":false,"message":{"id":"m2","model":"m","content":[{"type":"text","text":"Done."}],"stop_reason":"end_turn","usage":{"input_tokens":20,"output_tokens":3}}}"#,
        r#"{"type":"system","subtype":"turn_duration","isSidechain":false}"#,
    ];
    let facts = facts_of_text(&lines.join("\n"));
    let starts = facts
        .iter()
        .filter(|f| matches!(f, RecordFact::TurnStarted { .. }))
        .count();
    assert_eq!(starts, 1, "{facts:#?}");
    let subagents: Vec<_> = facts
        .iter()
        .filter(|f| matches!(f, RecordFact::Subagent { .. }))
        .collect();
    assert_eq!(
        subagents,
        vec![&RecordFact::Subagent {
            agent_session_id: Some("a1".into()),
            started: true
        }]
    );
    match only_turn_end(&facts) {
        RecordFact::TurnEnded { answer, .. } => assert_eq!(answer.as_deref(), Some("Done.")),
        other => panic!("{other:?}"),
    }
    // Session usage sums the main thread's two messages, not the sidechain's.
    match usages(&facts).last() {
        Some(RecordFact::Usage { session, .. }) => {
            let session = session.clone().unwrap_or_default();
            assert_eq!(session.input_tokens, Some(30));
            assert_eq!(session.output_tokens, Some(5));
            assert_eq!(session.total_tokens, Some(35));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_system_api_error_row_is_a_retry_with_attempt_max_and_kind() {
    // The shape Claude's bundle gives its api_error rows (2.1.328 keeps them out of the file).
    let lines = [
        PROMPT,
        r#"{"type":"system","subtype":"api_error","level":"error","error":{"status":529,"message":"Overloaded"},"retryInMs":2000,"retryAttempt":3,"maxRetries":10}"#,
    ];
    let facts = facts_of_text(&lines.join("\n"));
    match facts.last() {
        Some(RecordFact::Retrying {
            attempt,
            max,
            error,
        }) => {
            assert_eq!((*attempt, *max), (Some(3), Some(10)));
            assert_eq!(error.kind, ErrorKind::Overloaded);
            assert_eq!(error.http_status, Some(529));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_prompt_while_a_turn_is_open_closes_it_first() {
    let lines = [
        PROMPT,
        r#"{"type":"assistant","isSidechain":false,"message":{"id":"m1","content":[{"type":"text","text":"first"}],"stop_reason":"end_turn"}}"#,
        r#"{"type":"user","isSidechain":false,"promptId":"p2","message":{"role":"user","content":"again"}}"#,
    ];
    let facts = facts_of_text(&lines.join("\n"));
    let tail: Vec<_> = facts.iter().skip(2).collect();
    assert_eq!(
        tail,
        vec![
            &RecordFact::TurnEnded {
                turn_id: Some("p1".into()),
                outcome: TurnOutcome::Completed,
                answer: Some("first".into()),
                error: None,
            },
            &RecordFact::TurnStarted {
                turn_id: Some("p2".into())
            },
        ]
    );
}

#[test]
fn a_background_agent_is_a_subagent_that_starts_and_finishes() {
    // The mock answers the prompt with an `Agent` tool call; the agent runs in the background,
    // its task notification then starts a second turn of the main thread.
    let facts = facts_of("claude-2.1.328-subagent");
    let subagents: Vec<_> = facts
        .iter()
        .filter(|f| matches!(f, RecordFact::Subagent { .. }))
        .collect();
    let agent = Some("abfe70359ba2b008b".to_string());
    assert_eq!(
        subagents,
        vec![
            &RecordFact::Subagent {
                agent_session_id: agent.clone(),
                started: true
            },
            &RecordFact::Subagent {
                agent_session_id: agent,
                started: false
            },
        ]
    );
    let ends = turn_ends(&facts);
    assert_eq!(ends.len(), 2, "{facts:#?}");
    for end in ends {
        assert!(
            matches!(end, RecordFact::TurnEnded { outcome: TurnOutcome::Completed, answer: Some(a), .. } if a == MOCK_ANSWER)
        );
    }
    // Three requests on the main thread (tool call, answer, answer to the notification), each
    // counted once although the mock gives every message the same id.
    match usages(&facts).last() {
        Some(RecordFact::Usage { session, .. }) => {
            let session = session.clone().unwrap_or_default();
            assert_eq!(session.input_tokens, Some(3 * 157));
            assert_eq!(session.output_tokens, Some(5 + 9 + 9));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_subagent_file_names_its_agent_and_never_ends_the_main_turn() {
    let facts = facts_of("claude-2.1.328-subagent-agent");
    assert_eq!(
        facts
            .iter()
            .filter(|f| !matches!(f, RecordFact::SessionMeta { .. }))
            .collect::<Vec<_>>(),
        vec![&RecordFact::Subagent {
            agent_session_id: Some("abfe70359ba2b008b".into()),
            started: true
        }]
    );
}

#[test]
fn a_refused_key_fails_as_auth() {
    // 401 `authentication_error`: Claude retried it too (CLAUDE_CODE_MAX_RETRIES=2), then gave up.
    let facts = facts_of("claude-2.1.328-auth");
    assert_eq!(retries(&facts), vec![Some(1), Some(2)]);
    assert_failed(&facts, ErrorKind::Auth, Some(401), "Invalid API key");
}
