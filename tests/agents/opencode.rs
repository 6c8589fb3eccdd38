//! The real OpenCode CLI under harnex, against the chat-completions mock.

use crate::mock_chat::{self, MockChat};
use crate::support::World;
use crate::{MoreAgents, commit_readme, harnex};

/// OpenCode's environment: HOME and every XDG dir in the test's own home, the mock as its
/// provider, shell commands asking first.
pub fn opencode_env(world: &World, agents: &MoreAgents, mock: &MockChat) -> Vec<(String, String)> {
    mock_chat::write_opencode_config(&world.home.join(".config"), &mock.base_url())
        .expect("opencode config");
    let mut env = mock_chat::opencode_env(&world.home);
    env.push(("PATH".into(), agents.path()));
    env
}

fn start(world: &World, env: &[(String, String)], id: &str) {
    let run = crate::start_detached(world, env, "opencode", id);
    // OpenCode drops keys typed before its input box is drawn: the prompt is reported only then.
    assert_eq!(run["agent_state"], "prompt", "{run}");
    assert!(
        world.screen(id).contains("Ask anything"),
        "{}",
        world.screen(id)
    );
}

fn stop(world: &World, env: &[(String, String)], id: &str) -> serde_json::Value {
    crate::stop_cleanly(world, env, id, std::time::Duration::from_secs(5))
}

#[test]
#[ignore = "needs the real OpenCode CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn opencode_turns_are_followed_from_enter_to_prompt() {
    let agents = MoreAgents::require("opencode_turns_are_followed_from_enter_to_prompt");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockChat::start().expect("mock model");
    let env = opencode_env(&world, &agents, &mock);
    start(&world, &env, "oc");

    crate::three_turns(&world, &env, &mock, "oc", "opencode");

    let record = stop(&world, &env, "oc");
    let session = record["summary"]["agent_session_id"].as_str().unwrap_or("");
    assert!(
        session.starts_with("ses_"),
        "opencode -s id parsed: {record}"
    );
}

#[test]
#[ignore = "needs the real OpenCode CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn opencode_permission_dialog_is_blocked_and_answered_with_keys() {
    let agents =
        MoreAgents::require("opencode_permission_dialog_is_blocked_and_answered_with_keys");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockChat::start().expect("mock model");
    let env = opencode_env(&world, &agents, &mock);
    start(&world, &env, "ocp");

    crate::tool_dialog_is_blocked_and_answered(&world, &env, "ocp", "permission");
    stop(&world, &env, "ocp");
}

#[test]
#[ignore = "needs the real OpenCode CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn opencode_turns_report_outcome_error_answer_and_usage_from_its_events() {
    let agents =
        MoreAgents::require("opencode_turns_report_outcome_error_answer_and_usage_from_its_events");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockChat::start().expect("mock model");
    let env = opencode_env(&world, &agents, &mock);
    start(&world, &env, "ocr");

    let usage = |turn: &serde_json::Value, times: u64| {
        let tokens = |n: u64| serde_json::Value::from(n * times);
        assert_eq!(
            turn["input_tokens"],
            tokens(mock_chat::PROMPT_TOKENS),
            "{turn}"
        );
        assert_eq!(
            turn["output_tokens"],
            tokens(mock_chat::COMPLETION_TOKENS),
            "{turn}"
        );
        let total = mock_chat::PROMPT_TOKENS + mock_chat::COMPLETION_TOKENS;
        assert_eq!(turn["total_tokens"], tokens(total), "{turn}");
    };
    let good = crate::send_turn(&world, &env, "ocr", "Say the answer [delay=1500]");
    assert_eq!(good.code, 0, "{}", good.json);
    assert_eq!(good.json["outcome"], "completed", "{}", good.json);
    assert_eq!(good.json["source"], "record", "{}", good.json);
    assert_eq!(
        good.json["answer"],
        crate::mock_model::ANSWER,
        "{}",
        good.json
    );
    usage(&good.json["usage"]["turn"], 1);
    assert_eq!(good.json["usage"]["model"], "mock-model", "{}", good.json);

    let status = harnex(&world, &env, &["status", "--id", "ocr", "--json"]).json();
    let records = &status[0]["records"];
    assert_eq!(records["state"], "following", "{status}");
    assert_eq!(records["source"], "opencode-events", "{status}");

    // OpenCode retries the 429 a few times, then gives up: failed, with the status.
    let failed = crate::send_turn(&world, &env, "ocr", "Say it [fail=429]");
    crate::assert_failed(&failed, "rate_limited", Some(429));
    assert_eq!(failed.json["source"], "record", "{}", failed.json);

    let again = crate::send_turn(&world, &env, "ocr", "Say it again");
    assert_eq!(again.code, 0, "{}", again.json);
    assert_eq!(again.json["outcome"], "completed", "{}", again.json);
    assert_eq!(again.json["turn"], 3, "{}", again.json);
    usage(&again.json["usage"]["turn"], 1);
    usage(&again.json["usage"]["session"], 2);
    // OpenCode 1.18.33 under this harness ends on its Ctrl+C by SIGINT (exit 130, `stopped`),
    // with or without its event server, so only the stop itself and the records are checked.
    let stopped = harnex(&world, &env, &["stop", "--id", "ocr", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let exit = stopped.json()["exit"].clone();
    assert_eq!(exit["records"]["source"], "opencode-events", "{exit}");
    assert!(
        exit["records"]["agent_session_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("ses_")),
        "{exit}"
    );
}
