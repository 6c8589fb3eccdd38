//! Input: message text stays text (no bracketed-paste breakout), blank messages are usage errors,
//! numeric flags are bounded, a detached start that times out leaves nothing running, and
//! `logs` keeps the agent's terminal commands away from the operator's terminal.

use crate::support::{DEADLINE, World, fake_agent_bin, wait_until};

#[test]
fn a_message_cannot_end_the_bracketed_paste_and_run_as_keys() {
    let world = World::new();
    world.detach_bash("sh");
    // bash (readline) turns bracketed paste on at its prompt.
    let pwned = world.repo.join("pwned");
    let run = world.run(&[
        "send",
        "--id",
        "sh",
        "--no-submit",
        "--message",
        "touch pwned\u{1b}[201~\r\u{1b}[200~",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["submitted"], false, "{run:?}");
    // Clear the typed line, then run a marker: bash handles input in order, so once the marker
    // has run, anything the message could have run already has.
    let clear = world.run(&["send", "--id", "sh", "--keys", "C-c"]);
    assert_eq!(clear.code, 0, "{clear:?}");
    let marker = world.run(&["send", "--id", "sh", "--message", "echo marker-$((6*7))"]);
    assert_eq!(marker.code, 0, "{marker:?}");
    world.wait_screen("sh", "marker-42");
    assert!(!pwned.exists(), "the message ran as a command");
}

#[test]
fn control_characters_are_removed_from_message_text() {
    let world = World::new();
    world.detach_bash("ctl");
    // A bell, an escape sequence and a C1 CSI vanish; the text around them is typed.
    let run = world.run(&[
        "send",
        "--id",
        "ctl",
        "--message",
        "echo ab\u{7}c\u{1b}[31md\u{9b}e-$((1+1))",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    world.wait_screen("ctl", "abcde-2");
}

#[test]
fn empty_and_blank_messages_are_the_same_usage_error() {
    let world = World::new();
    world.start_fake("blank", &[], &[]);
    let runs = [
        world.run(&["send", "--id", "blank", "--message", ""]),
        world.run(&["send", "--id", "blank", "--message", "   "]),
        world.run(&["send", "--id", "blank", "--message", "\n\t \n"]),
        world.run(&["send", "--id", "blank", "--message", "\u{1b}[201~\u{1b}"]),
        world.run(&["send", "--id", "blank", " ", " "]),
        world.run_stdin(&["send", "--id", "blank"], ""),
        world.run_stdin(&["send", "--id", "blank"], "  \n\n"),
    ];
    for run in &runs {
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("no message"), "{run:?}");
        assert_eq!(
            run.stderr, runs[0].stderr,
            "one message for every blank input"
        );
    }
    // Straight to the API: a blank text is not typed and takes no turn.
    let (code, body) = world.call(
        "blank",
        "POST",
        "/send",
        br#"{"text":" \t\u001b[201~ ","submit":true,"force":true}"#,
    );
    assert_eq!(code, 400, "refused up front: {body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("blank"),
        "{body}"
    );
    let status = world.status("blank");
    assert_eq!(status["injected_count"], 0, "{status}");
    assert_eq!(status["turn"]["submitted"], 0, "{status}");
}

#[test]
fn huge_and_zero_numbers_are_usage_errors_not_panics() {
    let world = World::new();
    let huge = "99999999999999999999";
    let cases: Vec<Vec<&str>> = vec![
        vec!["wait", "--id", "x", "--timeout", huge],
        vec!["wait", "--id", "x", "--timeout", "31d"],
        vec!["wait", "--id", "x", "--timeout", "1e300"],
        vec!["send", "--id", "x", "-m", "hi", "--timeout", huge],
        vec!["send", "--id", "x", "-m", "hi", "--timeout", "0"],
        vec!["stop", "--id", "x", "--timeout", huge],
        vec!["stop", "--id", "x", "--grace", huge],
        vec!["run", "bash", "--detach", "--timeout", huge],
        vec!["run", "bash", "--detach", "--timeout", "0"],
        vec!["run", "bash", "--inbox-ttl", huge],
        vec!["run", "bash", "--inbox-ttl", "0"],
        vec!["run", "bash", "--watch", "--stall-after", huge],
        vec!["run", "bash", "--watch", "--max-resumes", "4294967296"],
        vec!["run", "bash", "--watch", "--max-resumes", "1001"],
        vec!["run", "bash", "--port", "0"],
        vec!["run", "bash", "--port", "70000"],
        vec!["pane", "--id", "x", "--interval", "0"],
        vec!["pane", "--id", "x", "--interval", huge],
        vec!["pane", "--id", "x", "--lines", huge],
        vec!["logs", "--id", "x", "--lines", huge],
        vec!["wait", "--id", "x", "--turn", huge],
    ];
    let mut wrong = Vec::new();
    for args in &cases {
        let run = world.run(args);
        if run.code != 2 || run.stderr.contains("panicked") || !run.stderr.contains("invalid") {
            wrong.push(format!("{args:?}: {run:?}"));
        }
    }
    let env = world.run_env(&["run", "bash", "--detach"], &[("HARNEX_INBOX_TTL", huge)]);
    if env.code != 2 || !env.stderr.contains("HARNEX_INBOX_TTL") {
        wrong.push(format!("HARNEX_INBOX_TTL={huge}: {env:?}"));
    }
    assert!(
        wrong.is_empty(),
        "must be usage errors (2):\n{}",
        wrong.join("\n")
    );
    assert!(!world.state.exists(), "{:?}", world.state_files());
}

/// Processes (other than this test) that run with this world's state dir in their environment.
fn processes_of(world: &World) -> Vec<u32> {
    let needle = format!("HARNEX_STATE_DIR={}", world.state.display());
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| *pid != me)
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/environ"))
                        .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
                })
                .filter(|pid| crate::support::process_alive(u64::from(*pid)))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_detached_start_that_misses_its_deadline_leaves_nothing_running() {
    let world = World::new();
    let agent = fake_agent_bin();
    let run = world.run(&[
        "run",
        "--detach",
        "--timeout",
        "1ms",
        agent.to_str().unwrap(),
        "--id",
        "late",
    ]);
    assert_eq!(run.code, 124, "{run:?}");
    assert!(run.stderr.contains("did not register"), "{run:?}");
    assert!(
        run.stderr.contains("stopped") || run.stderr.contains("killed"),
        "says what became of it: {run:?}"
    );
    // Nothing of the session is left: no supervisor, no agent, no registry entry.
    wait_until("the late session's processes to be gone", DEADLINE, || {
        processes_of(&world).is_empty().then_some(())
    });
    assert!(
        world.registry_files().is_empty(),
        "{:?}",
        world.state_files()
    );
    let status = world.run(&["status", "--json"]);
    assert_eq!(status.json(), serde_json::json!([]), "{status:?}");
}

