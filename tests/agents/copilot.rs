//! The real GitHub Copilot CLI under harnex, against the chat-completions mock.

use crate::mock_chat::{self, MockChat};
use crate::support::World;
use crate::{MoreAgents, commit_readme, harnex};

/// Copilot's environment: offline, the mock as its provider, its state in the test's own home
/// (the package it unpacks on first run shared between tests).
pub fn copilot_env(world: &World, agents: &MoreAgents, mock: &MockChat) -> Vec<(String, String)> {
    let cache = world.home.join(".cache");
    std::fs::create_dir_all(&cache).expect("cache dir");
    let link = cache.join("copilot");
    if !link.exists() {
        std::os::unix::fs::symlink(agents.shared_cache("copilot"), &link).expect("cache link");
    }
    let mut env = mock_chat::copilot_env(&world.home, &mock.base_url());
    env.push(("PATH".into(), agents.path()));
    env
}

/// Start Copilot in a new folder: its trust dialog is reported blocked with Enter as the answer,
/// and after Enter the prompt.
pub fn start_and_trust(world: &World, env: &[(String, String)], id: &str) {
    let run = crate::start_detached(world, env, "copilot", id);
    assert_eq!(run["agent_state"], "blocked", "{run}");
    let status = harnex(world, env, &["status", "--id", id, "--json"]).json();
    assert_eq!(
        status[0]["input_state"]["state"], "workspace-trust",
        "{status}"
    );
    assert_eq!(
        status[0]["input_state"]["accept_keys"],
        serde_json::json!(["Enter"]),
        "{status}"
    );
    let keys = harnex(world, env, &["send", "--id", id, "--keys", "Enter"]);
    assert_eq!(keys.code, 0, "{keys:?}");
    crate::wait_for_prompt(world, env, id, 30);
}

fn stop(world: &World, env: &[(String, String)], id: &str) -> serde_json::Value {
    crate::stop_cleanly(world, env, id, std::time::Duration::from_secs(5))
}

#[test]
#[ignore = "needs the real Copilot CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn copilot_turns_are_followed_from_enter_to_prompt() {
    let agents = MoreAgents::require("copilot_turns_are_followed_from_enter_to_prompt");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockChat::start().expect("mock model");
    let env = copilot_env(&world, &agents, &mock);
    start_and_trust(&world, &env, "cp");

    crate::three_turns(&world, &env, &mock, "cp", "copilot");

    // Copilot's own records, bound by the session id harnex gave it, tell each turn's end.
    let status = harnex(&world, &env, &["status", "--id", "cp", "--json"]).json();
    let records = &status[0]["records"];
    assert_eq!(records["state"], "following", "{status}");
    assert_eq!(records["source"], "copilot-events", "{status}");
    let path = records["path"].as_str().unwrap_or("");
    assert!(
        path.starts_with(
            &world
                .home
                .join(".copilot/session-state")
                .display()
                .to_string()
        ),
        "{status}"
    );
    let ends = crate::support::wait_until(
        "a task_complete row per turn from the records",
        crate::support::DEADLINE,
        || {
            let ends: Vec<_> = world
                .events()
                .into_iter()
                .filter(|r| r["type"] == "task_complete" && r["source"] == "record")
                .collect();
            (ends.len() >= 3).then_some(ends)
        },
    );
    for end in &ends {
        assert_eq!(end["outcome"], "completed", "{end}");
        assert_eq!(end["answer"], crate::mock_model::ANSWER, "{end}");
    }

    let record = stop(&world, &env, "cp");
    let session = record["summary"]["agent_session_id"].as_str().unwrap_or("");
    assert_eq!(session.len(), 36, "copilot --resume id parsed: {record}");
    // The records tell the conversation after the session ended too.
    let shown = harnex(&world, &env, &["conversation", "--id", "cp", "--json"]);
    assert_eq!(shown.code, 0, "{shown:?}");
    let conversation = shown.json();
    let turns = conversation["turns"].as_array().expect("turns");
    let prompts: Vec<&str> = turns
        .iter()
        .map(|t| t["prompt"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        prompts,
        [
            "Summarize the repo [delay=5000]",
            "And again [delay=1000]",
            "Quick one"
        ],
        "{conversation:#}"
    );
    for turn in turns {
        assert_eq!(turn["answer"], crate::mock_model::ANSWER, "{turn:#}");
    }
}

#[test]
#[ignore = "needs the real Copilot CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn copilot_command_dialog_is_blocked_and_answered_with_keys() {
    let agents = MoreAgents::require("copilot_command_dialog_is_blocked_and_answered_with_keys");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockChat::start().expect("mock model");
    let env = copilot_env(&world, &agents, &mock);
    start_and_trust(&world, &env, "cpd");

    crate::tool_dialog_is_blocked_and_answered(&world, &env, "cpd", "permission");
    stop(&world, &env, "cpd");
}

#[test]
#[ignore = "needs the real Copilot CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn copilot_turn_the_model_fails_is_reported_failed_from_its_records() {
    let agents =
        MoreAgents::require("copilot_turn_the_model_fails_is_reported_failed_from_its_records");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockChat::start().expect("mock model");
    let env = copilot_env(&world, &agents, &mock);
    start_and_trust(&world, &env, "cpf");

    // Copilot retries a 429 five times (about 6 s), then gives up.
    let failed = crate::send_turn(&world, &env, "cpf", "Say it [fail=429]");
    crate::assert_failed(&failed, "rate_limited", Some(429));
    assert_eq!(failed.json["source"], "record", "{}", failed.json);

    let good = crate::send_turn(&world, &env, "cpf", "Say the answer");
    assert_eq!(good.code, 0, "{}", good.json);
    assert_eq!(good.json["outcome"], "completed", "{}", good.json);
    assert_eq!(
        good.json["answer"],
        crate::mock_model::ANSWER,
        "{}",
        good.json
    );
    stop(&world, &env, "cpf");
}

#[test]
#[ignore = "needs the real Copilot CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn copilot_turn_rewound_with_esc_esc_is_reported_interrupted_from_its_records() {
    let agents = MoreAgents::require(
        "copilot_turn_rewound_with_esc_esc_is_reported_interrupted_from_its_records",
    );
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockChat::start().expect("mock model");
    let env = copilot_env(&world, &agents, &mock);
    start_and_trust(&world, &env, "cpi");

    let sent = harnex(
        &world,
        &env,
        &[
            "send",
            "--id",
            "cpi",
            "--message",
            "Take your time [delay=8000]",
        ],
    );
    assert_eq!(sent.code, 0, "{sent:?}");
    crate::support::wait_until("the model request", crate::support::DEADLINE, || {
        (mock.turn_count() == 1).then_some(())
    });
    let esc = harnex(&world, &env, &["send", "--id", "cpi", "--keys", "Esc,Esc"]);
    assert_eq!(esc.code, 0, "{esc:?}");
    // Copilot cancels the turn and cuts its events back to before the prompt.
    let end = crate::support::wait_until("the turn's end", crate::support::DEADLINE, || {
        world
            .events()
            .into_iter()
            .find(|r| r["type"] == "task_complete")
    });
    assert_eq!(
        end["outcome"],
        "interrupted",
        "{end}\n{:?}\n{}",
        world.events(),
        world.screen("cpi")
    );
    assert_eq!(end["source"], "record", "{end}");

    let good = crate::send_turn(&world, &env, "cpi", "C-u first [delay=500]");
    assert_eq!(good.json["turn"], 2, "{}", good.json);
    assert_eq!(good.json["outcome"], "completed", "{}", good.json);
    stop(&world, &env, "cpi");
}
