//! The real Claude Code CLI under harnex.

use crate::mock_model::{self, MockModel};
use crate::support::World;
use crate::{Agents, commit_readme, harnex};

const API_KEY: &str = "sk-ant-mock-0123456789abcdefghij";

pub fn claude_env(
    world: &World,
    agents: &Agents,
    mock: &MockModel,
    trusted: bool,
) -> Vec<(String, String)> {
    let config = world.root.path().join("claude-config");
    mock_model::write_claude_config(&config, API_KEY, &world.repo, trusted).expect("claude config");
    let mut env = mock_model::claude_env(&config, mock.port(), API_KEY);
    env.push(("PATH".into(), agents.path()));
    env
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn claude_turns_are_followed_from_enter_to_prompt() {
    let agents = Agents::require("claude_turns_are_followed_from_enter_to_prompt");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockModel::start().expect("mock model");
    let env = claude_env(&world, &agents, &mock, true);

    let run = harnex(
        &world,
        &env,
        &[
            "run",
            "claude",
            "--id",
            "cl",
            "--detach",
            "--timeout",
            "60",
            "--summary-out",
            "DISPATCH.jsonl",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["agent_state"], "prompt", "{run:?}");

    crate::three_turns(&world, &env, &mock, "cl", "claude");

    let stopped = harnex(&world, &env, &["stop", "--id", "cl", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let record = &stopped.json()["exit"];
    assert_eq!(record["exit_code"], 0, "{stopped:?}");
    assert_eq!(record["reason"], "success");
    let resume = record["summary"]["agent_session_id"].as_str().unwrap_or("");
    assert_eq!(resume.len(), 36, "claude --resume id parsed: {record}");
    let usage = crate::assert_full_event_sequence(&world);
    assert_eq!(
        usage["output_tokens"],
        3 * mock_model::USAGE_OUTPUT_TOKENS,
        "three turns: {usage}"
    );
    let dispatch =
        std::fs::read_to_string(world.repo.join("DISPATCH.jsonl")).expect("summary record");
    let dispatch: serde_json::Value = serde_json::from_str(dispatch.trim()).expect("one JSON line");
    assert_eq!(dispatch["actual"]["exit"], "success");
    assert_eq!(dispatch["actual"]["output_tokens"], usage["output_tokens"]);
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn claude_dialogs_are_blocked_and_answered_with_keys() {
    let agents = Agents::require("claude_dialogs_are_blocked_and_answered_with_keys");
    let world = World::new();
    let mock = MockModel::start().expect("mock model");
    let env = claude_env(&world, &agents, &mock, false);

    let run = harnex(
        &world,
        &env,
        &[
            "run",
            "claude",
            "--id",
            "dlg",
            "--detach",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["agent_state"], "blocked", "{run:?}");
    let status = harnex(&world, &env, &["status", "--json"]).json();
    assert_eq!(
        status[0]["input_state"]["state"], "workspace-trust",
        "{status}"
    );

    // Enter alone would pick "No, exit": refused, with the keys that accept.
    let refused = harnex(&world, &env, &["send", "--id", "dlg", "--submit-only"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("--keys Down,Enter"), "{refused:?}");

    let keys = harnex(
        &world,
        &env,
        &["send", "--id", "dlg", "--keys", "Down,Enter"],
    );
    assert_eq!(keys.code, 0, "{keys:?}");
    // Next comes the bypass-permissions dialog, also defaulting to "No, exit".
    let bypass = crate::support::wait_until("the bypass dialog", crate::support::DEADLINE, || {
        let status = harnex(&world, &env, &["status", "--json"]).json();
        let state = status[0]["input_state"]["state"]
            .as_str()
            .unwrap_or("")
            .to_string();
        (state == "bypass-permissions").then_some(status)
    });
    assert_eq!(
        bypass[0]["input_state"]["accept_keys"],
        serde_json::json!(["Down", "Enter"])
    );
    let keys = harnex(
        &world,
        &env,
        &["send", "--id", "dlg", "--keys", "Down,Enter"],
    );
    assert_eq!(keys.code, 0, "{keys:?}");
    let ready = harnex(
        &world,
        &env,
        &[
            "wait",
            "--id",
            "dlg",
            "--until",
            "prompt",
            "--timeout",
            "30",
        ],
    );
    assert_eq!(ready.code, 0, "{ready:?}");
    let stopped = harnex(&world, &env, &["stop", "--id", "dlg", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn claude_turns_report_outcome_error_answer_and_usage_from_the_transcript() {
    let agents =
        Agents::require("claude_turns_report_outcome_error_answer_and_usage_from_the_transcript");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockModel::start().expect("mock model");
    let mut env = claude_env(&world, &agents, &mock, true);
    // Two retries, so a failing turn ends in seconds rather than minutes of back-off.
    env.push(("CLAUDE_CODE_MAX_RETRIES".into(), "2".into()));
    let run = harnex(
        &world,
        &env,
        &[
            "run",
            "claude",
            "--id",
            "out",
            "--detach",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");

    crate::five_turn_outcomes(&world, &env, &mock, "out", false);
    // Claude's hooks (registered for this session alone) saw every turn end too, and still each
    // turn has one task_complete row (the keyed ledger recorded the hook's and the record's word
    // once).
    let relayed: Vec<serde_json::Value> = std::fs::read_dir(world.state.join("hooks"))
        .expect("hooks dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect::<Vec<_>>()
        })
        .collect();
    let stops = relayed
        .iter()
        .filter(|h| h["hook_event_name"] == "Stop" || h["hook_event_name"] == "StopFailure")
        .count();
    assert!(stops >= 5, "a hook call per turn end: {relayed:?}");
    let rows = world.events();
    let ends: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r["type"] == "task_complete")
        .collect();
    assert_eq!(ends.len(), 5, "{ends:?}");
    assert!(ends.iter().any(|r| r["source"] == "hook"), "{ends:?}");

    let stopped = harnex(&world, &env, &["stop", "--id", "out", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    // The records tell the conversation after the session ended too.
    crate::assert_conversation(&world, &env, "out", false);
    let path = stopped.json()["exit"]["records"]["path"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        path.contains(&format!(
            "{}",
            world.root.path().join("claude-config/projects").display()
        )),
        "the transcript in this session's config dir: {path}"
    );
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn claude_s_long_answer_reads_as_lines_in_logs_plain() {
    let agents = Agents::require("claude_s_long_answer_reads_as_lines_in_logs_plain");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockModel::start().expect("mock model");
    let env = claude_env(&world, &agents, &mock, true);
    let run = harnex(
        &world,
        &env,
        &[
            "run",
            "claude",
            "--id",
            "cl-long",
            "--detach",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let seen = crate::long_answer_lines(&world, &env, "cl-long");
    // Claude Code draws only the lines that fit its full-screen viewport (the earlier ones never
    // reach the terminal, so the transcript cannot hold them): the answer's last lines, in order.
    let last = crate::LONG_ANSWER_LINES;
    assert!(seen.len() >= 10, "{seen:?}");
    let first = last + 1 - seen.len() as u64;
    assert_eq!(seen, (first..=last).collect::<Vec<_>>());
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn claude_s_earlier_turns_stay_in_logs_plain_after_its_screen_moved_on() {
    let agents =
        Agents::require("claude_s_earlier_turns_stay_in_logs_plain_after_its_screen_moved_on");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockModel::start().expect("mock model");
    let env = claude_env(&world, &agents, &mock, true);
    let run = harnex(
        &world,
        &env,
        &[
            "run",
            "claude",
            "--id",
            "cl-turns",
            "--detach",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    // Three answers that together need more rows than the screen has: Claude moves the earlier
    // ones up and off its full-screen frame without the terminal scrolling.
    let turns = [(1, 10), (2, 12), (3, 14)];
    for (turn, lines) in turns {
        let sent = harnex(
            &world,
            &env,
            &[
                "send",
                "--id",
                "cl-turns",
                "--message",
                &format!("turn {turn} [lines={lines}]"),
                "--wait-for-idle",
                "--timeout",
                "90",
            ],
        );
        assert_eq!(sent.code, 0, "{sent:?}");
    }
    let stopped = harnex(&world, &env, &["stop", "--id", "cl-turns", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let logs = harnex(
        &world,
        &env,
        &["logs", "--id", "cl-turns", "--plain", "--lines", "100000"],
    );
    assert_eq!(logs.code, 0, "{logs:?}");
    let rows: Vec<&str> = logs.stdout.lines().map(str::trim).collect();
    for (_, lines) in turns {
        for k in 1..=lines {
            let line = mock_model::long_answer_line(k, lines);
            let seen = rows.iter().filter(|r| **r == line).count();
            assert_eq!(seen, 1, "{line:?} seen {seen} times in\n{}", logs.stdout);
        }
    }
}
