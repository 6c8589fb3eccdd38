//! Turn outcomes from the agent's own records, end to end through the binary: the fake agent
//! stands in for Codex (a shim named `codex` on PATH) and writes a Codex-style rollout under a
//! temp `CODEX_HOME`, held open as Codex does. The real CLIs are covered in tests/agents.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{Run, World, fake_agent_bin};

/// A `codex` on PATH that is the fake agent writing a rollout; returns the env to run harnex with.
fn codex_world(world: &World) -> Vec<(String, String)> {
    let bin = world.root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let shim = bin.join("codex");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nexec '{}' --prompt '› ' --title repo --turn-ms 300 --codex-rollout \"$@\"\n",
            fake_agent_bin().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    vec![
        ("PATH".into(), path),
        (
            "CODEX_HOME".into(),
            world.root.path().join("codex-home").display().to_string(),
        ),
    ]
}

fn harnex(world: &World, env: &[(String, String)], args: &[&str]) -> Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    world.run_env(args, &env)
}

fn start(world: &World, env: &[(String, String)], id: &str) {
    let run = harnex(
        world,
        env,
        &["run", "codex", "--id", id, "--detach", "--timeout", "20"],
    );
    assert_eq!(run.code, 0, "{run:?}");
}

fn send(world: &World, env: &[(String, String)], id: &str, text: &str) -> Run {
    harnex(
        world,
        env,
        &[
            "send",
            "--id",
            id,
            "--message",
            text,
            "--wait-for-idle",
            "--timeout",
            "20",
        ],
    )
}

