//! Bad input: every case gets a clear message naming the fix, the documented exit code (0 ok,
//! 1 failure, 2 usage, 124 timeout) and leaves nothing half-written behind.

use std::time::{Duration, Instant};

use crate::support::{World, fake_agent_bin, free_port};

const COMMANDS: [&str; 6] = ["run", "send", "status", "wait", "stop", "logs"];

/// Nothing at all was written: the state dir was not even created.
fn assert_no_state(world: &World) {
    assert!(
        !world.state.exists(),
        "the state dir must not be created: {:?}",
        world.state_files()
    );
}

#[test]
fn an_unknown_command_is_a_usage_error_that_points_to_help() {
    let world = World::new();
    let run = world.run(&["frobnicate"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("unknown command"), "{run:?}");
    assert!(run.stderr.contains("frobnicate"), "{run:?}");
    assert!(run.stderr.contains("harnex --help"), "{run:?}");
    assert_no_state(&world);
}

#[test]
fn an_unknown_flag_is_a_usage_error_for_every_command() {
    let world = World::new();
    let top = world.run(&["--frobnicate"]);
    assert_eq!(top.code, 2, "{top:?}");
    assert!(top.stderr.contains("--frobnicate"), "{top:?}");
    // Check every command before failing, so one report shows them all.
    let mut wrong = Vec::new();
    for command in COMMANDS {
        let run = world.run(&[command, "--id", "x", "--frobnicate"]);
        let usage_error =
            run.code == 2 && run.stderr.contains("--frobnicate") && run.stderr.contains("--help");
        if !usage_error {
            wrong.push(format!("{command} --id x --frobnicate: {run:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "unknown flags must be usage errors (2):\n{}",
        wrong.join("\n")
    );
    assert_no_state(&world);
}

#[test]
fn a_missing_id_is_a_usage_error() {
    let world = World::new();
    for command in ["send", "wait", "stop", "logs"] {
        let run = world.run(&[command]);
        assert_eq!(run.code, 2, "{command}: {run:?}");
        assert!(run.stderr.contains("--id"), "{command}: {run:?}");
    }
    let blank = world.run(&["wait", "--id", "  "]);
    assert_eq!(blank.code, 2, "{blank:?}");
    assert!(blank.stderr.contains("--id"), "{blank:?}");
    assert_no_state(&world);
}

#[test]
fn other_malformed_options_are_usage_errors() {
    let world = World::new();
    let cases: [(&[&str], &str); 7] = [
        (&["run", "bash", "--size", "wide"], "COLSxROWS"),
        (&["run", "bash", "--host", "0.0.0.0"], "loopback"),
        (&["run", "bash", "--inbox-ttl", "soon"], "--inbox-ttl"),
        (&["wait", "--id", "x", "--until", "sleeping"], "prompt"),
        (&["logs", "--id", "x", "--lines", "many"], "--lines"),
        (
            &["send", "--id", "x", "--submit-only", "--message", "hi"],
            "--submit-only",
        ),
        (&["send", "--id", "x"], "--message"),
    ];
    for (args, hint) in cases {
        let run = world.run(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(hint),
            "{args:?} should mention {hint}: {run:?}"
        );
    }
    assert_no_state(&world);
}

#[test]
fn an_unknown_session_id_fails_and_lists_the_live_ids_of_this_repo() {
    let world = World::new();
    // send waits for the session to start (as the Ruby harnex does), saying why, then gives up.
    let none = world.run(&[
        "send",
        "--id",
        "ghost",
        "--message",
        "hi",
        "--timeout",
        "0.3",
    ]);
    assert_eq!(none.code, 124, "{none:?}");
    assert!(none.stderr.contains("ghost"), "{none:?}");
    assert!(
        none.stderr.contains("harnex run"),
        "with nothing running it says how to start: {none:?}"
    );

    world.start_fake("alpha", &[], &[]);
    world.start_fake("beta", &[], &[]);
    // Check every command before failing, so one report shows them all.
    let mut wrong = Vec::new();
    for command in ["send", "wait", "stop", "logs"] {
        let mut args = vec![command, "--id", "ghost"];
        let mut expected = 1;
        if command == "send" {
            args.extend(["--message", "hi", "--timeout", "0.3"]);
            expected = 124;
        }
        let run = world.run(&args);
        let lists_ids = run.stderr.contains("alpha") && run.stderr.contains("beta");
        if run.code != expected || !run.stderr.contains("\"ghost\"") || !lists_ids {
            wrong.push(format!("{command}: {run:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "an unknown id must fail (1; send: 124 after --timeout) and list the live ids here (alpha, beta):\n{}",
        wrong.join("\n")
    );
    assert!(world.files_of("sessions", "ghost").is_empty());
    assert!(world.files_of("exits", "ghost").is_empty());
}

#[test]
fn an_id_live_in_two_other_repos_is_ambiguous_until_repo_picks_one() {
    let world = World::new();
    let second = world.new_repo("second");
    let elsewhere = world.new_dir("elsewhere");
    world.start_fake_in(&world.repo, "twin", &[], &["--turn-ms", "100"]);
    world.start_fake_in(&second, "twin", &[], &["--turn-ms", "100"]);

    for args in [
        vec!["send", "--id", "twin", "--message", "hi"],
        vec!["wait", "--id", "twin", "--timeout", "1"],
        vec!["stop", "--id", "twin"],
        vec!["logs", "--id", "twin"],
    ] {
        let run = world.run_in(&elsewhere, &args);
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains("--repo"),
            "{args:?} asks for --repo: {run:?}"
        );
        assert!(run.stderr.contains(world.repo.to_str().unwrap()), "{run:?}");
        assert!(run.stderr.contains(second.to_str().unwrap()), "{run:?}");
    }
    // Nothing was sent or stopped by the refused commands.
    assert_eq!(world.entry_in(&world.repo, "twin")["injected_count"], 0);
    assert_eq!(world.entry_in(&second, "twin")["injected_count"], 0);

    let second_arg = second.to_str().unwrap();
    let picked = world.run_in(
        &elsewhere,
        &[
            "send",
            "--id",
            "twin",
            "--repo",
            second_arg,
            "--message",
            "for second",
            "--wait-for-idle",
        ],
    );
    assert_eq!(picked.code, 0, "{picked:?}");
    assert_eq!(picked.json()["ok"], true);
    let port = world.entry_in(&second, "twin")["port"].as_u64().unwrap();
    let token = world.entry_in(&second, "twin")["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, screen) = crate::support::http("GET", port, "/screen", Some(&token), b"");
    assert!(screen.contains("answer: for second"), "{screen}");
    assert_eq!(
        world.entry_in(&world.repo, "twin")["injected_count"],
        0,
        "the other twin got nothing"
    );
}

#[test]
fn meta_must_be_a_json_object() {
    let world = World::new();
    let agent = fake_agent_bin();
    let agent = agent.to_str().unwrap();
    for (meta, says) in [
        ("{not json", "valid JSON"),
        ("[1, 2]", "JSON object"),
        ("\"x\"", "JSON object"),
    ] {
        for detach in [true, false] {
            let mut args = vec!["run", agent, "--id", "m", "--meta", meta];
            if detach {
                args.push("--detach");
            }
            let run = world.run(&args);
            assert_eq!(run.code, 2, "--meta {meta}: {run:?}");
            assert!(run.stderr.contains(says), "{run:?}");
            assert!(
                run.stderr.contains(r#"--meta '{"issue":"12"}'"#),
                "shows an example: {run:?}"
            );
        }
    }
    assert_no_state(&world);
}

#[test]
fn a_cli_that_is_not_on_path_fails_before_anything_is_spawned() {
    let world = World::new();
    for detach in [true, false] {
        let mut args = vec!["run", "no-such-agent-cli", "--id", "nope"];
        if detach {
            args.push("--detach");
        }
        let run = world.run(&args);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("no-such-agent-cli"), "{run:?}");
        assert!(run.stderr.contains("not found on PATH"), "{run:?}");
        assert!(run.stderr.contains("full path"), "names the fix: {run:?}");
        assert!(run.stdout.trim().is_empty(), "{run:?}");
    }
    assert_no_state(&world);
}

#[test]
fn an_agent_that_exits_at_once_is_reported_with_its_code_and_last_output() {
    let world = World::new();
    let agent = fake_agent_bin();
    let run = world.run(&[
        "run",
        "--detach",
        agent.to_str().unwrap(),
        "--id",
        "dies",
        "--timeout",
        "20",
        "--",
        "--exit-at-start",
        "3",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        !run.stdout.contains("\"ok\":true"),
        "must not report ok: {run:?}"
    );
    assert!(
        !run.stdout.contains("\"ok\": true"),
        "must not report ok: {run:?}"
    );
    assert!(
        run.stderr.contains("code 3"),
        "reports the exit code: {run:?}"
    );
    assert!(
        run.stderr
            .contains("fatal: fake agent failed to start (code 3)"),
        "reports the agent's last output: {run:?}"
    );
    assert!(
        world.registry_files().is_empty(),
        "no registry entry is left"
    );
    let record = world.exit_record("dies");
    assert_eq!(record["exit_code"], 3);
    assert_eq!(record["reason"], "boot_failure");
    let waited = world.run(&["wait", "--id", "dies"]);
    assert_eq!(waited.code, 3, "{waited:?}");
}

#[test]
fn an_occupied_port_fails_before_the_session_registers() {
    let world = World::new();
    let port = free_port();
    let _holder = std::net::TcpListener::bind(("127.0.0.1", port)).expect("occupy the port");
    let agent = fake_agent_bin();
    let port_arg = port.to_string();
    for detach in [true, false] {
        let mut args = vec![
            "run",
            agent.to_str().unwrap(),
            "--id",
            "busyport",
            "--port",
            &port_arg,
        ];
        if detach {
            args.push("--detach");
        }
        let run = world.run(&args);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains(&port_arg), "{run:?}");
        assert!(
            run.stderr.contains("another --port"),
            "names the fix: {run:?}"
        );
        for sub in ["sessions", "events", "exits", "output"] {
            assert!(
                world.files_of(sub, "busyport").is_empty(),
                "nothing half-written in {sub}: {:?}",
                world.state_files()
            );
        }
    }
}

#[test]
fn a_state_dir_that_cannot_be_written_fails_with_the_fix() {
    let world = World::new();
    // As root permissions do not stop writes, so put the state dir below a regular file.
    let blocker = world.root.path().join("not-a-dir");
    std::fs::write(&blocker, b"a regular file").unwrap();
    let state = blocker.join("state");
    let agent = fake_agent_bin();
    for detach in [true, false] {
        let mut cmd = world.cmd();
        cmd.env("HARNEX_STATE_DIR", &state).args([
            "run",
            agent.to_str().unwrap(),
            "--id",
            "nowhere",
        ]);
        if detach {
            cmd.arg("--detach");
        }
        let started = Instant::now();
        let run = crate::support::Run::from(cmd.output().unwrap());
        assert_eq!(run.code, 1, "{run:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "fails fast");
        assert!(run.stderr.contains("not writable"), "{run:?}");
        assert!(
            run.stderr.contains("HARNEX_STATE_DIR"),
            "names the fix: {run:?}"
        );
        assert_eq!(std::fs::read(&blocker).unwrap(), b"a regular file");
    }
}

#[test]
fn a_wrong_token_on_the_command_line_fails_and_says_how_to_fix_it() {
    let world = World::new();
    world.start_fake("locked", &[], &[]);
    let (port, _) = world.api("locked");
    let port = port.to_string();
    let run = world.run(&[
        "send",
        "--id",
        "locked",
        "--port",
        &port,
        "--token",
        "0000",
        "--message",
        "hi",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("401"), "{run:?}");
    assert!(
        run.stderr.contains("--token"),
        "the message should name the fix (the token from the registry / --token): {run:?}"
    );
    assert_eq!(
        world.status("locked")["injected_count"],
        0,
        "nothing was delivered"
    );
}
