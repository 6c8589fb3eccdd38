//! `harnex conversation` on the real Codex and Claude Code: two turns, read from the agent's own
//! records while the session lives and again after it ended.

use serde_json::Value;

use crate::mock_model::{self, ANSWER, MockModel};
use crate::support::World;
use crate::{Agents, commit_readme, harnex};

const PROMPTS: [&str; 2] = ["Say hello", "Say it again"];

/// Starts `cli` as session `id`, has it answer both prompts, and checks the conversation live and
/// after `stop --wait`.
fn two_turns_live_and_after_exit(world: &World, env: &[(String, String)], cli: &str, id: &str) {
    let mut run = vec!["run", cli, "--id", id, "--detach", "--timeout", "60"];
    if cli == "codex" {
        run.extend(["--", "--no-daemon"]);
    }
    let started = harnex(world, env, &run);
    assert_eq!(started.code, 0, "{started:?}");
    for prompt in PROMPTS {
        let sent = harnex(
            world,
            env,
            &[
                "send",
                "--id",
                id,
                "--message",
                prompt,
                "--wait-for-idle",
                "--timeout",
                "90",
            ],
        );
        assert_eq!(sent.code, 0, "{sent:?}");
    }
    let live = harnex(world, env, &["conversation", "--id", id, "--json"]);
    assert_eq!(live.code, 0, "{live:?}");
    assert_two_turns(&live.json(), id);

    let stopped = harnex(world, env, &["stop", "--id", id, "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let ended = harnex(world, env, &["conversation", "--id", id, "--json"]);
    assert_eq!(ended.code, 0, "{ended:?}");
    assert_two_turns(&ended.json(), id);
    let text = harnex(world, env, &["conversation", "--id", id, "--turn", "2"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert_eq!(
        text.stdout,
        format!("turn 2 · completed · 1,290 tokens\nyou: Say it again\n{cli}: {ANSWER}\n"),
        "{text:?}"
    );
}

fn assert_two_turns(answer: &Value, id: &str) {
    assert_eq!(answer["id"], id, "{answer:#}");
    let turns = answer["turns"].as_array().expect("turns");
    assert_eq!(turns.len(), 2, "{answer:#}");
    for (turn, prompt) in turns.iter().zip(PROMPTS) {
        assert_eq!(turn["prompt"], prompt, "{answer:#}");
        assert_eq!(turn["answer"], ANSWER, "{answer:#}");
        assert_eq!(turn["outcome"], "completed", "{answer:#}");
        assert_eq!(
            turn["usage"]["output_tokens"],
            mock_model::USAGE_OUTPUT_TOKENS,
            "{answer:#}"
        );
        assert_eq!(
            turn["usage"]["input_tokens"],
            mock_model::USAGE_INPUT_TOKENS,
            "{answer:#}"
        );
    }
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn codex_conversation_shows_both_turns_live_and_after_exit() {
    let agents = Agents::require("codex_conversation_shows_both_turns_live_and_after_exit");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockModel::start().expect("mock model");
    let env = crate::codex::codex_env(&world, &agents, &mock, true);
    two_turns_live_and_after_exit(&world, &env, "codex", "cx-talk");
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn claude_conversation_shows_both_turns_live_and_after_exit() {
    let agents = Agents::require("claude_conversation_shows_both_turns_live_and_after_exit");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockModel::start().expect("mock model");
    let env = crate::claude::claude_env(&world, &agents, &mock, true);
    two_turns_live_and_after_exit(&world, &env, "claude", "cl-talk");
}
