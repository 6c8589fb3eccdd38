//! The real Codex CLI under harnex.

use std::time::Duration;

use crate::mock_model::{self, MockModel};
use crate::support::World;
use crate::{Agents, commit_readme, harnex};

pub fn codex_env(
    world: &World,
    agents: &Agents,
    mock: &MockModel,
    trusted: bool,
) -> Vec<(String, String)> {
    let home = world.root.path().join("codex-home");
    mock_model::write_codex_home(&home, mock.port(), &world.repo, trusted).expect("codex home");
    let mut env = mock_model::codex_env(&home);
    env.push(("PATH".into(), agents.path()));
    env
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn codex_turns_are_followed_from_enter_to_prompt() {
    let agents = Agents::require("codex_turns_are_followed_from_enter_to_prompt");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockModel::start().expect("mock model");
    let env = codex_env(&world, &agents, &mock, true);

    let run = harnex(
        &world,
        &env,
        &[
            "run",
            "codex",
            "--id",
            "cx",
            "--detach",
            "--timeout",
            "60",
            "--summary-out",
            "DISPATCH.jsonl",
            "--",
            "--no-daemon",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["agent_state"], "prompt", "{run:?}");

    crate::three_turns(&world, &env, &mock, "cx", "codex");

    let stopped = harnex(&world, &env, &["stop", "--id", "cx", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let record = &stopped.json()["exit"];
    assert_eq!(record["exit_code"], 0, "{stopped:?}");
    assert_eq!(record["reason"], "success");
    let summary = &record["summary"];
    assert!(
        summary["total_tokens"].as_u64().is_some_and(|t| t > 0),
        "{summary}"
    );
    assert!(
        summary["output_tokens"].as_u64().is_some_and(|t| t > 0),
        "{summary}"
    );
    let resume = summary["agent_session_id"].as_str().unwrap_or("");
    assert_eq!(resume.len(), 36, "codex resume id parsed: {summary}");
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
fn codex_trust_dialog_is_reported_blocked_and_enter_answers_it() {
    let agents = Agents::require("codex_trust_dialog_is_reported_blocked_and_enter_answers_it");
    let world = World::new();
    let mock = MockModel::start().expect("mock model");
    let env = codex_env(&world, &agents, &mock, false);

    let run = harnex(
        &world,
        &env,
        &[
            "run",
            "codex",
            "--id",
            "trust",
            "--detach",
            "--timeout",
            "60",
            "--",
            "--no-daemon",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["agent_state"], "blocked", "{run:?}");
    let status = harnex(&world, &env, &["status", "--json"]).json();
    let input = &status[0]["input_state"];
    assert_eq!(input["state"], "workspace-trust", "{status}");
    assert_eq!(input["accept_keys"], serde_json::json!(["Enter"]));

    let refused = harnex(
        &world,
        &env,
        &["send", "--id", "trust", "--message", "hello"],
    );
    assert_eq!(
        refused.code, 1,
        "text into a dialog is refused: {refused:?}"
    );
    assert!(refused.stderr.contains("workspace-trust"), "{refused:?}");

    let answered = harnex(&world, &env, &["send", "--id", "trust", "--submit-only"]);
    assert_eq!(answered.code, 0, "{answered:?}");
    let ready = harnex(
        &world,
        &env,
        &[
            "wait",
            "--id",
            "trust",
            "--until",
            "prompt",
            "--timeout",
            "30",
        ],
    );
    assert_eq!(ready.code, 0, "{ready:?}");
    let stopped = harnex(&world, &env, &["stop", "--id", "trust", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn codex_stalled_on_its_first_request_is_interrupted_and_resumed_by_watch() {
    let agents =
        Agents::require("codex_stalled_on_its_first_request_is_interrupted_and_resumed_by_watch");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockModel::start().expect("mock model");
    let env = codex_env(&world, &agents, &mock, true);
    let mut cmd = world.cmd();
    cmd.args([
        "run",
        "codex",
        "--id",
        "w",
        "--watch",
        "--stall-after",
        "4s",
        "--max-resumes",
        "1",
        "--timeout",
        "60",
        "--context",
        "Do the task [stall-once]",
        "--",
        "--no-daemon",
    ]);
    for (key, value) in &env {
        cmd.env(key, value);
    }
    let watcher = crate::support::Background::spawn(&mut cmd);
    // The first request hangs; the watcher interrupts it and resumes; the second is answered.
    crate::support::wait_until("the resume to be answered", Duration::from_secs(90), || {
        let answered = mock
            .requests()
            .iter()
            .filter(|r| r.kind == mock_model::RequestKind::Main && r.answered_at.is_some())
            .count();
        (answered >= 1 && mock.request_count() >= 2).then_some(())
    });
    assert_eq!(
        mock.prompts().last().map(String::as_str),
        Some("resume"),
        "{:?}",
        mock.prompts()
    );
    crate::support::wait_until(
        "the resumed turn to complete",
        Duration::from_secs(60),
        || {
            world
                .events()
                .iter()
                .any(|r| r["type"] == "task_complete" && r["turn"] == 2)
                .then_some(())
        },
    );
    let stopped = harnex(&world, &env, &["stop", "--id", "w", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let run = watcher.finish(Duration::from_secs(30));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("busy with no progress"), "{run:?}");
    assert!(run.stdout.contains("interrupted, resume 1/1"), "{run:?}");
    assert!(run.stdout.contains("outcome=exited"), "{run:?}");
    let rows = world.events();
    assert_eq!(rows.iter().filter(|r| r["type"] == "log_idle").count(), 1);
    let resume = rows
        .iter()
        .find(|r| r["type"] == "resume")
        .expect("resume event");
    assert_eq!(resume["interrupted"], true);
    let events = harnex(&world, &env, &["events", "--id", "w", "--snapshot"]);
    assert!(events.stdout.contains("\"type\":\"resume\""), "{events:?}");
    assert!(
        events.stdout.contains("\"type\":\"log_idle\""),
        "{events:?}"
    );
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn codex_that_loses_its_model_connection_is_classified_disconnected() {
    let agents =
        Agents::require("codex_that_loses_its_model_connection_is_classified_disconnected");
    let world = World::new();
    let mock = MockModel::start().expect("mock model");
    let env = codex_env(&world, &agents, &mock, true);
    // Give up on the first silent stream after 2 s, without retrying.
    let config = world.root.path().join("codex-home/config.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[model_providers.mock]\n",
        "[model_providers.mock]\nstream_idle_timeout_ms = 2000\nstream_max_retries = 0\n",
    );
    std::fs::write(&config, text).unwrap();
    let run = harnex(
        &world,
        &env,
        &[
            "run",
            "codex",
            "--id",
            "dc",
            "--detach",
            "--timeout",
            "60",
            "--",
            "--no-daemon",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let sent = harnex(
        &world,
        &env,
        &[
            "send",
            "--id",
            "dc",
            "--message",
            "Work [stall-once]",
            "--wait-for-idle",
            "--timeout",
            "60",
        ],
    );
    // The turn failed at the model: the rollout says so, and `send` exits 1 with the reason.
    assert_eq!(sent.code, 1, "{sent:?}");
    let answer = sent.json();
    assert_eq!(answer["outcome"], "failed", "{sent:?}");
    assert_eq!(answer["error"]["kind"], "disconnected", "{sent:?}");
    assert_eq!(answer["source"], "record", "{sent:?}");
    // The rollout ends the turn a moment before Codex draws its error line.
    world.wait_screen("dc", "disconnected");
    let stopped = harnex(&world, &env, &["stop", "--id", "dc", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    assert_eq!(stopped.json()["exit"]["exit_code"], 0, "a clean /exit");
    assert_eq!(
        stopped.json()["exit"]["reason"],
        "disconnected",
        "{stopped:?}"
    );
    let exited = world.events().pop().unwrap();
    assert_eq!(exited["reason"], "disconnected");
}

/// Codex gives up after one request retry and two stream retries, so a failing turn ends in a
/// few seconds (by default a 529 is sent 30 times over ~25 s). A 429 is retried as a stream
/// retry: `reconnecting 1/2`, `2/2` show for about 2 s (`retry-after: 1`).
fn limit_codex_retries(world: &World) {
    let config = world.root.path().join("codex-home/config.toml");
    let text = std::fs::read_to_string(&config).expect("config").replace(
        "[model_providers.mock]\n",
        "[model_providers.mock]\nrequest_max_retries = 1\nstream_max_retries = 2\n",
    );
    std::fs::write(&config, text).expect("write config");
}

fn start_codex(world: &World, env: &[(String, String)], id: &str) {
    let run = harnex(
        world,
        env,
        &[
            "run",
            "codex",
            "--id",
            id,
            "--detach",
            "--timeout",
            "60",
            "--",
            "--no-daemon",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn codex_turns_report_outcome_error_answer_and_usage_from_the_rollout() {
    let agents =
        Agents::require("codex_turns_report_outcome_error_answer_and_usage_from_the_rollout");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockModel::start().expect("mock model");
    let env = codex_env(&world, &agents, &mock, true);
    limit_codex_retries(&world);
    start_codex(&world, &env, "out");

    crate::five_turn_outcomes(&world, &env, &mock, "out", true);

    let stopped = harnex(&world, &env, &["stop", "--id", "out", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    // The records tell the conversation after the session ended too.
    crate::assert_conversation(&world, &env, "out", true);
    let exit = &stopped.json()["exit"];
    assert!(
        exit["records"]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with(".jsonl")),
        "{exit}"
    );
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn two_codex_sessions_started_at_once_in_one_repo_each_bind_their_own_rollout() {
    let agents = Agents::require(
        "two_codex_sessions_started_at_once_in_one_repo_each_bind_their_own_rollout",
    );
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockModel::start().expect("mock model");
    let env = codex_env(&world, &agents, &mock, true);
    std::thread::scope(|s| {
        for id in ["twin-a", "twin-b"] {
            let (world, env) = (&world, &env);
            s.spawn(move || start_codex(world, env, id));
        }
    });
    let mut paths = Vec::new();
    for id in ["twin-a", "twin-b"] {
        let turn = crate::send_turn(&world, &env, id, &format!("Task for {id}"));
        assert_eq!(turn.code, 0, "{}", turn.json);
        assert_eq!(turn.json["answer"], mock_model::ANSWER, "{}", turn.json);
        let status = harnex(&world, &env, &["status", "--id", id, "--json"]).json();
        let path = status[0]["records"]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} has no rollout: {status}"))
            .to_string();
        paths.push((id, path));
    }
    assert_ne!(paths[0].1, paths[1].1, "each binds its own rollout");
    for (id, path) in &paths {
        let text = std::fs::read_to_string(path).expect("rollout");
        assert!(text.contains(&format!("Task for {id}")), "{id}: {path}");
        let other = if *id == "twin-a" { "twin-b" } else { "twin-a" };
        assert!(
            !text.contains(&format!("Task for {other}")),
            "{id} bound {other}'s rollout: {path}"
        );
    }
    for id in ["twin-a", "twin-b"] {
        let stopped = harnex(&world, &env, &["stop", "--id", id, "--wait"]);
        assert_eq!(stopped.code, 0, "{stopped:?}");
    }
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn codex_s_long_answer_reads_as_lines_in_logs_plain() {
    let agents = Agents::require("codex_s_long_answer_reads_as_lines_in_logs_plain");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockModel::start().expect("mock model");
    let env = codex_env(&world, &agents, &mock, true);
    let run = harnex(
        &world,
        &env,
        &[
            "run",
            "codex",
            "--id",
            "cx-long",
            "--detach",
            "--timeout",
            "60",
            "--",
            "--no-daemon",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    // Codex scrolls its history up: every line went by, in order.
    let seen = crate::long_answer_lines(&world, &env, "cx-long");
    assert_eq!(seen, (1..=crate::LONG_ANSWER_LINES).collect::<Vec<_>>());
}
