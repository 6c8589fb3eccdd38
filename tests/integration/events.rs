//! Events v1: the rows a full session writes match the generated schema (docs/schema/events.json,
//! kept in step with docs/events.md), `harnex events` follows and
//! refuses what it should, secrets never reach the log, and the dispatch summary is written.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

pub use crate::event_schema::{check_rows, schema};
use crate::support::{DEADLINE, World, wait_until};

fn git(repo: &Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .current_dir(repo)
        .status()
        .expect("git")
        .success();
    assert!(ok, "git {args:?}");
}

/// A full session: git repo with a commit, meta, a parent, two turns, a change, a clean stop.
fn full_run(world: &World) -> Vec<Value> {
    std::fs::write(world.repo.join("a.txt"), "one\n").unwrap();
    git(&world.repo, &["add", "."]);
    git(&world.repo, &["commit", "-qm", "first"]);
    let agent = crate::support::fake_agent_bin();
    let run = world.run_env(
        &[
            "run",
            "--detach",
            agent.to_str().unwrap(),
            "--id",
            "full",
            "--meta",
            r#"{"issue":"5","model":"o3","task_brief":"token sk-abcdefghijklmnop1234"}"#,
            "--summary-out",
            "out/DISPATCH.jsonl",
            "--timeout",
            "20",
            "--",
            "--turn-ms",
            "300",
        ],
        &[("HARNEX_ID", "planner")],
    );
    assert_eq!(run.code, 0, "{run:?}");
    for message in ["first task", "use key sk-abcdefghijklmnop1234 for it"] {
        let sent = world.run(&[
            "send",
            "--id",
            "full",
            "--message",
            message,
            "--wait-for-idle",
        ]);
        assert_eq!(sent.code, 0, "{sent:?}");
    }
    std::fs::write(world.repo.join("a.txt"), "one\ntwo\n").unwrap();
    git(&world.repo, &["commit", "-qam", "second"]);
    let stopped = world.run(&["stop", "--id", "full", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    world.events()
}

#[test]
fn every_row_of_a_full_run_matches_the_documented_schema() {
    let schema = schema();
    assert!(schema.envelope.contains_key("session_id"));
    assert!(schema.watcher_types.contains("resume"));
    let world = World::new();
    let rows = full_run(&world);
    check_rows(&schema, &rows);
    let seen: BTreeSet<&str> = rows.iter().filter_map(|r| r["type"].as_str()).collect();
    // Sub-agents exist only in a real agent's records: the record parsers' and the ledger's
    // tests cover `subagent` rows.
    const NEEDS_A_REAL_AGENT: [&str; 1] = ["subagent"];
    let documented: BTreeSet<&str> = schema
        .types
        .keys()
        .filter(|t| !schema.watcher_types.contains(*t))
        .filter(|t| !NEEDS_A_REAL_AGENT.contains(&t.as_str()))
        .map(String::as_str)
        .collect();
    assert_eq!(
        seen, documented,
        "every documented type appears in a full run"
    );
}

#[test]
fn a_full_run_writes_its_events_in_order() {
    let world = World::new();
    let rows = full_run(&world);
    let types: Vec<&str> = rows.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(&types[..2], ["started", "git"], "{types:?}");
    assert_eq!(rows[0]["parent"], "planner");
    assert_eq!(rows[0]["meta"]["issue"], "5");
    assert_eq!(rows[1]["phase"], "start");
    assert_eq!(
        &types[types.len() - 4..],
        ["usage", "git", "summary", "exited"],
        "{types:?}"
    );
    assert_eq!(rows[rows.len() - 3]["phase"], "end");
    assert_eq!(rows[rows.len() - 3]["commits"], 1);
    assert_eq!(rows[rows.len() - 3]["loc_added"], 1);
    let exited = rows.last().unwrap();
    assert_eq!(exited["reason"], "success");
    assert_eq!(exited["code"], 0);
    // Each turn: send, then turn_started, then task_complete, in that order.
    for turn in [1, 2] {
        let at = |kind: &str| {
            rows.iter()
                .position(|r| r["type"] == kind && r["turn"] == turn)
                .unwrap_or_else(|| panic!("no {kind} for turn {turn}: {types:?}"))
        };
        assert!(at("send") < at("turn_started"));
        assert!(at("turn_started") < at("task_complete"));
    }
    let seqs: Vec<u64> = rows.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=rows.len() as u64).collect::<Vec<_>>());
}

