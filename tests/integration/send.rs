//! `harnex send`: where the text comes from, submit modes, queueing while busy, waiting for the
//! turn, bracketed paste, relay headers, direct API access, selection and timeouts.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{DEADLINE, World, fake_agent_bin, wait_until};

/// Byte offset of `needle` in `text`, failing the test when it is missing.
fn position(text: &str, needle: &str) -> usize {
    text.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} is not on the screen:\n{text}"))
}

#[test]
fn the_message_comes_from_the_option_the_words_or_stdin() {
    let world = World::new();
    world.start_fake("src", &[], &["--turn-ms", "100"]);

    let option = world.run(&[
        "send",
        "--id",
        "src",
        "--message",
        "from the option",
        "--wait-for-idle",
    ]);
    assert_eq!(option.code, 0, "{option:?}");
    assert_eq!(option.json()["turn"], 1);

    let words = world.run(&[
        "send",
        "--id",
        "src",
        "--wait-for-idle",
        "from",
        "the",
        "words",
    ]);
    assert_eq!(words.code, 0, "{words:?}");
    assert_eq!(words.json()["turn"], 2);

    let stdin = world.run_stdin(&["send", "--id", "src", "--wait-for-idle"], "from stdin\n");
    assert_eq!(stdin.code, 0, "{stdin:?}");
    assert_eq!(stdin.json()["turn"], 3);

    let screen = world.screen("src");
    let a = position(&screen, "answer: from the option\n");
    let b = position(&screen, "answer: from the words\n");
    let c = position(&screen, "answer: from stdin\n");
    assert!(a < b && b < c, "{screen}");
}

#[test]
fn options_after_the_words_are_options_not_message_text() {
    let world = World::new();
    world.start_fake("trail", &[], &["--turn-ms", "300"]);
    let run = world.run(&["send", "--id", "trail", "hello", "world", "--wait-for-idle"]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = run.json();
    world.wait_screen("trail", "answer: hello world");
    let screen = world.screen("trail");
    assert!(
        !screen.contains("--wait-for-idle"),
        "`--wait-for-idle` after the words was typed into the agent as text:\n{screen}"
    );
    assert_eq!(
        out["state"], "prompt",
        "--wait-for-idle was not honoured: {out}"
    );
}

#[test]
fn no_submit_types_without_enter_and_submit_only_presses_enter() {
    let world = World::new();
    world.start_fake("typing", &[], &["--turn-ms", "100"]);
    let typed = world.run(&[
        "send",
        "--id",
        "typing",
        "--no-submit",
        "--message",
        "half typed",
    ]);
    assert_eq!(typed.code, 0, "{typed:?}");
    let typed = typed.json();
    assert_eq!(typed["status"], "delivered");
    assert_eq!(typed["submitted"], false);
    assert_eq!(typed["turn"], Value::Null);
    let screen = world.wait_screen("typing", "> half typed");
    assert!(
        !screen.contains("answer:"),
        "nothing was submitted yet: {screen}"
    );

    let started = Instant::now();
    let enter = world.run(&[
        "send",
        "--id",
        "typing",
        "--submit-only",
        "--wait-for-idle",
        "--timeout",
        "5",
    ]);
    assert_eq!(
        enter.code,
        0,
        "--submit-only should submit the typed text (took {:?}): {enter:?}",
        started.elapsed()
    );
    assert_eq!(enter.json()["ok"], true);
    world.wait_screen("typing", "answer: half typed");
}

#[test]
fn submit_only_with_force_submits_the_typed_text() {
    let world = World::new();
    world.start_fake("typing2", &[], &["--turn-ms", "100"]);
    let typed = world.run(&[
        "send",
        "--id",
        "typing2",
        "--no-submit",
        "--message",
        "typed first",
    ]);
    assert_eq!(typed.code, 0, "{typed:?}");
    world.wait_screen("typing2", "> typed first");
    let enter = world.run(&[
        "send",
        "--id",
        "typing2",
        "--submit-only",
        "--force",
        "--wait-for-idle",
    ]);
    assert_eq!(enter.code, 0, "{enter:?}");
    let enter = enter.json();
    assert_eq!(enter["ok"], true);
    assert_eq!(enter["state"], "prompt");
    let screen = world.screen("typing2");
    assert!(screen.contains("answer: typed first"), "{screen}");
}

#[test]
fn a_message_for_a_busy_agent_is_queued_unless_forced() {
    let world = World::new();
    world.start_fake("busy", &[], &[]);
    let hang = world.run(&["send", "--id", "busy", "--message", "hang"]);
    assert_eq!(hang.code, 0, "{hang:?}");
    world.wait_state("busy", "busy");

    let started = Instant::now();
    let queued = world.run(&["send", "--id", "busy", "--message", "later", "--no-wait"]);
    assert_eq!(queued.code, 0, "{queued:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "--no-wait returns at once"
    );
    let queued = queued.json();
    assert_eq!(queued["ok"], true);
    assert_eq!(queued["status"], "queued");
    let message_id = queued["message_id"]
        .as_str()
        .expect("message_id")
        .to_string();
    assert!(!message_id.is_empty());

    // The API says 202 for a queued message.
    let (code, body) = world.call(
        "busy",
        "POST",
        "/send",
        br#"{"text": "raw queued", "submit": true}"#,
    );
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["status"], "queued");
    let (_, inbox) = world.call("busy", "GET", "/inbox", b"");
    assert_eq!(inbox["messages"].as_array().unwrap().len(), 2, "{inbox}");
    let (_, message) = world.call("busy", "GET", &format!("/messages/{message_id}"), b"");
    assert_eq!(message["status"], "queued", "{message}");

    // --force goes past the queue, into the busy agent.
    let forced = world.run(&["send", "--id", "busy", "--message", "now", "--force"]);
    assert_eq!(forced.code, 0, "{forced:?}");
    let forced = forced.json();
    assert_eq!(forced["status"], "delivered", "{forced}");
    assert_eq!(forced["force"], true);
    let status = world.status("busy");
    assert_eq!(
        status["injected_count"], 2,
        "hang and the forced message: {status}"
    );
    assert_eq!(
        status["inbox"]["pending"], 2,
        "the queued ones still wait: {status}"
    );
}

