//! Sessions on other hosts over ssh: real sshd servers on loopback stand in for the machines
//! (support/ssh.rs), each host a harnex world of its own.

use serde_json::Value;

use crate::support::ssh::{SLOW, SshWorld, harnex_processes, kill, wait_child_named};
use crate::support::{DEADLINE, wait_until};

#[test]
fn a_remote_session_runs_its_whole_lifecycle_over_ssh() {
    let w = SshWorld::new(&["b1"]);
    let line = w.start_fake("b1", "w1", &["--turn-ms", "200"]);
    assert_eq!(line["remote"], "b1", "{line}");
    assert_eq!(line["id"], "w1", "{line}");
    assert_eq!(line["mode"], "tmux", "{line}");
    let b1 = w.host("b1");
    // The session is b1's (its state dir and repo), none of the local side's.
    assert_eq!(b1.entry("w1")["repo_root"], b1.repo.to_str().unwrap());
    assert!(w.local.registry_files().is_empty());
    b1.wait_state("w1", "prompt");

    let run = w.run(&["status", "--remote", "b1", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let rows = run.json();
    assert_eq!(rows[0]["id"], "w1", "{run:?}");
    assert_eq!(rows[0]["host"], "b1", "{run:?}");

    // HOST:ID addressing, and a message the remote shell must not touch.
    let text = "it's $(echo pwned) `id` \"quoted\"";
    let run = w.run(&[
        "send",
        "--id",
        "b1:w1",
        "--message",
        text,
        "--wait-for-idle",
        "--timeout",
        "20s",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    b1.wait_screen("w1", &format!("answer: {text}"));

    // A message on stdin goes through ssh to the remote harnex's stdin.
    let mut cmd = w.cmd();
    cmd.args(["send", "--remote", "b1", "--id", "w1", "--wait-for-idle"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"from stdin").unwrap();
    }
    let run = crate::support::Run::from(child.wait_with_output().unwrap());
    assert_eq!(run.code, 0, "{run:?}");
    b1.wait_screen("w1", "answer: from stdin");
    let run = w.run(&["status", "--id", "b1:w1", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()[0]["host"], "b1", "{run:?}");

    let run = w.run(&["pane", "--remote", "b1", "--id", "w1"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains(&format!("answer: {text}")), "{run:?}");
    let run = w.run(&["logs", "--remote", "b1", "--id", "w1", "--plain"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("answer: it's"), "{run:?}");
    let run = w.run(&["events", "--remote", "b1", "--id", "w1", "--snapshot"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("\"type\":\"send\""), "{run:?}");
    let run = w.run(&["explain", "--id", "b1:w1", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["id"], "w1", "{run:?}");

    // An orchestrator waits while the session runs; then it is stopped.
    let waiter = w.spawn(&["wait", "--id", "b1:w1", "--timeout", "20s"]);
    wait_until("the remote wait process", DEADLINE, || {
        (!harnex_processes(&b1.state, &["wait"]).is_empty()).then_some(())
    });
    let run = w.run(&["stop", "--remote", "b1", "--id", "w1"]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = waiter.finish(SLOW);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["id"], "w1", "{run:?}");
    // Once it ended, it is found by its repo there (ssh starts in the home directory).
    let repo = b1.repo.to_str().unwrap();
    let run = w.run(&["wait", "--remote", "b1", "--id", "w1", "--repo", repo]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        w.local.state_files().is_empty(),
        "{:?}",
        w.local.state_files()
    );
    // The remote harnex's own failure comes back with its message and code.
    let run = w.run(&[
        "send",
        "--remote",
        "b1",
        "--id",
        "w1",
        "-m",
        "hi",
        "--timeout",
        "1s",
    ]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("w1"), "{run:?}");
}

#[test]
fn status_of_all_hosts_reports_the_one_that_is_down_and_shows_the_rest() {
    let w = SshWorld::new(&["b1", "b2"]);
    w.write_hosts_file(&["[groups]", "pair = [\"b1\", \"b2\"]"]);
    w.start_fake("b1", "one", &[]);
    w.start_fake("b2", "two", &[]);
    // `all` is every host of hosts.toml: b1, b2, and down, nowhere, stranger, which fail.
    let run = w.run(&["status", "--remote", "all", "--all"]);
    assert_eq!(run.code, 0, "{run:?}");
    let mut lines = run.stdout.lines();
    assert!(lines.next().unwrap().starts_with("HOST  "), "{run:?}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("b1 ") && l.contains("one")),
        "{run:?}"
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("b2 ") && l.contains("two")),
        "{run:?}"
    );
    assert!(run.stderr.contains("down is unreachable"), "{run:?}");
    assert!(
        run.stderr.contains("harnex is not installed on nowhere"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("ssh to stranger was refused"),
        "{run:?}"
    );

    let run = w.run(&["status", "--remote", "all", "--all", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let rows = run.json();
    let kind_of = |host: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["host"] == host)
            .map(|r| r["error_kind"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(kind_of("down"), "unreachable", "{rows}");
    assert_eq!(kind_of("nowhere"), "harnex_missing", "{rows}");
    assert_eq!(kind_of("stranger"), "auth_refused", "{rows}");
    assert_eq!(kind_of("b1"), Value::Null, "{rows}");

    let run = w.run(&["status", "--remote", "pair", "--tree"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("b1:\n") && run.stdout.contains("b2:\n"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("one") && run.stdout.contains("two"),
        "{run:?}"
    );

    // A group, and one host alone (the down one: its own exit code).
    let run = w.run(&["status", "--remote", "pair", "--all", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json().as_array().unwrap().len(), 2, "{run:?}");
    let run = w.run(&["status", "--remote", "down"]);
    assert_eq!(run.code, 69, "{run:?}");
}

#[test]
fn each_way_of_failing_has_its_message_and_exit_code() {
    let w = SshWorld::new(&["b1"]);
    let cases = [
        ("down", 69, "unreachable"),
        ("stranger", 77, "was refused"),
        ("nowhere", 127, "harnex is not installed on nowhere"),
    ];
    for (host, code, needle) in cases {
        let run = w.run(&["send", "--remote", host, "--id", "x", "-m", "hi"]);
        assert_eq!(run.code, code, "{host}: {run:?}");
        assert!(run.stderr.contains(needle), "{host}: {run:?}");
    }
    // The remote CLI missing: doctor says how to install it.
    let run = w.run(&["doctor", "--remote", "nowhere"]);
    assert_eq!(run.code, 127, "{run:?}");
    assert!(run.stderr.contains("cargo install harnex"), "{run:?}");
    let run = w.run(&["doctor", "--remote", "nowhere", "--json"]);
    assert_eq!(run.json()["error_kind"], "harnex_missing", "{run:?}");

    // Another version there.
    let old = w.local.root.path().join("old-harnex");
    std::fs::write(&old, "#!/bin/sh\necho 'harnex 0.0.1'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    let table = format!(
        "[hosts.old]\nssh = \"b1\"\nharnex = \"{}\"\n",
        old.display()
    );
    w.write_hosts_file(&[&table]);
    let run = w.run(&["wait", "--remote", "old", "--id", "x"]);
    assert_eq!(run.code, 76, "{run:?}");
    assert!(run.stderr.contains("old runs harnex 0.0.1"), "{run:?}");

    // A --cd that is not there, and a group where one host is meant.
    let agent = crate::support::fake_agent_bin();
    let run = w.run(&[
        "run",
        "--remote",
        "b1",
        agent.to_str().unwrap(),
        "--cd",
        "/nonexistent/repo",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("does not exist on b1"), "{run:?}");
    let run = w.run(&["stop", "--remote", "all", "--id", "x"]);
    assert_eq!(run.code, 2, "{run:?}");
    // An ssh command line that does not parse is a usage error that shows the form.
    let run = crate::support::Run::from(
        w.cmd()
            .args(["status", "--remote", "b1"])
            .env("HARNEX_SSH", "ssh -F 'unterminated")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("HARNEX_SSH='ssh -F"), "{run:?}");
    // The healthy host's doctor passes and says so.
    let run = w.run(&["doctor", "--remote", "b1", "--json"]);
    assert_eq!(run.json()["host"], "b1", "{run:?}");
}

#[test]
fn killing_the_ssh_client_mid_events_ends_both_sides() {
    let w = SshWorld::new(&["b1"]);
    w.start_fake("b1", "ev", &[]);
    let b1 = w.host("b1");
    let events = w.spawn(&["events", "--remote", "b1", "--id", "ev"]);
    events.wait_stdout("\"type\":\"started\"");
    let remote = wait_until("the remote events process", DEADLINE, || {
        let pids = harnex_processes(&b1.state, &["events"]);
        (!pids.is_empty()).then_some(pids)
    });
    let ssh = wait_child_named(events.pid(), "ssh");
    kill(ssh);
    let run = events.finish(SLOW);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("dropped during `events`"), "{run:?}");
    // The remote harnex does not stay behind waiting for a reader that is gone.
    wait_until("the remote events process to end", SLOW, || {
        harnex_processes(&b1.state, &["events"])
            .is_empty()
            .then_some(())
    });
    assert!(!remote.is_empty());
    // The session itself is untouched.
    b1.wait_state("ev", "prompt");
}

#[test]
fn a_connection_dropped_mid_wait_says_so_and_exits_1() {
    let w = SshWorld::new(&["b1"]);
    w.start_fake("b1", "wt", &[]);
    let b1 = w.host("b1");
    let waiter = w.spawn(&["wait", "--id", "b1:wt"]);
    wait_until("the remote wait process", DEADLINE, || {
        (!harnex_processes(&b1.state, &["wait"]).is_empty()).then_some(())
    });
    // The server side goes: every connection of b1's sshd is killed.
    for pid in w.server("b1").connection_pids() {
        kill(pid);
    }
    let run = waiter.finish(SLOW);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("dropped during `wait`"), "{run:?}");
    assert!(run.stderr.contains("harnex status --remote b1"), "{run:?}");
    wait_until("the remote wait process to end", SLOW, || {
        harnex_processes(&b1.state, &["wait"])
            .is_empty()
            .then_some(())
    });
    b1.wait_state("wt", "prompt");
}

/// An ssh session has no LANG unless the client sends one: `run --tmux` must work there too
/// (tmux then printed the tabs of harnex's formats as `_`, and the new pane read as gone).
#[test]
fn a_tmux_run_without_a_utf8_locale_starts() {
    let w = crate::support::World::new();
    let agent = crate::support::fake_agent_bin();
    let run = crate::support::Run::from(
        w.cmd()
            .args(["run", agent.to_str().unwrap(), "--id", "plain", "--tmux"])
            .env_remove("LANG")
            .env_remove("LC_ALL")
            .env_remove("LC_CTYPE")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["mode"], "tmux", "{run:?}");
}

/// The cost of a remote `send` and `status` on the loopback host next to the local ones (a
/// measurement, not a check: `cargo nextest run --run-ignored only -E 'test(remote_cost)'
/// --no-capture`).
#[test]
#[ignore]
fn remote_cost() {
    use std::time::{Duration, Instant};
    let w = SshWorld::new(&["b1"]);
    w.start_fake("b1", "r", &["--turn-ms", "10"]);
    w.local.start_fake("l", &[], &["--turn-ms", "10"]);
    let b1 = w.host("b1");
    b1.wait_state("r", "prompt");
    let time = |args: &[&str]| {
        let start = Instant::now();
        let run = w.run(args);
        let took = start.elapsed();
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        took
    };
    // The first remote command opens the shared connection.
    let cold = time(&["status", "--remote", "b1", "--json"]);
    let median = |args: &[&str]| {
        let mut times: Vec<Duration> = (0..15).map(|_| time(args)).collect();
        times.sort();
        times[times.len() / 2]
    };
    let send = ["send", "--id", "l", "--message", "hi", "--no-wait"];
    let local_send = median(&send);
    let remote_send = median(&["send", "--id", "b1:r", "--message", "hi", "--no-wait"]);
    let local_status = median(&["status", "--json"]);
    let remote_status = median(&["status", "--remote", "b1", "--json"]);
    // The same without connection sharing (options in HARNEX_SSH win over harnex's).
    let unshared = |args: &[&str]| {
        let mut times: Vec<Duration> = (0..15)
            .map(|_| {
                let start = Instant::now();
                let run = crate::support::Run::from(
                    w.cmd()
                        .args(args)
                        .env(
                            "HARNEX_SSH",
                            format!(
                                "ssh -F {} -o ControlMaster=no -o ControlPath=none",
                                w.ssh_config.display()
                            ),
                        )
                        .output()
                        .unwrap(),
                );
                assert_eq!(run.code, 0, "{run:?}");
                start.elapsed()
            })
            .collect();
        times.sort();
        times[times.len() / 2]
    };
    let unshared_send = unshared(&["send", "--id", "b1:r", "--message", "hi", "--no-wait"]);
    let unshared_status = unshared(&["status", "--remote", "b1", "--json"]);
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!(
        "first remote command (opens the shared connection): {}",
        ms(cold)
    );
    println!(
        "send --no-wait   local {:>9}   remote {:>9}   remote unshared {:>9}",
        ms(local_send),
        ms(remote_send),
        ms(unshared_send)
    );
    println!(
        "status --json    local {:>9}   remote {:>9}   remote unshared {:>9}",
        ms(local_status),
        ms(remote_status),
        ms(unshared_status)
    );
}

/// A session here starting a child there: the child records its parent, root and tags.
#[test]
fn a_child_started_on_another_host_knows_its_parent_and_tags() {
    let w = SshWorld::new(&["b1"]);
    let agent = crate::support::fake_agent_bin();
    let repo = w.host("b1").repo.to_str().unwrap().to_string();
    let run = crate::support::Run::from(
        w.cmd()
            .args([
                "run",
                "--remote",
                "b1",
                agent.to_str().unwrap(),
                "--id",
                "kid",
                "--cd",
                &repo,
            ])
            .env("HARNEX_ID", "boss")
            .env("HARNEX_TAGS", r#"{"team":"blue"}"#)
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let entry = w.host("b1").entry("kid");
    assert_eq!(entry["parent"], "boss", "{entry}");
    assert_eq!(entry["tags"]["team"], "blue", "{entry}");
}

/// `send` with no message, typed at a terminal, is refused as it is locally, instead of the remote
/// side waiting for the end of a terminal's input.
#[test]
fn a_send_without_a_message_at_a_terminal_is_refused_not_left_waiting() {
    let w = SshWorld::new(&["b1"]);
    w.start_fake("b1", "t1", &[]);
    let local = w.cmd();
    // `script` gives harnex a terminal as its stdin.
    let line = format!(
        "{} send --remote b1 --id t1",
        crate::support::harnex_bin().display()
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .current_dir(&w.local.repo)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, value) in local.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    let child = crate::support::Background::spawn(&mut cmd);
    let run = child.finish(SLOW);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.contains("no message"), "{run:?}");
}