#[test]
fn logs_keep_clipboard_writes_and_terminal_queries_from_the_operator() {
    let world = World::new();
    world.detach_bash("osc");
    // printf writes an OSC 52 clipboard write, an XTGETTCAP query (DCS) and a title query
    // between two words.
    let run = world.run(&[
        "send",
        "--id",
        "osc",
        "--message",
        r"printf 'safe-\033]52;c;cHduZWQ=\007\033P+q544e\033\\\033[21tmarker-%s\n' 42",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    world.wait_screen("osc", "safe-marker-42");
    let filtered = world.run(&["logs", "--id", "osc"]);
    assert_eq!(filtered.code, 0, "{filtered:?}");
    assert!(filtered.stdout.contains("safe-marker-42"), "{filtered:?}");
    for dangerous in ["\u{1b}]52", "\u{1b}P+q", "\u{1b}[21t"] {
        assert!(
            !filtered.stdout.contains(dangerous),
            "{dangerous:?} reached the terminal: {:?}",
            filtered.stdout
        );
    }
    let raw = world.run(&["logs", "--id", "osc", "--raw"]);
    assert_eq!(raw.code, 0, "{raw:?}");
    assert!(raw.stdout.contains("\u{1b}]52;c;cHduZWQ=\u{7}"), "{raw:?}");
    let help = world.run(&["logs", "--help"]);
    assert!(
        help.stdout.contains("OSC 52") && help.stdout.contains("--raw"),
        "{help:?}"
    );
}