#[test]
fn queued_messages_are_delivered_in_order_when_the_prompt_returns() {
    let world = World::new();
    world.start_fake("order", &[], &["--turn-ms", "200"]);
    let first = world.run(&["send", "--id", "order", "--message", "first [delay=1500]"]);
    assert_eq!(first.code, 0, "{first:?}");
    world.wait_state("order", "busy");
    let mut ids = Vec::new();
    for text in ["second", "third"] {
        let run = world.run(&["send", "--id", "order", "--message", text, "--no-wait"]);
        assert_eq!(run.code, 0, "{run:?}");
        let out = run.json();
        assert_eq!(out["status"], "queued", "sent while busy: {out}");
        ids.push(out["message_id"].as_str().unwrap().to_string());
    }
    let screen = wait_until_or_explain(&world, "order", "answer: third");
    let a = position(&screen, "answer: first [delay=1500]");
    let b = position(&screen, "> second");
    let c = position(&screen, "answer: second");
    let d = position(&screen, "> third");
    assert!(
        a < b && b < c && c < d,
        "delivered one at a time, in order, at the prompt:\n{screen}"
    );
    for (id, turn) in ids.iter().zip([2, 3]) {
        let message = wait_until("the message to be delivered", DEADLINE, || {
            let (_, m) = world.call("order", "GET", &format!("/messages/{id}"), b"");
            (m["status"] == "delivered").then_some(m)
        });
        assert_eq!(message["turn"], turn, "{message}");
        assert_eq!(message["submitted"], true, "{message}");
    }
}

#[test]
fn wait_for_idle_does_not_return_on_the_prompt_from_before_the_send() {
    let world = World::new();
    world.start_fake("echo", &[], &["--echo-prompt-while-busy"]);
    let run = world.run(&[
        "send",
        "--id",
        "echo",
        "--message",
        "slow task [delay=1500]",
        "--wait-for-idle",
    ]);
    // Read the screen before anything else: the answer must already be there.
    let screen = world.screen("echo");
    assert_eq!(run.code, 0, "{run:?}");
    let out = run.json();
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["state"], "prompt");
    assert_eq!(out["turn"], 1);
    let waited = out["waited_seconds"].as_f64().expect("waited_seconds");
    assert!(
        waited >= 1.4,
        "returned after {waited}s, before the 1.5 s task could end"
    );
    assert!(
        screen.contains("answer: slow task [delay=1500]"),
        "the answer was not on the screen when send returned:\n{screen}"
    );
}