#[test]
fn secrets_are_masked_in_the_log_and_the_summary() {
    let world = World::new();
    let rows = full_run(&world);
    let log = std::fs::read_to_string(world.only_file("events")).unwrap();
    assert!(
        !log.contains("abcdefghijklmnop1234"),
        "a key reached the event log"
    );
    let send = rows
        .iter()
        .find(|r| r["type"] == "send" && r["turn"] == 2)
        .unwrap();
    assert_eq!(send["msg"], "use key sk-[redacted] for it");
    // The agent itself got the real text.
    let transcript = std::fs::read_to_string(world.only_file("output")).unwrap();
    assert!(transcript.contains("sk-abcdefghijklmnop1234"));
    let summary = std::fs::read_to_string(world.repo.join("out/DISPATCH.jsonl")).unwrap();
    assert!(!summary.contains("abcdefghijklmnop1234"), "{summary}");
    let record: Value = serde_json::from_str(summary.trim()).unwrap();
    assert_eq!(record["meta"]["id"], "full");
    assert_eq!(record["meta"]["issue"], "5");
    assert_eq!(record["meta"]["harness"], "harnex");
    assert_eq!(record["actual"]["exit"], "success");
    assert_eq!(record["actual"]["model"], "o3");
    assert_eq!(record["actual"]["commits"], 1);
    assert!(record["actual"]["duration_s"].is_u64());
    assert_eq!(record["predicted"], serde_json::json!({}));
}

