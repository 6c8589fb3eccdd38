//! Conversations read from real record files (`tests/fixtures/records/`, recorded from Codex
//! 0.169.0 / 0.171.0 and Claude Code 2.1.328 / 2.1.332 against a mock model).

use super::*;
use crate::records::ErrorKind;

const CODEX_VERSIONS: [&str; 2] = ["0.169.0", "0.171.0"];
const CLAUDE_VERSIONS: [&str; 2] = ["2.1.328", "2.1.332"];
const CODEX_ANSWER: &str = "The mock model says: all done, 42 files checked.";
const CLAUDE_ANSWER: &str = "The mock answer is forty-two.";
const CLAUDE_PROMPT: &str = "Say the answer please";

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/records/{name}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn codex(version: &str, case: &str) -> Vec<Turn> {
    read_turns(
        RecordKind::CodexRollout,
        fixture(&format!("codex-{version}-{case}")).lines(),
    )
}

fn claude(version: &str, case: &str) -> Vec<Turn> {
    read_turns(
        RecordKind::ClaudeTranscript,
        fixture(&format!("claude-{version}-{case}")).lines(),
    )
}

/// The mock's usage for one Codex request (see the fixtures' README).
fn codex_request_usage() -> Usage {
    Usage {
        input_tokens: Some(1234),
        cached_input_tokens: Some(200),
        output_tokens: Some(56),
        reasoning_tokens: Some(7),
        total_tokens: Some(1290),
    }
}

#[test]
fn codex_two_turns_each_with_its_prompt_answer_and_own_usage() {
    for v in CODEX_VERSIONS {
        let turns = codex(v, "two-turns");
        assert_eq!(turns.len(), 2, "{v}: {turns:#?}");
        for (turn, (n, prompt)) in turns.iter().zip([(1, "Say hello"), (2, "Say it again")]) {
            assert_eq!(turn.n, n, "{v}");
            assert_eq!(turn.prompt.as_deref(), Some(prompt), "{v} turn {n}");
            assert_eq!(turn.answer.as_deref(), Some(CODEX_ANSWER), "{v} turn {n}");
            assert_eq!(turn.outcome, Some(TurnOutcome::Completed), "{v} turn {n}");
            assert_eq!(turn.error, None);
            assert_eq!(turn.from.as_deref(), Some("user"));
            assert_eq!(turn.model.as_deref(), Some("mock-model"));
            // Turn 2's share of the session total (2580), not the total.
            assert_eq!(turn.usage, Some(codex_request_usage()), "{v} turn {n}");
            assert!(turn.tools.is_empty());
            let (start, end) = (turn.started_at.clone(), turn.ended_at.clone());
            assert!(
                start.is_some() && end.is_some() && start < end,
                "{v} turn {n}"
            );
        }
    }
}

#[test]
fn codex_failures_carry_the_error_and_no_answer() {
    let cases = [
        ("rate-limited", ErrorKind::RateLimited, Some(429)),
        ("overloaded", ErrorKind::Overloaded, Some(529)),
        ("stream-cut", ErrorKind::Disconnected, None),
    ];
    for v in CODEX_VERSIONS {
        for (case, kind, status) in cases {
            let turns = codex(v, case);
            assert_eq!(turns.len(), 1, "{v} {case}");
            let turn = &turns[0];
            assert_eq!(turn.outcome, Some(TurnOutcome::Failed), "{v} {case}");
            let error = turn.error.as_ref().expect("an error");
            assert_eq!(
                (error.kind, error.http_status),
                (kind, status),
                "{v} {case}"
            );
            assert_eq!(turn.answer, None);
            assert_eq!(turn.prompt.as_deref(), Some("Say hello"), "{v} {case}");
        }
    }
}

#[test]
fn codex_interrupted_turn_keeps_the_prompt_without_the_abort_notice() {
    for v in CODEX_VERSIONS {
        let turns = codex(v, "interrupted");
        assert_eq!(turns.len(), 1, "{v}: {turns:#?}");
        assert_eq!(turns[0].outcome, Some(TurnOutcome::Interrupted));
        // Codex writes `<turn_aborted>…` as a user message: context, not the user's words.
        assert_eq!(turns[0].prompt.as_deref(), Some("Say hello"), "{v}");
    }
}

