//! The real Gemini CLI under harnex, against the Gemini API mock. Each test has its own HOME
//! (so its own `~/.gemini`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::mock_gemini::{self, MockGemini};
use crate::support::{self, World};
use crate::{commit_readme, event_time, harnex, seconds_between};

pub const GEMINI_VERSION: &str = "0.61.0";

/// The directory holding the pinned `gemini` (`HARNEX_MORE_AGENT_BIN_DIR`, as
/// `.ci/install-more-agents.sh` prints it); a missing or mispinned CLI fails the test.
fn gemini_bin_dir(test: &str) -> PathBuf {
    let found = || -> Result<PathBuf, String> {
        let dir = std::env::var_os("HARNEX_MORE_AGENT_BIN_DIR")
            .map(PathBuf::from)
            .ok_or("HARNEX_MORE_AGENT_BIN_DIR is not set")?;
        let out = Command::new(dir.join("gemini"))
            .arg("--version")
            .output()
            .map_err(|e| format!("{}: {e}", dir.join("gemini").display()))?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let any = std::env::var_os("HARNEX_AGENT_ALLOW_ANY_VERSION").is_some_and(|v| v == "1");
        if !any && version != GEMINI_VERSION {
            return Err(format!(
                "gemini reports {version:?}, tests are pinned to {GEMINI_VERSION} (set HARNEX_AGENT_ALLOW_ANY_VERSION=1 to run them on another version)"
            ));
        }
        Ok(dir)
    };
    found().unwrap_or_else(|why| {
        panic!(
            "{test}: the Gemini CLI is required but missing: {why}. Install it with `bash .ci/install-more-agents.sh` and set HARNEX_MORE_AGENT_BIN_DIR to the directory it prints, or run `cargo nextest run` without `--run-ignored` to skip these tests."
        )
    })
}

/// A world with Gemini set up against `mock`: its own HOME, the repo trusted or not.
pub fn gemini_env(
    test: &str,
    world: &World,
    mock: &MockGemini,
    trusted: bool,
) -> Vec<(String, String)> {
    let bin = gemini_bin_dir(test);
    let home = world.root.path().join("gemini-home");
    mock_gemini::write_gemini_home(&home, &world.repo, trusted).expect("gemini home");
    let mut env = mock_gemini::gemini_env(&home, mock);
    let rest = std::env::var("PATH").unwrap_or_default();
    env.push(("PATH".into(), format!("{}:{rest}", bin.display())));
    // Run as CI runs (CI=true): the gemini adapter must tell Gemini it is interactive anyway.
    env.push(("CI".into(), "true".into()));
    env
}

fn start(world: &World, env: &[(String, String)], id: &str) -> Value {
    crate::start_detached(world, env, "gemini", id)
}

/// `send --wait-for-idle`; returns its exit code, answer and how long it took.
fn send_and_wait(
    world: &World,
    env: &[(String, String)],
    id: &str,
    message: &str,
) -> (i32, Value, Duration) {
    let turn = crate::send_turn(world, env, id, message);
    (turn.code, turn.json, turn.took)
}

/// How fast harnex saw each answered turn: busy after the model request arrived, prompt after
/// the answer was sent. Printed for the record.
fn report_latency(world: &World, mock: &MockGemini) -> Vec<(f64, f64)> {
    let events = world.events();
    let is_state = |e: &Value, to: &str| e["type"] == "state" && e["to"] == to;
    let mut out = Vec::new();
    let mut previous = std::time::SystemTime::UNIX_EPOCH;
    for request in mock.main_requests().iter().filter(|r| !r.tool_result) {
        let Some(answered) = request.answered_at else {
            continue;
        };
        // The first busy of this turn (after the previous answer), and the first prompt after
        // the answer.
        let busy = events
            .iter()
            .find(|e| is_state(e, "busy") && event_time(e) > previous && event_time(e) < answered);
        let prompt = events
            .iter()
            .find(|e| is_state(e, "prompt") && event_time(e) >= answered);
        previous = answered;
        if let (Some(busy), Some(prompt)) = (busy, prompt) {
            let b = seconds_between(request.arrived_at, event_time(busy));
            let p = seconds_between(answered, event_time(prompt));
            eprintln!(
                "LATENCY gemini: busy reported {b:+.3}s after the model request arrived; prompt reported {p:+.3}s after the answer was sent"
            );
            out.push((b, p));
        }
    }
    out
}

/// What harnex sees of a session (verdict, rule, screen), for failure messages.
fn explain(world: &World, env: &[(String, String)], id: &str) -> String {
    harnex(world, env, &["explain", "--id", id]).stdout
}

fn stop(world: &World, env: &[(String, String)], id: &str) -> Value {
    // Two Ctrl+D end Gemini at once; one would leave it waiting for the grace to run out.
    let record = crate::stop_cleanly(world, env, id, Duration::from_secs(8));
    assert_eq!(record["exit_code"], 0, "{record}");
    record
}

