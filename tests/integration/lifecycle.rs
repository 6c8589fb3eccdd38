//! The whole life of a session: run → send → status → logs → stop → wait.

use std::os::unix::fs::PermissionsExt;

use crate::support::{DEADLINE, World, wait_until};

#[test]
fn a_detached_bash_session_from_start_to_exit() {
    let world = World::new();
    let started = world.detach_bash("demo");
    assert_eq!(started["ok"], true);
    assert_eq!(started["mode"], "headless");
    assert_eq!(started["id"], "demo");
    assert_eq!(started["agent_state"], "prompt");

    let registry = world.registry_files();
    assert_eq!(registry.len(), 1, "{registry:?}");
    let registry = &registry[0];
    let mode = std::fs::metadata(registry).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the registry holds the token");
    let state_mode = std::fs::metadata(&world.state)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(state_mode, 0o700);

    let sent = world.run(&[
        "send",
        "--id",
        "demo",
        "--message",
        "echo hi",
        "--wait-for-idle",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let sent = sent.json();
    assert_eq!(sent["ok"], true);
    assert_eq!(sent["state"], "prompt");
    assert_eq!(sent["turn"], 1);
    assert_eq!(sent["submitted"], true);

    let status = world.run(&["status", "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    let sessions = status.json();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["id"], "demo");
    assert_eq!(sessions[0]["agent_state"], "prompt");
    // As in the Ruby harnex: scripts take the token from here to call the API.
    assert_eq!(sessions[0]["token"], world.entry("demo")["token"]);

    let logs = world.run(&["logs", "--id", "demo", "--lines", "5"]);
    assert_eq!(logs.code, 0, "{logs:?}");
    assert!(
        logs.stdout.lines().any(|l| l.trim_end().ends_with("hi")),
        "{logs:?}"
    );
    let plain = world.run(&["logs", "--id", "demo", "--lines", "5", "--plain"]);
    assert!(plain.stdout.lines().any(|l| l.trim() == "hi"), "{plain:?}");

    let stopped = world.run(&["stop", "--id", "demo"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    assert_eq!(stopped.json()["signal"], "exit_sequence_sent");

    let waited = world.run(&["wait", "--id", "demo"]);
    assert_eq!(waited.code, 0, "{waited:?}");
    let record = waited.json();
    assert_eq!(record["exit_code"], 0);
    assert_eq!(record["id"], "demo");

    wait_until("the registry entry to go", DEADLINE, || {
        world.registry_files().is_empty().then_some(())
    });
    let exit_mode = std::fs::metadata(world.only_file("exits"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(exit_mode, 0o600);
    let events = world.events();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for wanted in ["started", "send", "exited"] {
        assert!(types.contains(&wanted), "{types:?}");
    }
    assert_eq!(types.first(), Some(&"started"));
    assert_eq!(types.last(), Some(&"exited"));
    let session_id = &events[0]["session_id"];
    assert!(session_id.as_str().is_some_and(|s| s.len() == 16));
    assert!(events.iter().all(|e| &e["session_id"] == session_id));
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
}

#[test]
fn the_fake_agent_answers_a_turn_and_its_exit_code_is_recorded() {
    let world = World::new();
    world.detach_fake("fa", &["--turn-ms", "300"]);
    let sent = world.run(&[
        "send",
        "--id",
        "fa",
        "--message",
        "do the thing",
        "--wait-for-idle",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    world.wait_screen("fa", "answer: do the thing");
    let sent = world.run(&["send", "--id", "fa", "--message", "exit 7"]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let waited = world.run(&["wait", "--id", "fa"]);
    assert_eq!(waited.code, 7, "{waited:?}");
    assert_eq!(waited.json()["exit_code"], 7);
    assert_eq!(waited.json()["reason"], "failure");
}