#[test]
fn codex_tool_calls_are_listed_and_the_subagent_notice_is_no_turn() {
    for v in CODEX_VERSIONS {
        let parent = codex(v, "subagent-parent");
        assert_eq!(parent.len(), 1, "{v}: {parent:#?}");
        assert_eq!(parent[0].tools, ["spawn_agent"]);
        assert_eq!(parent[0].prompt.as_deref(), Some("SPAWN a helper"));
        assert_eq!(parent[0].answer.as_deref(), Some(CODEX_ANSWER));
        // Two requests: the tool call and the answer after it.
        let usage = parent[0].usage.as_ref().expect("usage");
        assert_eq!(usage.total_tokens, Some(2 * 1290), "{v}");
        let child = codex(v, "subagent-child");
        assert_eq!(child.len(), 1);
        assert_eq!(child[0].prompt.as_deref(), Some("child task: say hi"));
    }
}

#[test]
fn a_turn_the_records_have_not_ended_is_in_progress() {
    let text = fixture("codex-0.169.0-two-turns");
    let lines: Vec<&str> = text.lines().collect();
    let last_end = lines
        .iter()
        .rposition(|l| l.contains("\"task_complete\""))
        .expect("a task_complete row");
    let turns = read_turns(RecordKind::CodexRollout, lines[..last_end].iter().copied());
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[0].outcome, Some(TurnOutcome::Completed));
    let open = &turns[1];
    assert_eq!(open.outcome, None);
    assert_eq!(open.ended_at, None);
    assert_eq!(open.answer, None);
    assert_eq!(open.prompt.as_deref(), Some("Say it again"));
    // The usage reported so far in the open turn.
    assert_eq!(open.usage, Some(codex_request_usage()));
}

#[test]
fn garbage_and_torn_lines_change_nothing() {
    let text = fixture("codex-0.171.0-two-turns");
    let clean = read_turns(RecordKind::CodexRollout, text.lines());
    let mut noisy = String::new();
    for line in text.lines() {
        noisy.push_str(line);
        noisy.push_str("\nnot json\n[1,2]\n\"text\"\n{\"type\":\n");
        noisy.push_str(&line[..line.len() / 2]);
        noisy.push('\n');
    }
    let turns = read_turns(RecordKind::CodexRollout, noisy.lines());
    assert_eq!(turns, clean);
}

#[test]
fn claude_ok_and_thinking_turns_have_the_prompt_the_answer_and_the_usage() {
    for (v, case) in CLAUDE_VERSIONS
        .iter()
        .map(|v| (*v, "ok"))
        .chain([("2.1.328", "thinking"), ("2.1.332", "stream-cut")])
    {
        let turns = claude(v, case);
        assert_eq!(turns.len(), 1, "{v} {case}: {turns:#?}");
        let turn = &turns[0];
        assert_eq!(turn.prompt.as_deref(), Some(CLAUDE_PROMPT), "{v} {case}");
        assert_eq!(turn.answer.as_deref(), Some(CLAUDE_ANSWER), "{v} {case}");
        assert_eq!(turn.outcome, Some(TurnOutcome::Completed), "{v} {case}");
        assert_eq!(turn.from.as_deref(), Some("user"), "{v} {case}");
        assert_eq!(turn.model.as_deref(), Some("claude-opus-5-5"), "{v} {case}");
        // 120 + 7 cache written + 30 cache read in, 9 out: once, however many rows it spans.
        let usage = turn.usage.as_ref().expect("usage");
        assert_eq!(
            (usage.input_tokens, usage.output_tokens, usage.total_tokens),
            (Some(157), Some(9), Some(166)),
            "{v} {case}"
        );
        assert!(turn.started_at.is_some() && turn.ended_at.is_some());
    }
}

#[test]
fn claude_failures_and_interruptions() {
    let cases = [
        ("2.1.328", "overloaded", Some(ErrorKind::Overloaded)),
        ("2.1.332", "overloaded", Some(ErrorKind::Overloaded)),
        ("2.1.328", "rate-limited", Some(ErrorKind::RateLimited)),
        ("2.1.328", "auth", Some(ErrorKind::Auth)),
        ("2.1.328", "disconnected", Some(ErrorKind::Disconnected)),
        ("2.1.328", "interrupted", None),
    ];
    for (v, case, kind) in cases {
        let turns = claude(v, case);
        assert_eq!(turns.len(), 1, "{v} {case}: {turns:#?}");
        let turn = &turns[0];
        assert_eq!(turn.prompt.as_deref(), Some(CLAUDE_PROMPT), "{v} {case}");
        assert_eq!(turn.answer, None, "{v} {case}");
        assert_eq!(turn.error.as_ref().map(|e| e.kind), kind, "{v} {case}");
        let outcome = match kind {
            Some(_) => TurnOutcome::Failed,
            None => TurnOutcome::Interrupted,
        };
        assert_eq!(turn.outcome, Some(outcome), "{v} {case}");
    }
}