fn status(world: &World, env: &[(String, String)], id: &str) -> Value {
    let run = harnex(world, env, &["status", "--id", id, "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let all = run.json();
    all.as_array()
        .and_then(|a| a.first().cloned())
        .unwrap_or(all)
}

#[test]
fn a_turn_is_reported_from_the_rollout_with_its_answer_and_usage() {
    let world = World::new();
    let env = codex_world(&world);
    start(&world, &env, "cx");
    let sent = send(&world, &env, "cx", "check the files");
    assert_eq!(sent.code, 0, "{sent:?}");
    let answer = sent.json();
    assert_eq!(answer["outcome"], "completed", "{answer}");
    assert_eq!(answer["source"], "record", "{answer}");
    assert_eq!(answer["answer"], "answer: check the files", "{answer}");
    assert_eq!(answer["usage"]["turn"]["output_tokens"], 56, "{answer}");
    assert_eq!(answer["usage"]["turn"]["input_tokens"], 1234, "{answer}");
    assert_eq!(answer["usage"]["model"], "fake-model", "{answer}");
    assert_eq!(answer["state"], "prompt", "{answer}");

    let status = status(&world, &env, "cx");
    assert_eq!(status["records"]["state"], "following", "{status}");
    assert_eq!(status["records"]["source"], "codex-rollout", "{status}");
    let path = PathBuf::from(status["records"]["path"].as_str().unwrap());
    assert!(path.starts_with(world.root.path().join("codex-home/sessions")));
    assert_eq!(status["usage"]["output_tokens"], 56, "{status}");
    assert_eq!(status["last_turn"]["outcome"], "completed", "{status}");

    // A second turn: its own usage, the session's grows.
    let again = send(&world, &env, "cx", "and again").json();
    assert_eq!(again["usage"]["turn"]["output_tokens"], 56, "{again}");
    assert_eq!(again["usage"]["session"]["output_tokens"], 112, "{again}");

    let rows = world.events_of("cx");
    let kinds: Vec<&str> = rows.iter().filter_map(|r| r["type"].as_str()).collect();
    let first_usage = kinds.iter().position(|k| *k == "usage").unwrap();
    let first_done = kinds.iter().position(|k| *k == "task_complete").unwrap();
    assert!(first_usage < first_done, "usage while working: {kinds:?}");
    let done: Vec<&Value> = rows
        .iter()
        .filter(|r| r["type"] == "task_complete")
        .collect();
    assert_eq!(done.len(), 2, "one row per turn: {kinds:?}");
    assert_eq!(done[0]["key"], "turn-end:turn-1");
}

#[test]
fn a_turn_that_failed_at_the_model_exits_1_with_its_error_and_wait_says_so_too() {
    let world = World::new();
    let env = codex_world(&world);
    start(&world, &env, "fail");
    let sent = send(&world, &env, "fail", "[fail=429] do it");
    assert_eq!(sent.code, 1, "{sent:?}");
    let answer = sent.json();
    assert_eq!(answer["ok"], false, "{answer}");
    assert_eq!(answer["outcome"], "failed", "{answer}");
    assert_eq!(answer["error"]["kind"], "rate_limited", "{answer}");
    assert_eq!(answer["error"]["http_status"], 429, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exceeded retry limit")
    );
    let waited = harnex(
        &world,
        &env,
        &[
            "wait",
            "--id",
            "fail",
            "--until",
            "task_complete",
            "--turn",
            "1",
            "--timeout",
            "10",
        ],
    );
    assert_eq!(waited.code, 1, "{waited:?}");
    assert_eq!(waited.json()["outcome"], "failed", "{waited:?}");
    let status = status(&world, &env, "fail");
    assert_eq!(status["last_turn"]["error"]["kind"], "rate_limited");
    // A good turn afterwards is good again.
    assert_eq!(send(&world, &env, "fail", "try again").code, 0);
}

#[test]
fn two_codex_sessions_started_at_once_in_one_repo_each_follow_their_own_rollout() {
    let world = World::new();
    let env = codex_world(&world);
    let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let starts: Vec<_> = ["one", "two"]
        .iter()
        .map(|id| {
            let mut cmd = world.cmd();
            cmd.args(["run", "codex", "--id", id, "--detach", "--timeout", "20"]);
            for (k, v) in &envs {
                cmd.env(k, v);
            }
            cmd.spawn().expect("start")
        })
        .collect();
    for mut child in starts {
        assert!(child.wait().unwrap().success());
    }
    // Both write their first line in the same moment.
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| send(&world, &env, "one", "task for one"));
        let b = scope.spawn(|| send(&world, &env, "two", "task for two"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.json()["answer"], "answer: task for one", "{a:?}");
    assert_eq!(b.json()["answer"], "answer: task for two", "{b:?}");
    let path_of = |id: &str| status(&world, &env, id)["records"]["path"].clone();
    let (one, two) = (path_of("one"), path_of("two"));
    assert_ne!(one, two);
    let text = std::fs::read_to_string(one.as_str().unwrap()).unwrap();
    assert!(text.contains("task for one") && !text.contains("task for two"));
}

#[test]
fn a_watch_resumes_a_failed_turn_with_what_failed() {
    let world = World::new();
    let env = codex_world(&world);
    let run = harnex(
        &world,
        &env,
        &[
            "run",
            "codex",
            "--id",
            "w",
            "--watch",
            "--stall-after",
            "5s",
            "--max-resumes",
            "1",
            "--context",
            "[fail=429] build it",
        ],
    );
    assert_eq!(run.code, 2, "escalates after its one resume: {run:?}");
    assert!(
        run.stdout
            .contains("failed turn 1 (rate_limited: exceeded retry limit"),
        "{run:?}"
    );
    let rows = world.events_of("w");
    let resume = rows
        .iter()
        .find(|r| r["type"] == "resume")
        .expect("a resume row");
    assert_eq!(resume["reason"], "failed_turn", "{resume}");
    let second = rows
        .iter()
        .filter(|r| r["type"] == "task_complete")
        .nth(1)
        .expect("the resumed turn");
    assert!(
        second["answer"]
            .as_str()
            .unwrap()
            .contains("your last turn failed: rate_limited"),
        "{second}"
    );
    let _ = harnex(&world, &env, &["stop", "--id", "w", "--wait"]);
}
