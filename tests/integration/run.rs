//! `harnex run`: foreground and detached, and every option it takes.

use std::time::{Duration, Instant};

use crate::support::{DEADLINE, World, fake_agent_bin, free_port, wait_until};

#[test]
fn detached_options_are_recorded_and_applied() {
    let world = World::new();
    let port = free_port();
    let port_arg = port.to_string();
    let started = world.start_fake(
        "opts",
        &[
            "--description",
            "-leading dash description",
            "--host",
            "127.0.0.1",
            "--port",
            &port_arg,
            "--meta",
            r#"{"issue":"12","model":"m-1"}"#,
            "--summary-out",
            "out/summary.jsonl",
            "--size",
            "100x30",
        ],
        &["--turn-ms", "100"],
    );
    assert_eq!(started["ok"], true);
    assert_eq!(started["id"], "opts");
    assert_eq!(started["mode"], "headless");
    assert_eq!(started["port"], port);
    assert_eq!(started["description"], "-leading dash description");

    let entry = world.entry("opts");
    assert_eq!(entry["host"], "127.0.0.1");
    assert_eq!(entry["port"], port);
    assert_eq!(entry["description"], "-leading dash description");

    let status = world.status("opts");
    assert_eq!(status["meta"]["issue"], "12");
    assert_eq!(status["model"], "m-1", "meta fields surface in status");
    assert_eq!(
        status["summary_out"],
        world.repo.join("out/summary.jsonl").to_str().unwrap(),
        "--summary-out is resolved against the repo and stored"
    );
    assert_eq!(status["size"]["cols"], 100);
    assert_eq!(status["size"]["rows"], 30);
    let (_, screen) = world.call("opts", "GET", "/screen", b"");
    assert_eq!(screen["size"]["cols"], 100, "{screen}");
    assert_eq!(screen["size"]["rows"], 30, "{screen}");

    let events = world.events_of("opts");
    assert_eq!(events[0]["type"], "started");
    assert_eq!(events[0]["meta"]["issue"], "12", "{}", events[0]);

    let table = world.run(&["status"]);
    assert!(
        table.stdout.contains("-leading dash description"),
        "{table:?}"
    );
}