#[test]
fn claude_subagent_launch_is_a_tool_call_and_its_notification_a_turn_of_its_own() {
    let turns = claude("2.1.328", "subagent");
    assert_eq!(turns.len(), 2, "{turns:#?}");
    assert_eq!(turns[0].prompt.as_deref(), Some(CLAUDE_PROMPT));
    assert_eq!(turns[0].tools, ["Agent"]);
    assert_eq!(turns[0].answer.as_deref(), Some(CLAUDE_ANSWER));
    assert_eq!(turns[0].from.as_deref(), Some("user"));
    assert_eq!(turns[1].from.as_deref(), Some("task-notification"));
    let notice = turns[1].prompt.as_deref().unwrap_or_default();
    assert!(notice.starts_with("<task-notification>"), "{notice}");
    assert_eq!(turns[1].outcome, Some(TurnOutcome::Completed));
}

#[test]
fn sidechain_rows_are_no_turns_of_the_main_conversation() {
    // The sub-agent's own file: every row is a sidechain row.
    let turns = claude("2.1.328", "subagent-agent");
    assert!(turns.is_empty(), "{turns:#?}");
    // Sidechain rows mixed into a main transcript change nothing.
    let main = fixture("claude-2.1.328-ok");
    let side = fixture("claude-2.1.328-subagent-agent");
    let mixed: Vec<&str> = main.lines().chain(side.lines()).collect();
    let clean = read_turns(RecordKind::ClaudeTranscript, main.lines());
    assert_eq!(read_turns(RecordKind::ClaudeTranscript, mixed), clean);
}

#[test]
fn meta_rows_start_no_turn() {
    let meta = r#"{"type":"user","isMeta":true,"sessionId":"s","cwd":"/tmp","timestamp":"2026-12-03T09:00:00Z","message":{"role":"user","content":"<local-command-caveat>Caveat</local-command-caveat>"}}"#;
    let main = fixture("claude-2.1.328-ok");
    let with_meta: Vec<&str> = std::iter::once(meta).chain(main.lines()).collect();
    let turns = read_turns(RecordKind::ClaudeTranscript, with_meta);
    assert_eq!(turns.len(), 1, "{turns:#?}");
    assert_eq!(turns[0].prompt.as_deref(), Some(CLAUDE_PROMPT));
}

#[test]
fn redaction_masks_prompt_answer_and_error() {
    let turn = Turn {
        prompt: Some("use sk-abcdefghijklmnop1234 please".into()),
        answer: Some("token=abcdefgh12345678".into()),
        error: Some(TurnError {
            kind: ErrorKind::Auth,
            message: "bad key sk-ant-api03-AbCdEfGhIjKlMnOp".into(),
            http_status: Some(401),
        }),
        ..Turn::default()
    }
    .redacted();
    assert_eq!(turn.prompt.as_deref(), Some("use sk-[redacted] please"));
    assert_eq!(turn.answer.as_deref(), Some("token=[redacted]"));
    assert_eq!(
        turn.error.map(|e| e.message).as_deref(),
        Some("bad key sk-ant-[redacted]")
    );
}

#[test]
fn injected_context_is_told_from_what_the_user_typed() {
    for injected in [
        "<environment_context>\n  <cwd>/tmp</cwd>\n</environment_context>",
        "<turn_aborted>\nThe user interrupted.\n</turn_aborted>",
        "<subagent_notification>\n{}\n</subagent_notification>\n",
        "# AGENTS.md instructions for /tmp/repo\n\n<INSTRUCTIONS>x</INSTRUCTIONS>",
    ] {
        assert!(is_injected_context(injected), "{injected}");
    }
    for typed in [
        "Say hello",
        "<b>bold</b> is html",
        "<div>open only",
        "explain <environment_context>",
        "<>",
    ] {
        assert!(!is_injected_context(typed), "{typed}");
    }
}

#[test]
fn older_codex_user_message_events_give_the_prompt_even_before_the_turn_starts() {
    let rows = [
        r#"{"timestamp":"t0","type":"event_msg","payload":{"type":"user_message","message":"fix the bug","kind":"plain"}}"#,
        r#"{"timestamp":"t1","type":"event_msg","payload":{"type":"task_started","turn_id":"a"}}"#,
        r#"{"timestamp":"t2","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"fix the bug"}]}}"#,
        r#"{"timestamp":"t3","type":"response_item","payload":{"type":"local_shell_call","action":{}}}"#,
        r#"{"timestamp":"t4","type":"event_msg","payload":{"type":"task_complete","turn_id":"a","last_agent_message":"fixed"}}"#,
    ];
    let turns = read_turns(RecordKind::CodexRollout, rows);
    assert_eq!(turns.len(), 1, "{turns:#?}");
    assert_eq!(turns[0].prompt.as_deref(), Some("fix the bug"));
    assert_eq!(turns[0].answer.as_deref(), Some("fixed"));
    assert_eq!(turns[0].tools, ["local_shell"]);
    assert_eq!(
        (turns[0].started_at.as_deref(), turns[0].ended_at.as_deref()),
        (Some("t1"), Some("t4"))
    );
}