#[test]
fn wait_until_prompt_after_send_no_wait_waits_for_that_turn() {
    let world = World::new();
    world.start_fake("nowait", &[], &[]);
    let started = Instant::now();
    let sent = world.run(&[
        "send",
        "--id",
        "nowait",
        "--message",
        "direct [delay=1500]",
        "--no-wait",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let waited = world.run(&[
        "wait",
        "--id",
        "nowait",
        "--until",
        "prompt",
        "--timeout",
        "20",
    ]);
    let screen = world.screen("nowait");
    assert_eq!(waited.code, 0, "{waited:?}");
    assert_eq!(waited.json()["state"], "prompt");
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert!(screen.contains("answer: direct [delay=1500]"), "{screen}");
}

#[test]
fn wait_until_prompt_after_a_queued_send_no_wait_waits_for_that_turn() {
    let world = World::new();
    world.start_fake("queuedwait", &[], &[]);
    let first = world.run(&[
        "send",
        "--id",
        "queuedwait",
        "--message",
        "first [delay=1000]",
    ]);
    assert_eq!(first.code, 0, "{first:?}");
    world.wait_state("queuedwait", "busy");
    let sent = world.run(&[
        "send",
        "--id",
        "queuedwait",
        "--message",
        "queued [delay=1500]",
        "--no-wait",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(sent.json()["status"], "queued");
    let waited = world.run(&[
        "wait",
        "--id",
        "queuedwait",
        "--until",
        "prompt",
        "--timeout",
        "20",
    ]);
    let screen = world.screen("queuedwait");
    assert_eq!(waited.code, 0, "{waited:?}");
    assert!(
        screen.contains("answer: queued [delay=1500]"),
        "wait --until prompt returned before the queued message's turn ended:\n{screen}"
    );
}

#[test]
fn bracketed_paste_delivers_a_multi_line_message_as_one() {
    let world = World::new();
    world.start_fake("paste", &[], &["--bracketed-paste", "--turn-ms", "200"]);
    let run = world.run(&[
        "send",
        "--id",
        "paste",
        "--message",
        "line one\nline two\nline three",
        "--wait-for-idle",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["turn"], 1);
    let screen = world.screen("paste");
    assert!(
        screen.contains("answer: line one line two line three"),
        "{screen}"
    );
    assert_eq!(
        screen.matches("answer:").count(),
        1,
        "one message, one turn:\n{screen}"
    );
    let status = world.status("paste");
    assert_eq!(status["turn"]["completed"], 1, "{status}");
    assert_eq!(status["injected_count"], 1);
}

#[test]
fn relay_headers_name_the_sending_session() {
    let world = World::new();
    world.start_fake("relay", &[], &["--bracketed-paste", "--turn-ms", "100"]);
    let target_session = world.entry("relay")["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let sender = [
        ("HARNEX_SESSION_ID", "0123456789abcdef"),
        ("HARNEX_SESSION_CLI", "codex"),
        ("HARNEX_ID", "boss"),
    ];
    let answer_line = |screen: &str, body: &str| -> String {
        screen
            .lines()
            .find(|l| l.starts_with("answer: ") && l.ends_with(body))
            .unwrap_or_else(|| panic!("no answer for {body}:\n{screen}"))
            .to_string()
    };
    let send = |args: &[&str], envs: &[(&str, &str)]| {
        let mut full = vec!["send", "--id", "relay", "--wait-for-idle"];
        full.extend_from_slice(args);
        let run = world.run_env(&full, envs);
        assert_eq!(run.code, 0, "{run:?}");
    };

    // From another session: a header by default.
    send(&["--message", "body-one"], &sender);
    let line = answer_line(&world.screen("relay"), "body-one");
    assert!(
        line.contains("[harnex relay from=codex id=boss at="),
        "{line}"
    );

    // --no-relay: never.
    send(&["--no-relay", "--message", "body-two"], &sender);
    let line = answer_line(&world.screen("relay"), "body-two");
    assert!(!line.contains("[harnex relay"), "{line}");

    // Not from a session: no header.
    send(&["--message", "body-three"], &[]);
    let line = answer_line(&world.screen("relay"), "body-three");
    assert!(!line.contains("[harnex relay"), "{line}");

    // A session sending to itself: no header unless --relay asks for one.
    let myself = [
        ("HARNEX_SESSION_ID", target_session.as_str()),
        ("HARNEX_SESSION_CLI", "fake"),
        ("HARNEX_ID", "relay"),
    ];
    send(&["--message", "body-four"], &myself);
    let line = answer_line(&world.screen("relay"), "body-four");
    assert!(!line.contains("[harnex relay"), "{line}");
    send(&["--relay", "--message", "body-five"], &myself);
    let line = answer_line(&world.screen("relay"), "body-five");
    assert!(
        line.contains("[harnex relay from=fake id=relay at="),
        "{line}"
    );
}

#[test]
fn port_token_and_host_talk_to_the_api_without_the_registry() {
    let world = World::new();
    world.start_fake("direct", &[], &["--turn-ms", "100"]);
    let (port, token) = world.api("direct");
    let port = port.to_string();
    // From a directory outside the repo, with a state dir that knows nothing.
    let elsewhere = world.new_dir("elsewhere");
    let mut cmd = world.cmd_in(&elsewhere);
    cmd.env("HARNEX_STATE_DIR", world.root.path().join("empty-state"))
        .args([
            "send",
            "--id",
            "whatever",
            "--port",
            &port,
            "--token",
            &token,
            "--host",
            "127.0.0.1",
            "--message",
            "straight to the port",
            "--wait-for-idle",
        ]);
    let run = crate::support::Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["ok"], true);
    assert!(
        world
            .screen("direct")
            .contains("answer: straight to the port")
    );
    assert!(
        !world.root.path().join("empty-state").exists(),
        "send --port writes no state"
    );
}

#[test]
fn repo_and_cli_select_the_session() {
    let world = World::new();
    world.start_fake("pick", &[], &["--turn-ms", "100"]);
    let elsewhere = world.new_dir("elsewhere");
    let repo = world.repo.to_str().unwrap();
    let agent = fake_agent_bin();
    let agent = agent.to_str().unwrap();

    let run = world.run_in(
        &elsewhere,
        &[
            "send",
            "--id",
            "pick",
            "--repo",
            repo,
            "--message",
            "by repo",
            "--wait-for-idle",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");

    let wrong_repo = world.run(&[
        "send",
        "--id",
        "pick",
        "--repo",
        elsewhere.to_str().unwrap(),
        "--message",
        "x",
        "--timeout",
        "0.3",
    ]);
    // Not there: send waits for it to start (as the Ruby harnex does), then times out.
    assert_eq!(wrong_repo.code, 124, "{wrong_repo:?}");
    assert!(wrong_repo.stderr.contains("no session"), "{wrong_repo:?}");

    let wrong_cli = world.run(&[
        "send",
        "--id",
        "pick",
        "--cli",
        "bash",
        "--message",
        "x",
        "--timeout",
        "0.3",
    ]);
    assert_eq!(wrong_cli.code, 124, "{wrong_cli:?}");
    assert!(wrong_cli.stderr.contains("bash"), "{wrong_cli:?}");

    let right_cli = world.run(&[
        "send",
        "--id",
        "pick",
        "--cli",
        agent,
        "--message",
        "by cli",
        "--wait-for-idle",
    ]);
    assert_eq!(right_cli.code, 0, "{right_cli:?}");

    let screen = world.screen("pick");
    assert!(screen.contains("answer: by repo"), "{screen}");
    assert!(screen.contains("answer: by cli"), "{screen}");
    assert_eq!(
        world.status("pick")["injected_count"],
        2,
        "the refused sends delivered nothing"
    );
}

#[test]
fn a_queued_message_that_times_out_returns_124_and_is_cancelled() {
    let world = World::new();
    world.start_fake("late", &[], &[]);
    assert_eq!(
        world
            .run(&["send", "--id", "late", "--message", "hang"])
            .code,
        0
    );
    world.wait_state("late", "busy");
    let started = Instant::now();
    let run = world.run(&[
        "send",
        "--id",
        "late",
        "--message",
        "too late",
        "--timeout",
        "1",
    ]);
    assert_eq!(run.code, 124, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let out = run.json();
    assert_eq!(out["ok"], false);
    assert_eq!(out["status"], "timeout");
    let message_id = out["message_id"]
        .as_str()
        .expect("the timeout names the message");
    assert_eq!(out["delivery"], "cancelled", "{out}");
    // Taken back, so it is not typed later behind the caller's back.
    let (code, message) = world.call("late", "GET", &format!("/messages/{message_id}"), b"");
    assert_eq!(code, 200, "{message}");
    assert_eq!(message["status"], "dropped", "{message}");
}

#[test]
fn wait_for_idle_that_times_out_returns_124_with_its_message_id() {
    let world = World::new();
    world.start_fake("slow", &[], &[]);
    let run = world.run(&[
        "send",
        "--id",
        "slow",
        "--message",
        "slow [delay=6000]",
        "--wait-for-idle",
        "--timeout",
        "1",
    ]);
    assert_eq!(run.code, 124, "{run:?}");
    let out = run.json();
    assert_eq!(out["ok"], false);
    assert_eq!(out["status"], "timeout");
    assert_eq!(out["turn"], 1);
    assert!(
        out["message_id"].as_str().is_some_and(|m| !m.is_empty()),
        "{out}"
    );
}

#[test]
fn verbose_reports_progress_on_stderr_and_keeps_stdout_json() {
    let world = World::new();
    world.start_fake("chatty", &[], &["--turn-ms", "100"]);
    let run = world.run(&[
        "send",
        "--id",
        "chatty",
        "--verbose",
        "--message",
        "talk",
        "--wait-for-idle",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("harnex send: sending 4 bytes to chatty"),
        "{run:?}"
    );
    assert!(run.stderr.contains("waiting for turn 1"), "{run:?}");
    assert_eq!(run.stdout.lines().count(), 1, "{run:?}");
    assert_eq!(run.json()["ok"], true);

    let quiet = world.run(&[
        "send",
        "--id",
        "chatty",
        "--message",
        "hush",
        "--wait-for-idle",
    ]);
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert!(
        quiet.stderr.is_empty(),
        "without --verbose stderr stays empty: {quiet:?}"
    );
}

#[test]
fn a_queued_message_that_ends_the_agent_is_reported_as_delivered() {
    let world = World::new();
    world.start_fake("last", &[], &[]);
    assert_eq!(
        world
            .run(&["send", "--id", "last", "--message", "work [delay=1000]"])
            .code,
        0
    );
    world.wait_state("last", "busy");
    let run = world.run(&["send", "--id", "last", "--message", "exit 4"]);
    assert_eq!(run.code, 0, "the message was delivered and taken: {run:?}");
    assert_eq!(run.json()["status"], "delivered");
    let waited = world.run(&["wait", "--id", "last"]);
    assert_eq!(waited.code, 4, "{waited:?}");
}

#[test]
fn a_message_that_ends_the_agent_leaves_no_registry_entry() {
    // The delivery that makes the agent exit races the supervisor's clean-up; try a few times.
    let world = World::new();
    for round in 0..6 {
        let id = format!("bye-{round}");
        world.start_fake(&id, &[], &[]);
        world.run(&["send", "--id", &id, "--message", "exit 3"]);
        wait_until("the exit record", DEADLINE, || {
            (!world.files_of("exits", &id).is_empty()).then_some(())
        });
        assert_eq!(world.exit_record(&id)["exit_code"], 3);
        // The entry goes right after the exit record is written. Only look at the files:
        // harnex commands would clean a stale entry up on the way.
        world.wait_gone_within(&id, Duration::from_secs(5));
    }
}

/// Like `World::wait_screen`, but on timeout the failure shows the screen, the verdict and the
/// events, so a rare failure under load can be understood.
fn wait_until_or_explain(world: &World, id: &str, needle: &str) -> String {
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let screen = world.screen(id);
        if screen.contains(needle) {
            return screen;
        }
        if std::time::Instant::now() >= deadline {
            let (_, explain) = world.call(id, "GET", "/explain", b"");
            let (_, inbox) = world.call(id, "GET", "/inbox", b"");
            let events = std::fs::read_to_string(world.only_file("events")).unwrap_or_default();
            panic!(
                "timed out waiting for {needle:?}\n--- screen\n{screen}\n--- explain\n{explain}\n--- inbox\n{inbox}\n--- events\n{events}"
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Sends in a row to bash, without a pause before Enter: each is a command of its own, none lost
/// (left typed, to be merged with the next), none merged.
#[test]
fn sends_in_a_row_to_bash_are_each_a_line_of_their_own() {
    let world = World::new();
    world.detach_bash("row");
    world.wait_state("row", "prompt");
    let out = world.root.path().join("row.txt");
    let path = out.to_str().expect("utf-8");
    const SENDS: usize = 30;
    for i in 0..SENDS {
        let command = if i % 2 == 0 {
            format!("echo row-{i} >> {path}")
        } else {
            // Two lines in one message: a bracketed paste when bash enabled it.
            format!("echo row-{i} >> {path} &&\necho row-{i}b >> {path}")
        };
        let sent = world.run(&["send", "--id", "row", "--message", &command]);
        assert_eq!(sent.code, 0, "send {i}: {sent:?}");
    }
    let mut want: Vec<String> = Vec::new();
    for i in 0..SENDS {
        want.push(format!("row-{i}"));
        if i % 2 == 1 {
            want.push(format!("row-{i}b"));
        }
    }
    let got = wait_until("every command to run", DEADLINE, || {
        let text = std::fs::read_to_string(&out).ok()?;
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        (lines.len() >= want.len()).then_some(lines)
    });
    assert_eq!(got, want);
}

/// The fake agent as `codex` (a symlink), taking `draw_ms` to take a paste in, with the codex
/// rules' pause before Enter overridden by `submit_delay`.
fn slow_paste_agent(world: &World, id: &str, draw_ms: &str, submit_delay: &str) {
    world.write_adapter_rules("codex", &format!("submit_delay = {submit_delay}\n"));
    world.start_fake_codex(
        id,
        &[
            "--turn-ms",
            "100",
            "--bracketed-paste",
            "--paste-draw-ms",
            draw_ms,
        ],
    );
}

fn session_log(world: &World, id: &str) -> String {
    world
        .files_of("logs", id)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

#[test]
fn enter_waits_until_the_agent_shows_the_paste_and_no_longer() {
    let world = World::new();
    // An Enter read before the paste is drawn would be part of the paste and submit nothing.
    slow_paste_agent(
        &world,
        "shown",
        "400",
        "{ base_ms = 5000, per_kb_ms = 0, until_shown = true }",
    );
    for (turn, message) in [(1, "first message here"), (2, "first line\nmessage here")] {
        let started = Instant::now();
        let run = world.run(&["send", "--id", "shown", "--message", message]);
        let took = started.elapsed();
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.json()["turn"], turn, "{run:?}");
        assert_eq!(run.json()["submitted"], true, "{run:?}");
        // Enter went when the paste showed, not at the end of the 5 s bound.
        assert!(took < Duration::from_millis(3000), "send took {took:?}");
        let answer = format!("answer: {}", message.replace('\n', " "));
        wait_until_or_explain(&world, "shown", &answer);
        world.wait_state("shown", "prompt");
    }
    let screen = world.screen("shown");
    assert_eq!(screen.matches("answer:").count(), 2, "{screen}");
    let log = session_log(&world, "shown");
    assert!(!log.contains("did not show"), "{log}");
    assert!(!log.contains("pressing it once more"), "{log}");
}

#[test]
fn enter_goes_at_the_bound_when_the_paste_never_shows() {
    let world = World::new();
    slow_paste_agent(
        &world,
        "unseen",
        "4000",
        "{ base_ms = 300, per_kb_ms = 0, until_shown = true }",
    );
    let started = Instant::now();
    let run = world.run(&["send", "--id", "unseen", "--message", "never drawn in time"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "Enter waited past the bound: {:?}",
        started.elapsed()
    );
    let log = wait_until("the warning", DEADLINE, || {
        let log = session_log(&world, "unseen");
        log.contains("did not show at the cursor within 300 ms")
            .then_some(log)
    });
    assert!(log.contains("pressing Enter anyway"), "{log}");
}