#[test]
fn a_generated_id_is_used_when_none_is_given() {
    let world = World::new();
    let agent = fake_agent_bin();
    let run = world.run(&[
        "run",
        "--detach",
        "--timeout",
        "20",
        agent.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let id = run.json()["id"].as_str().expect("id").to_string();
    assert!(!id.is_empty());
    assert_eq!(world.entry(&id)["id"], id.as_str());
}

#[test]
fn context_is_delivered_as_the_first_message_with_the_session_prefix() {
    let world = World::new();
    world.start_fake(
        "ctx",
        &["--context", "--read the brief--"],
        &["--turn-ms", "100"],
    );
    let screen = world.wait_screen("ctx", "answer: [harnex session id=ctx] --read the brief--");
    assert!(
        screen.starts_with("> [harnex session id=ctx] --read the brief--"),
        "{screen}"
    );
    let sends: Vec<_> = world
        .events_of("ctx")
        .into_iter()
        .filter(|e| e["type"] == "send")
        .collect();
    assert_eq!(sends.len(), 1, "{sends:?}");
    assert_eq!(
        sends[0]["msg"],
        "[harnex session id=ctx] --read the brief--"
    );
    assert_eq!(sends[0]["turn"], 1);
}

#[test]
fn inbox_ttl_expires_queued_messages() {
    let world = World::new();
    world.start_fake("ttl", &["--inbox-ttl", "1s"], &[]);
    assert_eq!(
        world
            .run(&["send", "--id", "ttl", "--message", "hang"])
            .code,
        0
    );
    world.wait_state("ttl", "busy");
    let started = Instant::now();
    let run = world.run(&[
        "send",
        "--id",
        "ttl",
        "--message",
        "too late",
        "--timeout",
        "30",
    ]);
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json()["status"], "expired", "{run:?}");
    assert!(run.stderr.contains("expired"), "{run:?}");
    assert!(
        took >= Duration::from_millis(900),
        "expired too early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "--inbox-ttl 1s was not applied: {took:?}"
    );
    assert_eq!(world.status("ttl")["inbox"]["expired_total"], 1);
}

#[test]
fn detach_timeout_reports_a_session_that_is_still_starting() {
    let world = World::new();
    let agent = fake_agent_bin();
    let started = Instant::now();
    let run = world.run(&[
        "run",
        "--detach",
        agent.to_str().unwrap(),
        "--id",
        "slowboot",
        "--timeout",
        "1s",
        "--",
        "--boot-ms",
        "4000",
    ]);
    let took = started.elapsed();
    assert_eq!(run.code, 0, "{run:?}");
    let line = run.json();
    assert_eq!(line["ok"], true);
    assert_eq!(line["agent_state"], "starting", "{line}");
    assert!(
        took < Duration::from_secs(4),
        "--timeout 1s was not applied: {took:?}"
    );
    // The session keeps starting in the background and becomes ready.
    world.wait_state("slowboot", "prompt");
}

#[test]
fn a_second_live_session_with_the_same_id_in_the_same_repo_is_refused() {
    let world = World::new();
    let first = world.start_fake("dup", &[], &[]);
    let agent = fake_agent_bin();
    for detach in [true, false] {
        let mut args = vec!["run", agent.to_str().unwrap(), "--id", "dup"];
        if detach {
            args.push("--detach");
        }
        let run = world.run(&args);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("already active"), "{run:?}");
        assert!(
            run.stderr.contains("harnex stop --id dup"),
            "names the fix: {run:?}"
        );
    }
    assert_eq!(world.registry_files().len(), 1);
    assert_eq!(
        world.entry("dup")["pid"],
        first["pid"],
        "the first session is untouched"
    );
    assert_eq!(world.files_of("events", "dup").len(), 1);
    assert_eq!(world.status("dup")["agent_state"], "prompt");

    // The same id in another repo is a different session.
    let other = world.new_repo("other");
    world.start_fake_in(&other, "dup", &[], &[]);
    assert_eq!(world.registry_files().len(), 2);
}

#[test]
fn a_foreground_run_copies_the_output_and_exits_with_the_agents_code() {
    let world = World::new();
    let agent = fake_agent_bin();
    let mut fg = world.spawn(&["run", agent.to_str().unwrap(), "--id", "fg"]);
    wait_until("the foreground session to register", DEADLINE, || {
        (!world.files_of("sessions", "fg").is_empty()).then_some(())
    });
    assert_eq!(world.entry("fg")["mode"], "foreground");
    world.wait_state("fg", "prompt");
    // Keystrokes on harnex's stdin go to the agent.
    fg.write_stdin(b"exit 5\r");
    let run = fg.finish(DEADLINE);
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        run.stdout.contains("> exit 5"),
        "the agent's output is copied: {run:?}"
    );
    assert!(run.stdout.contains("exiting 5"), "{run:?}");
    assert!(
        run.stderr.contains("harnex: session fg on 127.0.0.1:"),
        "{run:?}"
    );
    assert!(world.registry_files().is_empty());
    assert_eq!(world.exit_record("fg")["exit_code"], 5);
}

#[test]
fn a_foreground_run_is_reachable_through_the_api() {
    let world = World::new();
    let agent = fake_agent_bin();
    let fg = world.spawn(&[
        "run",
        agent.to_str().unwrap(),
        "--id",
        "fg-api",
        "--",
        "--turn-ms",
        "100",
    ]);
    wait_until("the foreground session to register", DEADLINE, || {
        (!world.files_of("sessions", "fg-api").is_empty()).then_some(())
    });
    world.wait_state("fg-api", "prompt");
    let sent = world.run(&[
        "send",
        "--id",
        "fg-api",
        "--message",
        "via api",
        "--wait-for-idle",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    fg.wait_stdout("answer: via api");
    let stop = world.run(&["stop", "--id", "fg-api"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    let run = fg.finish(DEADLINE);
    assert_eq!(
        run.code, 0,
        "the exit sequence ends the agent cleanly: {run:?}"
    );
}