#[test]
fn a_boot_failure_writes_its_summary_record() {
    let world = World::new();
    std::fs::create_dir(world.repo.join("koder")).unwrap();
    let agent = crate::support::fake_agent_bin();
    let run = world.run(&[
        "run",
        "--detach",
        agent.to_str().unwrap(),
        "--id",
        "dead",
        "--",
        "--exit-at-start",
        "3",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let path = world.repo.join("koder/DISPATCH.jsonl");
    let summary = wait_until("the summary record", DEADLINE, || {
        std::fs::read_to_string(&path)
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    let record: Value = serde_json::from_str(summary.trim()).unwrap();
    assert_eq!(record["actual"]["exit"], "boot_failure");
    assert_eq!(record["actual"]["disconnections"], 1);
    let rows = world.events();
    let exited = rows.last().unwrap();
    assert_eq!(exited["type"], "exited");
    assert_eq!(exited["reason"], "boot_failure");
    assert_eq!(exited["code"], 3);
}

#[test]
fn following_prints_appended_rows_and_ends_at_exited() {
    let world = World::new();
    world.start_fake("fol", &[], &["--turn-ms", "100"]);
    let follower = world.spawn(&["events", "--id", "fol"]);
    follower.wait_stdout("\"type\":\"started\"");
    let sent = world.run(&[
        "send",
        "--id",
        "fol",
        "--message",
        "hello",
        "--wait-for-idle",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    follower.wait_stdout("\"type\":\"task_complete\"");
    let stopped = world.run(&["stop", "--id", "fol"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let done = follower.finish(DEADLINE);
    assert_eq!(done.code, 0, "{done:?}");
    let last: Value = serde_json::from_str(done.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "exited");
    let snapshot = world.run(&["events", "--id", "fol", "--snapshot"]);
    assert_eq!(
        snapshot.stdout,
        std::fs::read_to_string(world.only_file("events")).unwrap()
    );
}

#[test]
fn idle_followers_block_and_end_with_their_supervisor() {
    let world = World::new();
    world.start_fake("quiet", &[], &[]);
    world.wait_state("quiet", "prompt");
    let events = world.spawn(&["events", "--id", "quiet"]);
    let logs = world.spawn(&["logs", "--id", "quiet", "--follow", "--raw"]);
    events.wait_stdout("\"type\":\"started\"");
    wait_until("the transcript on stdout", DEADLINE, || {
        (!logs.stdout().is_empty()).then_some(())
    });
    // Nothing is written while the agent idles: a follower blocked in inotify does not wake
    // (a 100 ms polling loop would wake about 20 times in this stretch).
    let before = [events.pid(), logs.pid()].map(crate::support::voluntary_switches);
    std::thread::sleep(Duration::from_secs(2));
    let after = [events.pid(), logs.pid()].map(crate::support::voluntary_switches);
    for (name, (b, a)) in ["events", "logs --follow"]
        .iter()
        .zip(before.iter().zip(after))
    {
        assert!(a - b <= 2, "{name} woke {} times in 2 s of quiet", a - b);
    }
    // Killed, the supervisor writes nothing more: the followers end on its exit alone.
    let supervisor = world.entry("quiet")["supervisor_pid"].as_u64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let logs = logs.finish(DEADLINE);
    assert_eq!(logs.code, 0, "{logs:?}");
    let events = events.finish(DEADLINE);
    assert_eq!(events.code, 0, "{events:?}");
    assert!(
        events.stdout.contains("\"reason\":\"crashed\""),
        "{events:?}"
    );
}

#[test]
fn following_a_truncated_stream_fails() {
    let world = World::new();
    world.start_fake("trunc", &[], &[]);
    let follower = world.spawn(&["events", "--id", "trunc"]);
    follower.wait_stdout("\"type\":\"started\"");
    std::fs::write(world.only_file("events"), "").unwrap();
    let done = follower.finish(DEADLINE);
    assert_eq!(done.code, 1, "{done:?}");
    assert!(
        done.stderr.contains("stream source was truncated"),
        "{done:?}"
    );
}

#[test]
fn following_a_reused_id_waits_for_the_current_run() {
    let world = World::new();
    world.start_fake("again", &[], &[]);
    let stopped = world.run(&["stop", "--id", "again", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    world.start_fake("again", &[], &[]);
    let follower = world.spawn(&["events", "--id", "again"]);
    // The first run's `exited` is in the stream; the follower must keep going past it.
    let rows = follower.wait_stdout("\"type\":\"exited\"");
    let starts = rows.matches("\"type\":\"started\"").count();
    wait_until("both runs' started rows", DEADLINE, || {
        (follower.stdout().matches("\"type\":\"started\"").count() == 2).then_some(())
    });
    assert!(starts >= 1);
    // The second run's `started` comes after the first run's `exited` in the stream: printing
    // it means the follower went past that row instead of ending there.
    assert_eq!(
        follower.stdout().matches("\"type\":\"exited\"").count(),
        1,
        "still following the second run"
    );
    let stopped = world.run(&["stop", "--id", "again"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let done = follower.finish(DEADLINE);
    assert_eq!(done.code, 0, "{done:?}");
    assert_eq!(done.stdout.matches("\"type\":\"exited\"").count(), 2);
    let sessions: BTreeSet<String> = done
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["session_id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(sessions.len(), 2, "two runs, two session ids");
}

#[test]
fn events_refuses_a_missing_stream_and_a_bad_from() {
    let world = World::new();
    let missing = world.run(&["events", "--id", "nobody"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing.stderr.contains("no session or event stream"),
        "{missing:?}"
    );
    world.start_fake("from", &[], &[]);
    let bad = world.run(&["events", "--id", "from", "--from", "yesterday"]);
    assert_eq!(bad.code, 2, "a usage error: {bad:?}");
    let recent = world.run(&["events", "--id", "from", "--snapshot", "--from", "5m"]);
    assert_eq!(recent.code, 0, "{recent:?}");
    assert!(
        recent.stdout.contains("\"type\":\"started\""),
        "the last 5 minutes hold the start: {recent:?}"
    );
    let future = world.run(&[
        "events",
        "--id",
        "from",
        "--snapshot",
        "--from",
        "2099-01-01T00:00:00Z",
    ]);
    assert_eq!(future.code, 0, "{future:?}");
    assert_eq!(future.stdout, "", "{future:?}");
    assert!(bad.stderr.contains("RFC 3339"), "{bad:?}");
    let rows = world.events();
    let second_ts = rows[1]["ts"].as_str().unwrap();
    let from = world.run(&["events", "--id", "from", "--snapshot", "--from", second_ts]);
    assert_eq!(from.code, 0, "{from:?}");
    let first: Value = serde_json::from_str(from.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["ts"], rows[1]["ts"], "--from is inclusive");
    assert!(!from.stdout.contains("\"type\":\"started\""));
}

#[test]
fn wait_until_task_complete_follows_a_turn() {
    let world = World::new();
    world.start_fake("tc", &[], &["--turn-ms", "800"]);
    let sent = world.run(&["send", "--id", "tc", "--message", "work", "--no-wait"]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let waited = world.run(&[
        "wait",
        "--id",
        "tc",
        "--until",
        "task_complete",
        "--turn",
        "1",
        "--timeout",
        "20",
    ]);
    assert_eq!(waited.code, 0, "{waited:?}");
    let answer = waited.json();
    assert_eq!(answer["event"], "task_complete");
    assert_eq!(answer["turn"], 1);
    // Without --turn, only a completion after the call counts.
    let later = world.run(&[
        "wait",
        "--id",
        "tc",
        "--until",
        "task_complete",
        "--timeout",
        "1",
    ]);
    assert_eq!(later.code, 124, "{later:?}");
    let status = world.run(&["status", "--json"]).json();
    assert_eq!(status[0]["turns"], 1);
    assert!(status[0]["last_completed_at"].is_string());
}
