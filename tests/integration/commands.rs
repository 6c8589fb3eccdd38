//! `status`, `wait`, `stop`, `logs`, `help`, `--help` and `--version` against live and finished
//! sessions.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{DEADLINE, World, process_alive, wait_until};

const COMMANDS: [&str; 7] = ["run", "send", "status", "wait", "stop", "logs", "help"];

// ---------------------------------------------------------------------------------------------
// status

#[test]
fn status_shows_this_repos_sessions_as_a_table() {
    let world = World::new();
    let one = world.start_fake("one", &["--description", "the first one"], &[]);
    let two = world.start_fake("two", &[], &[]);
    let run = world.run(&["status"]);
    assert_eq!(run.code, 0, "{run:?}");
    let mut lines = run.stdout.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        [
            "ID", "CLI", "PID", "PORT", "AGE", "IDLE", "STATE", "REPO", "DESC"
        ]
    );
    let rule = lines.next().expect("the dashed rule");
    assert!(
        rule.starts_with("--") && rule.chars().all(|c| c == '-' || c == ' '),
        "{run:?}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{run:?}");
    for (row, started) in rows.iter().zip([&one, &two]) {
        assert_eq!(row[0], started["id"].as_str().unwrap(), "{run:?}");
        assert_eq!(row[2], started["pid"].to_string(), "{run:?}");
        assert_eq!(row[3], started["port"].to_string(), "{run:?}");
        assert!(
            row[4].ends_with('s') || row[4].ends_with('m'),
            "AGE: {run:?}"
        );
        assert_eq!(row[6], "prompt", "{run:?}");
    }
    assert_eq!(rows[0][8..].join(" "), "the first one");
    assert_eq!(rows[1][8], "-", "no description is a dash");
}

#[test]
fn status_json_and_id_select_sessions_and_only_the_json_has_tokens() {
    let world = World::new();
    world.start_fake("alpha", &[], &[]);
    world.start_fake("beta", &[], &[]);
    let all = world.run(&["status", "--json"]);
    assert_eq!(all.code, 0, "{all:?}");
    let all = all.json();
    let ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alpha", "beta"]);
    let one = world.run(&["status", "--json", "--id", "beta"]).json();
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["id"], "beta");
    assert_eq!(one[0]["agent_state"], "prompt");
    // The JSON carries each session's own token, as the Ruby harnex's does; the table never.
    assert_eq!(all[0]["token"], world.api("alpha").1.as_str());
    let table = world.run(&["status", "--id", "alpha"]);
    assert_eq!(table.stdout.lines().count(), 3, "{table:?}");
    assert!(
        !table.stdout.contains(world.api("alpha").1.as_str()),
        "{table:?}"
    );
    let none = world.run(&["status", "--id", "gamma"]);
    assert_eq!(none.code, 1, "an unknown id is a failure: {none:?}");
    assert!(none.stderr.contains("gamma"), "{none:?}");
}

#[test]
fn status_repo_and_all_choose_the_repositories() {
    let world = World::new();
    let other = world.new_repo("other");
    world.start_fake("here", &[], &[]);
    world.start_fake_in(&other, "there", &[], &[]);
    let ids = |args: &[&str]| -> Vec<String> {
        let run = world.run(args);
        assert_eq!(run.code, 0, "{run:?}");
        run.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&["status", "--json"]), ["here"]);
    assert_eq!(
        ids(&["status", "--json", "--repo", other.to_str().unwrap()]),
        ["there"]
    );
    let mut all = ids(&["status", "--json", "--all"]);
    all.sort();
    assert_eq!(all, ["here", "there"]);
    let table = world.run(&["status", "--all"]);
    assert_eq!(
        table.stdout.lines().count(),
        4,
        "header, rule, two rows: {table:?}"
    );
    // A subdirectory belongs to its repository.
    let sub = world.repo.join("src/deep");
    std::fs::create_dir_all(&sub).unwrap();
    let from_sub = world.run_in(&sub, &["status", "--json"]).json();
    assert_eq!(from_sub[0]["id"], "here");
}