#[test]
fn claude_commands_run_without_the_model_are_turns_of_their_own() {
    // `/model sonnet` (local: its rows carry no `turnOrigin`), then `!echo hi-from-bash`, whose
    // output Claude passed on to the model (that failed: the key was not approved).
    let text = fixture("claude-2.1.328-local-commands");
    let mut parser = ClaudeRecords::new();
    let facts: Vec<RecordFact> = text.lines().flat_map(|line| parser.feed(line)).collect();
    let kinds: Vec<&str> = facts
        .iter()
        .filter_map(|fact| match fact {
            RecordFact::TurnStarted { .. } => Some("start"),
            RecordFact::TurnEnded { .. } => Some("end"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["start", "end", "start", "end"], "{facts:#?}");
    let turns = claude("2.1.328", "local-commands");
    assert_eq!(turns.len(), 2, "{turns:#?}");
    assert_eq!(turns[0].prompt.as_deref(), Some("/model sonnet"));
    assert_eq!(turns[0].outcome, Some(TurnOutcome::Completed));
    assert_eq!(
        turns[0].answer.as_deref(),
        Some("Set model to `Sonnet 5.5` and saved as your default for new sessions")
    );
    assert_eq!(turns[1].prompt.as_deref(), Some("!echo hi-from-bash"));
    assert_eq!(turns[1].outcome, Some(TurnOutcome::Failed));
    assert_eq!(
        turns[1].error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Auth)
    );
}

#[test]
fn a_local_command_run_during_a_model_turn_adds_nothing_to_it() {
    let main = fixture("claude-2.1.328-ok");
    let lines: Vec<&str> = main.lines().collect();
    let answer_at = lines
        .iter()
        .position(|l| l.contains("\"type\":\"assistant\""))
        .expect("an assistant row");
    let command = r#"{"type":"user","promptId":"p2","timestamp":"t","message":{"role":"user","content":"<command-name>/cost</command-name>"}}"#;
    let output = r#"{"type":"user","promptId":"p2","timestamp":"t","message":{"role":"user","content":"<local-command-stdout>$0.00</local-command-stdout>"}}"#;
    let mut with_command = lines.clone();
    with_command.splice(answer_at..answer_at, [command, output]);
    assert_eq!(
        read_turns(RecordKind::ClaudeTranscript, with_command),
        read_turns(RecordKind::ClaudeTranscript, lines)
    );
}

#[test]
fn claude_slash_command_that_prompts_the_model_is_a_turn_shown_as_typed() {
    let turns = claude("2.1.328", "slash-command");
    assert_eq!(turns.len(), 1, "{turns:#?}");
    assert_eq!(turns[0].prompt.as_deref(), Some("/greet"));
    assert_eq!(turns[0].from.as_deref(), Some("user"));
    assert_eq!(turns[0].outcome, Some(TurnOutcome::Failed));
    assert_eq!(
        typed_command("<command-name>/model</command-name>\n<command-args>sonnet</command-args>")
            .as_deref(),
        Some("/model sonnet")
    );
    assert_eq!(
        typed_command("<bash-input>ls -l</bash-input>").as_deref(),
        Some("!ls -l")
    );
    assert_eq!(typed_command("plain text"), None);
}

#[test]
fn copilot_turns_carry_the_typed_prompt_the_answer_the_tool_and_their_requests() {
    let turns = read_turns(
        RecordKind::CopilotEvents,
        fixture("copilot-1.0.102-turn-command").lines(),
    );
    let brief: Vec<_> = turns
        .iter()
        .map(|t| (t.prompt.as_deref(), t.outcome, t.tools.clone()))
        .collect();
    assert_eq!(
        brief,
        [
            (
                Some("Summarize the repo [delay=4000]"),
                Some(TurnOutcome::Completed),
                vec![]
            ),
            (
                Some("Run it [tool]"),
                Some(TurnOutcome::Completed),
                vec!["bash".to_string()]
            ),
        ]
    );
    let answer = "Done. The mock agent finished the task.";
    assert!(turns.iter().all(|t| t.answer.as_deref() == Some(answer)));
    // The tool turn made two model requests.
    let usage = |t: &Turn| t.usage.as_ref().and_then(|u| u.output_tokens);
    assert_eq!(usage(&turns[0]), Some(56));
    assert_eq!(usage(&turns[1]), Some(2 * 56));
    assert_eq!(turns[1].model.as_deref(), Some("mock-model"));
}
