//! The real Claude Code CLI under harnex.

use std::time::{Duration, Instant};

use crate::mock_model::{self, ANSWER, MockModel};
use crate::support::World;
use crate::{Agents, commit_readme, harnex, report_latency};

const API_KEY: &str = "sk-ant-mock-0123456789abcdefghij";

fn claude_env(
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
fn claude_turns_are_followed_from_enter_to_prompt() {
    let Some(agents) = Agents::require("claude_turns_are_followed_from_enter_to_prompt") else {
        return;
    };
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

    let started = Instant::now();
    let sent = harnex(
        &world,
        &env,
        &[
            "send",
            "--id",
            "cl",
            "--message",
            "Summarize the repo [delay=5000]",
            "--wait-for-idle",
            "--timeout",
            "90",
        ],
    );
    let took = started.elapsed();
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(sent.json()["state"], "prompt");
    assert!(
        took >= Duration::from_secs(4),
        "returned after {took:?}: {sent:?}"
    );
    assert!(
        world.screen("cl").contains(ANSWER),
        "{}",
        world.screen("cl")
    );
    assert_eq!(mock.request_count(), 1);

    let sent = harnex(
        &world,
        &env,
        &[
            "send",
            "--id",
            "cl",
            "--message",
            "And again [delay=1000]",
            "--wait-for-idle",
            "--timeout",
            "90",
        ],
    );
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(sent.json()["turn"], 2);
    assert_eq!(mock.request_count(), 2);

    let latency = report_latency(&world, &mock, "claude");
    assert!(!latency.is_empty(), "the turns were seen busy then prompt");
    for (_, prompt) in &latency {
        assert!(
            *prompt >= 0.0,
            "prompt reported before the answer was sent: {latency:?}"
        );
    }

    // An instant answer (no busy frame may ever be drawn) still ends the wait, after the answer.
    let sent = harnex(
        &world,
        &env,
        &[
            "send",
            "--id",
            "cl",
            "--message",
            "Quick one",
            "--wait-for-idle",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(sent.json()["turn"], 3);
    assert_eq!(mock.request_count(), 3);
    assert_eq!(
        world.screen("cl").matches(ANSWER).count(),
        3,
        "{}",
        world.screen("cl")
    );

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
fn claude_dialogs_are_blocked_and_answered_with_keys() {
    let Some(agents) = Agents::require("claude_dialogs_are_blocked_and_answered_with_keys") else {
        return;
    };
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