#[test]
fn status_in_a_repo_without_sessions_points_to_the_others() {
    let world = World::new();
    let other = world.new_repo("other");
    world.start_fake_in(&other, "far", &[], &[]);
    let run = world.run(&["status"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with("No active harnex sessions for "),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("1 live session(s) in other repos"),
        "{run:?}"
    );
    assert!(run.stderr.contains("--all"), "{run:?}");
    assert_eq!(
        world.run(&["status", "--json"]).json(),
        serde_json::json!([])
    );

    let lonely = World::new();
    let empty = lonely.run(&["status"]);
    assert_eq!(empty.code, 0, "{empty:?}");
    assert!(
        empty.stdout.contains("No active harnex sessions"),
        "{empty:?}"
    );
    assert!(
        !empty.stderr.contains("--all"),
        "nothing elsewhere either: {empty:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// wait

#[test]
fn once_stop_wait_returns_the_id_is_free_and_wait_reads_the_record() {
    // The supervisor lets go of the id moments after its exit record: `stop --wait` and `wait`
    // return only after that, so a script can go straight on (as the guide does).
    let world = World::new();
    for round in 0..6 {
        world.start_fake("again", &[], &[]);
        let stopped = world.run(&["stop", "--id", "again", "--wait"]);
        assert_eq!(stopped.code, 0, "round {round}: {stopped:?}");
        let waited = world.run(&["wait", "--id", "again"]);
        assert_eq!(waited.code, 0, "round {round}: {waited:?}");
        assert_eq!(
            waited.json()["session_id"],
            stopped.json()["exit"]["session_id"],
            "round {round}"
        );
    }
}

#[test]
fn wait_exits_with_the_agents_code_also_after_the_session_is_gone() {
    let world = World::new();
    world.start_fake("exiter", &[], &[]);
    let supervisor = world.entry("exiter")["supervisor_pid"].as_u64().unwrap();
    let waiter = world.spawn(&["wait", "--id", "exiter"]);
    // The waiter is in its long-poll before the agent exits.
    let port = world.entry("exiter")["port"].as_u64().unwrap();
    crate::support::wait_connected(waiter.pid(), port);
    world.run(&["send", "--id", "exiter", "--message", "exit 3"]);
    let waited = waiter.finish(DEADLINE);
    assert_eq!(waited.code, 3, "{waited:?}");
    let record = waited.json();
    assert_eq!(record["exit_code"], 3);
    assert_eq!(record["id"], "exiter");
    assert_eq!(record["reason"], "failure");
    wait_until("the supervisor to end", DEADLINE, || {
        (!process_alive(supervisor)).then_some(())
    });

    let again = world.run(&["wait", "--id", "exiter"]);
    assert_eq!(again.code, 3, "{again:?}");
    assert_eq!(again.json(), record, "the same exit record");
    let until = world.run(&["wait", "--id", "exiter", "--until", "prompt"]);
    assert_eq!(
        until.code, 1,
        "a gone session never reaches a state: {until:?}"
    );
}

#[test]
fn wait_until_a_state_and_timeouts() {
    let world = World::new();
    world.start_fake("states", &[], &[]);
    let at_prompt = world.run(&[
        "wait",
        "--id",
        "states",
        "--until",
        "prompt",
        "--timeout",
        "10",
    ]);
    assert_eq!(at_prompt.code, 0, "{at_prompt:?}");
    assert_eq!(at_prompt.json()["state"], "prompt");

    let waiter = world.spawn(&[
        "wait",
        "--id",
        "states",
        "--until",
        "busy",
        "--timeout",
        "20",
    ]);
    // The waiter is in its long-poll before the agent goes busy.
    let port = world.entry("states")["port"].as_u64().unwrap();
    crate::support::wait_connected(waiter.pid(), port);
    assert_eq!(
        world
            .run(&["send", "--id", "states", "--message", "hang"])
            .code,
        0
    );
    let busy = waiter.finish(DEADLINE);
    assert_eq!(busy.code, 0, "{busy:?}");
    let busy = busy.json();
    assert_eq!(busy["ok"], true);
    assert_eq!(busy["state"], "busy");

    let started = Instant::now();
    let prompt = world.run(&[
        "wait",
        "--id",
        "states",
        "--until",
        "prompt",
        "--timeout",
        "1",
    ]);
    assert_eq!(prompt.code, 124, "{prompt:?}");
    let out = prompt.json();
    assert_eq!(out["status"], "timeout");
    assert_eq!(out["state"], "busy");
    assert!(started.elapsed() < Duration::from_secs(6));

    let exit = world.run(&["wait", "--id", "states", "--timeout", "1"]);
    assert_eq!(exit.code, 124, "{exit:?}");
    assert_eq!(exit.json()["status"], "timeout");
    assert!(
        world.files_of("exits", "states").is_empty(),
        "still running"
    );
}

// ---------------------------------------------------------------------------------------------
// stop

fn assert_stopped(world: &World, id: &str) -> Value {
    world.wait_gone(id);
    let record = world.exit_record(id);
    assert_eq!(record["reason_detail"], "stopped", "{record}");
    let events = world.events_of(id);
    assert_eq!(events.last().unwrap()["type"], "exited", "{events:?}");
    record
}

#[test]
fn stop_types_the_exit_sequence() {
    let world = World::new();
    world.start_fake("polite", &[], &[]);
    let run = world.run(&["stop", "--id", "polite"]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = run.json();
    assert_eq!(out["ok"], true);
    assert_eq!(out["signal"], "exit_sequence_sent");
    let waited = world.run(&["wait", "--id", "polite"]);
    assert_eq!(
        waited.code, 0,
        "C-d at the empty prompt ends the agent cleanly: {waited:?}"
    );
    let record = assert_stopped(&world, "polite");
    assert_eq!(record["exit_code"], 0);
    assert_eq!(record["reason"], "success");
}

#[test]
fn stop_wait_returns_with_the_exit_record() {
    let world = World::new();
    world.start_fake("patient", &[], &[]);
    let run = world.run(&["stop", "--id", "patient", "--wait"]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = run.json();
    assert_eq!(out["signal"], "exit_sequence_sent");
    assert_eq!(out["exit"]["exit_code"], 0, "{out}");
    assert_eq!(out["exit"]["id"], "patient");
    assert_stopped(&world, "patient");
    let again = world.run(&["stop", "--id", "patient"]);
    assert_eq!(again.code, 1, "nothing left to stop: {again:?}");
}

#[test]
fn stop_force_signals_the_agent_at_once() {
    let world = World::new();
    world.start_fake("forced", &[], &[]);
    let started = Instant::now();
    let run = world.run(&["stop", "--id", "forced", "--force", "--wait"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let out = run.json();
    assert_eq!(out["signal"], "terminate_sent");
    let code = out["exit"]["exit_code"].as_i64().unwrap();
    assert!(
        [129, 143].contains(&code),
        "killed by SIGHUP or SIGTERM: {out}"
    );
    let record = assert_stopped(&world, "forced");
    assert_eq!(record["exit_code"], code);
}

#[test]
fn stop_signals_an_agent_that_ignores_the_exit_sequence_after_the_grace() {
    let world = World::new();
    world.start_fake("stubborn", &[], &[]);
    assert_eq!(
        world
            .run(&["send", "--id", "stubborn", "--message", "hang"])
            .code,
        0
    );
    world.wait_state("stubborn", "busy");
    let started = Instant::now();
    let run = world.run(&["stop", "--id", "stubborn", "--grace", "2s"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["signal"], "exit_sequence_sent");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "stop without --wait returns at once, the ladder goes on in the supervisor"
    );
    // An agent that obeyed C-u C-d would exit 0 at once; this one is busy and ignores it, so it
    // is SIGTERMed (SIGHUP and SIGTERM go together; the fake agent exits 128 + signal) once the
    // grace has passed.
    let waited = world.run(&["wait", "--id", "stubborn", "--timeout", "20"]);
    let took = started.elapsed();
    assert!([129, 143].contains(&waited.code), "signalled: {waited:?}");
    assert!(
        took >= Duration::from_millis(1900),
        "signalled before the grace ended: {took:?}"
    );
    assert!(
        took < Duration::from_secs(8),
        "the grace was not 2 s: {took:?}"
    );
    let record = assert_stopped(&world, "stubborn");
    assert_eq!(record["exit_code"], waited.code);
}

// ---------------------------------------------------------------------------------------------
// logs

#[test]
fn logs_lines_prints_the_last_lines_of_the_transcript() {
    let world = World::new();
    world.start_fake("tail", &[], &["--turn-ms", "50"]);
    for word in ["alpha", "bravo", "charlie"] {
        let run = world.run(&["send", "--id", "tail", "--message", word, "--wait-for-idle"]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    let full = world.run(&["logs", "--id", "tail"]);
    assert_eq!(full.code, 0, "{full:?}");
    assert!(full.stdout.contains("answer: alpha"), "{full:?}");
    let last = world.run(&["logs", "--id", "tail", "--lines", "2"]);
    assert_eq!(last.code, 0, "{last:?}");
    assert_eq!(last.stdout.lines().count(), 2, "{last:?}");
    assert!(full.stdout.ends_with(&last.stdout), "{full:?}\n{last:?}");
    assert!(last.stdout.contains("answer: charlie"), "{last:?}");
    assert!(!last.stdout.contains("bravo"), "{last:?}");
    let short = world.run(&["logs", "--id", "tail", "-n", "1000"]);
    assert_eq!(
        short.stdout, full.stdout,
        "more lines than there are prints everything"
    );
}

#[test]
fn logs_plain_strips_escapes_and_keeps_the_text() {
    let world = World::new();
    world.start_fake("plain", &[], &["--turn-ms", "300"]);
    let run = world.run(&[
        "send",
        "--id",
        "plain",
        "--message",
        "make it plain",
        "--wait-for-idle",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let plain = world.run(&["logs", "--id", "plain", "--plain"]);
    assert_eq!(plain.code, 0, "{plain:?}");
    assert!(!plain.stdout.contains('\x1b'), "{plain:?}");
    assert!(!plain.stdout.contains('\r'), "{plain:?}");
    let lines: Vec<&str> = plain.stdout.lines().map(str::trim_end).collect();
    assert!(
        lines.contains(&"> make it plain"),
        "the typed line is lost: {plain:?}"
    );
    assert!(
        lines.contains(&"answer: make it plain"),
        "the answer is lost: {plain:?}"
    );
}

#[test]
fn logs_follow_streams_until_the_session_exits_and_logs_work_after_exit() {
    let world = World::new();
    world.start_fake("stream", &[], &["--turn-ms", "100"]);
    let follow = world.spawn(&["logs", "--id", "stream", "--follow"]);
    follow.wait_stdout("> ");
    let sent = world.run(&[
        "send",
        "--id",
        "stream",
        "--message",
        "while following",
        "--wait-for-idle",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    follow.wait_stdout("answer: while following");
    world.run(&["send", "--id", "stream", "--message", "exit 6"]);
    let followed = follow.finish(DEADLINE);
    assert_eq!(
        followed.code, 0,
        "--follow ends by itself when the session exits: {followed:?}"
    );
    assert!(
        followed.stdout.contains("exiting 6"),
        "the last output is included: {followed:?}"
    );

    // (Not `wait_gone`: a message that ends the agent can leave a stale registry entry behind,
    // which `a_message_that_ends_the_agent_leaves_no_registry_entry` covers.)
    wait_until("the exit record", DEADLINE, || {
        (!world.files_of("exits", "stream").is_empty()).then_some(())
    });
    let after = world.run(&["logs", "--id", "stream", "--lines", "3"]);
    assert_eq!(after.code, 0, "{after:?}");
    assert!(after.stdout.contains("exiting 6"), "{after:?}");
    let follow_after = world.run(&["logs", "--id", "stream", "--follow", "--lines", "1"]);
    assert_eq!(
        follow_after.code, 0,
        "--follow on a finished session returns: {follow_after:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// help and version

#[test]
fn version_prints_the_package_version() {
    let world = World::new();
    for flag in ["--version", "-V"] {
        let run = world.run(&[flag]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            run.stdout.trim(),
            format!("harnex {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn every_command_has_help() {
    let world = World::new();
    // Every command `harnex help` lists (at least the foundation's), so new ones are covered too.
    let listing = world.run(&["help"]);
    let listed: Vec<String> = listing
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    for command in COMMANDS {
        assert!(
            listed.iter().any(|c| c == command),
            "help lists {command}: {listing:?}"
        );
    }
    for command in listed.iter().map(String::as_str) {
        let flag = world.run(&[command, "--help"]);
        assert_eq!(flag.code, 0, "{command} --help: {flag:?}");
        assert!(
            flag.stdout.contains(&format!("Usage: harnex {command}")),
            "{flag:?}"
        );
        if command != "help" {
            assert!(
                flag.stdout.contains("Examples:"),
                "{command} --help has examples: {flag:?}"
            );
            let help = world.run(&["help", command]);
            assert_eq!(help.code, 0, "help {command}: {help:?}");
            let usage = |text: &str| {
                text.lines()
                    .find(|l| l.starts_with("Usage:"))
                    .map(str::to_string)
            };
            assert_eq!(usage(&help.stdout), usage(&flag.stdout), "{help:?}");
            assert!(
                help.stdout.contains("Examples:"),
                "help {command}: {help:?}"
            );
        }
    }
    for args in [&["--help"][..], &["help"], &[]] {
        let run = world.run(args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        for command in COMMANDS {
            assert!(
                run.stdout.contains(command),
                "{args:?} lists {command}: {run:?}"
            );
        }
        assert!(run.stdout.contains("Exit codes"), "{args:?}: {run:?}");
    }
    let unknown = world.run(&["help", "frobnicate"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown.stderr.contains("commands: run, send"),
        "{unknown:?}"
    );
    assert!(!world.state.exists());
}

#[test]
fn the_version_answers_to_every_spelling_ruby_users_type() {
    let world = World::new();
    let runs: Vec<crate::support::Run> = [["-v"], ["-V"], ["--version"], ["version"]]
        .iter()
        .map(|args| world.run(args))
        .collect();
    for run in &runs {
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            run.stdout.trim(),
            format!("harnex {}", env!("CARGO_PKG_VERSION")),
            "{run:?}"
        );
    }
}

#[test]
fn status_of_an_unknown_or_ended_id_is_a_failure_that_says_where_it_went() {
    let world = World::new();
    world.detach_bash("here");
    let unknown = world.run(&["status", "--id", "nope"]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(
        unknown.stderr.contains("no session \"nope\""),
        "{unknown:?}"
    );
    assert!(
        !unknown.stderr.contains("other repos"),
        "the live session is in this repo: {unknown:?}"
    );
    let json = world.run(&["status", "--id", "nope", "--json"]);
    assert_eq!(json.code, 1, "{json:?}");
    assert_eq!(json.stdout.trim(), "[]");
    assert_eq!(world.run(&["stop", "--id", "here", "--wait"]).code, 0);
    let ended = world.run(&["status", "--id", "here"]);
    assert_eq!(ended.code, 1, "{ended:?}");
    assert!(ended.stderr.contains("ended at"), "{ended:?}");
    assert!(ended.stderr.contains("harnex wait --id here"), "{ended:?}");
    assert_eq!(
        world.run(&["status"]).code,
        0,
        "no id: an empty list is fine"
    );
}

#[test]
fn a_bare_session_id_gets_the_line_with_id_to_type() {
    let world = World::new();
    for command in ["stop", "wait", "logs", "events", "pane", "conversation"] {
        let run = world.run(&[command, "impl-1"]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .contains(&format!("harnex {command} --id impl-1")),
            "{run:?}"
        );
    }
}

#[test]
fn ruby_spellings_of_logs_and_events_options_are_taken() {
    let world = World::new();
    world.detach_bash("spell");
    let none = world.run(&["logs", "--id", "spell", "--lines", "0"]);
    assert_eq!(none.code, 0, "{none:?}");
    assert_eq!(none.stdout, "", "no past lines: {none:?}");
    let snapshot = world.run(&["events", "--id", "spell", "--no-follow"]);
    assert_eq!(snapshot.code, 0, "{snapshot:?}");
    assert!(snapshot.stdout.contains("\"started\""), "{snapshot:?}");
    let both = world.run(&["events", "--id", "spell", "--follow", "--no-follow"]);
    assert_eq!(both.code, 2, "{both:?}");
}