#[test]
#[ignore = "needs the real Gemini CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn gemini_turns_are_followed_from_enter_to_prompt() {
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockGemini::start().expect("mock");
    let env = gemini_env(
        "gemini_turns_are_followed_from_enter_to_prompt",
        &world,
        &mock,
        true,
    );
    let run = start(&world, &env, "gm");
    assert_eq!(run["agent_state"], "prompt", "{run}");

    // A 5 s turn: the input box stays drawn throughout; the wait must span the answer.
    let (code, json, took) = send_and_wait(&world, &env, "gm", "Summarize the repo [delay=5000]");
    assert_eq!(code, 0, "{json}\n{}", explain(&world, &env, "gm"));
    assert_eq!(json["state"], "prompt", "{json}");
    assert!(
        took >= Duration::from_secs(5),
        "returned after {took:?}: {json}"
    );
    assert!(
        world.screen("gm").contains(mock_gemini::ANSWER),
        "{}",
        world.screen("gm")
    );
    assert_eq!(mock.turn_count(), 1);

    let (code, json, _) = send_and_wait(&world, &env, "gm", "And again [delay=1000]");
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["turn"], 2, "{json}");
    assert_eq!(mock.turn_count(), 2);
    assert_eq!(world.screen("gm").matches(mock_gemini::ANSWER).count(), 2);

    let latency = report_latency(&world, &mock);
    assert_eq!(latency.len(), 2, "both turns seen busy then prompt");
    for (_, prompt) in &latency {
        assert!(
            *prompt >= 0.0,
            "prompt before the answer was sent: {latency:?}"
        );
    }

    let record = stop(&world, &env, "gm");
    let resume = record["summary"]["agent_session_id"].as_str().unwrap_or("");
    assert_eq!(resume.len(), 36, "gemini --resume id parsed: {record}");
}

#[test]
#[ignore = "needs the real Gemini CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn gemini_tool_approval_is_reported_blocked_and_answered_with_the_keys_named() {
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockGemini::start().expect("mock");
    let env = gemini_env(
        "gemini_tool_approval_is_reported_blocked_and_answered_with_the_keys_named",
        &world,
        &mock,
        true,
    );
    let run = start(&world, &env, "tool");
    assert_eq!(run["agent_state"], "prompt", "{run}");

    // The turn stops at the approval dialog: the wait ends there, naming the keys.
    let (code, json, took) = send_and_wait(&world, &env, "tool", "Run the check [tool]");
    assert_eq!(code, 1, "{json}\n{}", explain(&world, &env, "tool"));
    assert_eq!(json["state"], "blocked", "{json}");
    assert_eq!(json["outcome"], "needs_input", "{json}");
    assert_eq!(json["dialog"]["reason"], "permission", "{json}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    let keys: Vec<&str> = json["dialog"]["accept_keys"]
        .as_array()
        .expect("accept_keys")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(keys, ["Enter"], "{json}");
    assert!(!world.repo.join(mock_gemini::TOOL_FILE).exists());
    let status = harnex(&world, &env, &["status", "--json"]).json();
    assert_eq!(status[0]["input_state"]["state"], "permission", "{status}");

    let answered = harnex(
        &world,
        &env,
        &["send", "--id", "tool", "--keys", &keys.join(",")],
    );
    assert_eq!(answered.code, 0, "{answered:?}");
    crate::wait_for_prompt(&world, &env, "tool", 30);
    support::wait_until("the approved command ran", support::DEADLINE, || {
        world
            .repo
            .join(mock_gemini::TOOL_FILE)
            .exists()
            .then_some(())
    });
    support::wait_until("the answer after the tool", support::DEADLINE, || {
        world
            .screen("tool")
            .contains(mock_gemini::ANSWER)
            .then_some(())
    });
    stop(&world, &env, "tool");
}

#[test]
#[ignore = "needs the real Gemini CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn gemini_trust_dialog_is_reported_blocked_and_enter_answers_it() {
    let world = World::new();
    let mock = MockGemini::start().expect("mock");
    let env = gemini_env(
        "gemini_trust_dialog_is_reported_blocked_and_enter_answers_it",
        &world,
        &mock,
        false,
    );
    start(&world, &env, "trust");
    // Gemini draws its input box for a moment before the dialog; the dialog is what stays.
    let status = support::wait_until("the trust dialog", support::DEADLINE, || {
        let status = harnex(&world, &env, &["status", "--json"]).json();
        (status[0]["input_state"]["state"] == "workspace-trust").then_some(status)
    });
    assert_eq!(status[0]["agent_state"], "blocked", "{status}");
    assert_eq!(
        status[0]["input_state"]["accept_keys"],
        serde_json::json!(["Enter"]),
        "{status}"
    );
    let answered = harnex(&world, &env, &["send", "--id", "trust", "--keys", "Enter"]);
    assert_eq!(answered.code, 0, "{answered:?}");
    crate::wait_for_prompt(&world, &env, "trust", 40);
    let trusted = std::fs::read_to_string(
        world
            .root
            .path()
            .join("gemini-home/.gemini/trustedFolders.json"),
    )
    .expect("Gemini wrote its trusted folders");
    assert!(trusted.contains("TRUST_FOLDER"), "{trusted}");
    stop(&world, &env, "trust");
}

#[test]
#[ignore = "needs the real Gemini CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn gemini_turns_report_outcome_error_answer_and_usage_from_its_chat_records() {
    let test = "gemini_turns_report_outcome_error_answer_and_usage_from_its_chat_records";
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockGemini::start().expect("mock");
    let env = gemini_env(test, &world, &mock, true);
    start(&world, &env, "rec");

    let good = crate::send_turn(&world, &env, "rec", "Say the answer [delay=1500]");
    assert_eq!(good.code, 0, "{}", good.json);
    assert_eq!(good.json["outcome"], "completed", "{}", good.json);
    assert_eq!(good.json["source"], "record", "{}", good.json);
    assert_eq!(good.json["answer"], mock_gemini::ANSWER, "{}", good.json);
    crate::assert_usage(&good.json["usage"]["turn"], 1, true, "turn 1");
    crate::assert_usage(&good.json["usage"]["session"], 1, true, "after turn 1");

    let status = harnex(&world, &env, &["status", "--id", "rec", "--json"]).json();
    let records = &status[0]["records"];
    assert_eq!(records["state"], "following", "{status}");
    assert_eq!(records["source"], "gemini-chat", "{status}");
    let path = records["path"].as_str().unwrap_or("");
    let chats = world.root.path().join("gemini-home/.gemini/tmp");
    assert!(path.starts_with(&chats.display().to_string()), "{status}");

    // Gemini gives up on a 400 at once; the screen shows the prompt again, the record says why.
    let failed = crate::send_turn(&world, &env, "rec", "Say it [fail=400]");
    crate::assert_failed(&failed, "other", Some(400));
    assert_eq!(failed.json["source"], "record", "{}", failed.json);
    assert_eq!(
        failed.json["error"]["message"],
        mock_gemini::INVALID_ARGUMENT,
        "{}",
        failed.json
    );

    let again = crate::send_turn(&world, &env, "rec", "Say it again");
    assert_eq!(again.code, 0, "{}", again.json);
    assert_eq!(again.json["outcome"], "completed", "{}", again.json);
    assert_eq!(again.json["turn"], 3, "{}", again.json);
    crate::assert_usage(&again.json["usage"]["turn"], 1, true, "turn 3");
    crate::assert_usage(&again.json["usage"]["session"], 2, true, "after turn 3");
    let ends: Vec<Value> = world
        .events()
        .into_iter()
        .filter(|r| r["type"] == "task_complete")
        .collect();
    let outcomes: Vec<&str> = ends.iter().filter_map(|r| r["outcome"].as_str()).collect();
    assert_eq!(outcomes, ["completed", "failed", "completed"], "{ends:?}");
    stop(&world, &env, "rec");
}

#[test]
#[ignore = "needs the real Gemini CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn gemini_used_up_quota_is_blocked_and_stop_ends_the_turn_failed_rate_limited() {
    let test = "gemini_used_up_quota_is_blocked_and_stop_ends_the_turn_failed_rate_limited";
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockGemini::start().expect("mock");
    let env = gemini_env(test, &world, &mock, true);
    start(&world, &env, "quota");

    // A 429 saying `limit: 0` is a used-up quota: Gemini asks whether to keep trying.
    let (code, json, _) = send_and_wait(&world, &env, "quota", "Say it [fail=429]");
    assert_eq!(code, 1, "{json}\n{}", explain(&world, &env, "quota"));
    assert_eq!(json["state"], "blocked", "{json}");
    assert_eq!(json["dialog"]["reason"], "quota", "{json}");
    assert_eq!(
        json["dialog"]["accept_keys"],
        serde_json::json!(["Enter"]),
        "{json}"
    );

    let answered = harnex(
        &world,
        &env,
        &["send", "--id", "quota", "--keys", "Down,Enter"],
    );
    assert_eq!(answered.code, 0, "{answered:?}");
    let end = support::wait_until("the turn's end", support::DEADLINE, || {
        world
            .events()
            .into_iter()
            .find(|r| r["type"] == "task_complete")
    });
    assert_eq!(end["outcome"], "failed", "{end}");
    assert_eq!(end["source"], "record", "{end}");
    assert_eq!(end["error"]["kind"], "rate_limited", "{end}");
    // The session's last turn failed at the model: its exit is not classified `success`.
    let stopped = harnex(&world, &env, &["stop", "--id", "quota", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
}
