//! tmux mode: `run --tmux` windows, `harnex pane`, and a person typing next to API deliveries.
//! Every tmux command runs on the world's private server (`TMUX_TMPDIR`), never the user's.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{DEADLINE, Run, World, wait_until};

/// `tmux <args>` on the world's private server.
fn tmux(world: &World, args: &[&str]) -> Run {
    Run::from(
        Command::new("tmux")
            .env("TMUX_TMPDIR", &world.tmux_tmpdir)
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("tmux is installed (.ci/run installs it)"),
    )
}

/// `harnex run bash --id ID --tmux <extra> -- --norc --noprofile`, asserting it succeeded.
fn run_bash_in_tmux(world: &World, id: &str, extra: &[&str]) -> Value {
    let mut args = vec!["run", "bash", "--id", id, "--tmux", "--timeout", "20"];
    args.extend_from_slice(extra);
    args.extend(["--", "--norc", "--noprofile"]);
    let run = world.run(&args);
    assert_eq!(run.code, 0, "run --tmux failed: {run:?}");
    let line = run.json();
    assert_eq!(line["agent_state"], "prompt", "{run:?}");
    line
}

/// Window names of tmux session `session`.
fn windows(world: &World, session: &str) -> Vec<String> {
    let run = tmux(
        world,
        &["list-windows", "-t", session, "-F", "#{window_name}"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    run.stdout.lines().map(str::to_string).collect()
}

/// Poll `harnex pane --id ID` until a line of it equals `line`.
fn wait_pane_line(world: &World, id: &str, line: &str) -> String {
    wait_until(&format!("a line {line:?} in pane {id}"), DEADLINE, || {
        let run = world.run(&["pane", "--id", id]);
        (run.code == 0 && run.stdout.lines().any(|l| l.trim_end() == line)).then_some(run.stdout)
    })
}

#[test]
fn dispatch_outside_tmux_twice_opens_two_windows_in_session_harnex() {
    let world = World::new();
    let first = run_bash_in_tmux(&world, "w1", &[]);
    let second = run_bash_in_tmux(&world, "w2", &["--description", "second"]);
    for (line, id) in [(&first, "w1"), (&second, "w2")] {
        assert_eq!(line["ok"], true);
        assert_eq!(line["mode"], "tmux");
        assert_eq!(line["id"], id);
        assert_eq!(line["cli"], "bash");
        assert_eq!(line["window"], id);
        assert_eq!(line["tmux_session"], "harnex");
        assert!(line["pane"].as_str().unwrap().starts_with('%'), "{line}");
        assert!(line["pid"].as_u64().is_some() && line["port"].as_u64().is_some());
        assert!(line["output_log_path"].as_str().is_some());
    }
    assert_eq!(second["description"], "second");
    assert_ne!(first["pane"], second["pane"]);
    let names = windows(&world, "harnex");
    assert!(names.contains(&"w1".to_string()) && names.contains(&"w2".to_string()));

    // The registry knows the pane, and keeps it across rewrites (a delivery rewrites it).
    let entry = world.entry("w1");
    assert_eq!(entry["mode"], "tmux");
    assert_eq!(entry["tmux_target"], first["pane"]);
    assert_eq!(entry["tmux_session"], "harnex");
    assert_eq!(entry["tmux_window"], "w1");

    let send = world.run(&[
        "send",
        "--id",
        "w1",
        "--message",
        "echo hi",
        "--wait-for-idle",
    ]);
    assert_eq!(send.code, 0, "{send:?}");
    let pane = world.run(&["pane", "--id", "w1", "--lines", "5"]);
    assert_eq!(pane.code, 0, "{pane:?}");
    assert!(pane.stdout.lines().any(|l| l == "hi"), "{pane:?}");
    assert!(pane.stdout.lines().count() <= 5, "{pane:?}");
    assert_eq!(world.entry("w1")["tmux_target"], first["pane"]);

    // A window named apart from the id.
    let named = run_bash_in_tmux(&world, "w3", &["--tmux-name", "third"]);
    assert_eq!(named["window"], "third");
    assert!(windows(&world, "harnex").contains(&"third".to_string()));
}

#[test]
fn dispatch_from_inside_a_tmux_pane_uses_the_current_session_and_the_callers_environment() {
    let world = World::new();
    let out = world.root.path().join("out.json");
    let err = world.root.path().join("err.txt");
    let script = world.root.path().join("dispatch.sh");
    let harnex = crate::support::harnex_bin();
    // The tmux server's environment is the test's; the caller's own variable is set only in the
    // script, so the agent can only have it if harnex passed the caller's environment on.
    std::fs::write(
        &script,
        format!(
            "export HARNEX_STATE_DIR='{state}' HOME='{home}' CALLER_MARK=from-the-caller\n\
             cd '{repo}'\n\
             '{harnex}' run bash --id inner --tmux --timeout 20 -- --norc --noprofile >'{out}.tmp' 2>'{err}'\n\
             mv '{out}.tmp' '{out}'\n\
             exec sleep 600\n",
            state = world.state.display(),
            home = world.home.display(),
            repo = world.repo.display(),
            harnex = harnex.display(),
            out = out.display(),
            err = err.display(),
        ),
    )
    .expect("write script");
    let script = script.to_str().expect("utf-8").to_string();
    let made = tmux(
        &world,
        &[
            "new-session",
            "-d",
            "-s",
            "outer",
            "-x",
            "120",
            "-y",
            "40",
            "-P",
            "-F",
            "#{pane_id}",
            "sh",
            &script,
        ],
    );
    assert_eq!(made.code, 0, "{made:?}");
    let caller_pane = made.stdout.trim().to_string();
    let text = wait_until("the dispatch script to finish", DEADLINE, || {
        std::fs::read_to_string(&out).ok()
    });
    let line: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text:?}; stderr: {}",
            std::fs::read_to_string(&err).unwrap_or_default()
        )
    });
    assert_eq!(line["mode"], "tmux", "{line}");
    assert_eq!(line["tmux_session"], "outer");
    assert_eq!(line["window"], "inner");
    assert!(windows(&world, "outer").contains(&"inner".to_string()));
    assert!(
        !windows_exist(&world, "harnex"),
        "no `harnex` session inside tmux"
    );

    let probe = r#"echo "mark=$CALLER_MARK spawner=$HARNEX_SPAWNER_PANE tmux=[$TMUX$TMUX_PANE]""#;
    let send = world.run(&[
        "send",
        "--id",
        "inner",
        "--message",
        probe,
        "--wait-for-idle",
    ]);
    assert_eq!(send.code, 0, "{send:?}");
    wait_pane_line(
        &world,
        "inner",
        &format!("mark=from-the-caller spawner={caller_pane} tmux=[]"),
    );
}

fn windows_exist(world: &World, session: &str) -> bool {
    tmux(world, &["has-session", "-t", session]).code == 0
}

#[test]
fn pane_prints_the_screen_with_and_without_lines() {
    let world = World::new();
    let line = run_bash_in_tmux(&world, "cap", &[]);
    let send = world.run(&[
        "send",
        "--id",
        "cap",
        "--message",
        "seq 101 160",
        "--wait-for-idle",
    ]);
    assert_eq!(send.code, 0, "{send:?}");

    let whole = world.run(&["pane", "--id", "cap"]);
    assert_eq!(whole.code, 0, "{whole:?}");
    assert!(whole.stdout.contains("160\n"), "{whole:?}");
    let rows = whole.stdout.lines().count();
    assert!(rows > 5, "{whole:?}");

    // The last 3 lines: 159, 160 and the prompt.
    let three = world.run(&["pane", "--id", "cap", "--lines", "3"]);
    assert_eq!(three.code, 0, "{three:?}");
    let lines: Vec<&str> = three.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{three:?}");
    assert_eq!(&lines[..2], ["159", "160"], "{three:?}");

    // Scrollback counts: more lines than the window has rows.
    let many = world.run(&["pane", "--id", "cap", "--lines", "55"]);
    assert_eq!(many.stdout.lines().count(), 55, "{many:?}");

    let json = world
        .run(&["pane", "--id", "cap", "--lines", "2", "--json"])
        .json();
    assert_eq!(json["ok"], true);
    assert_eq!(json["id"], "cap");
    assert_eq!(json["lines"], 2);
    assert_eq!(json["source"], "tmux");
    assert_eq!(json["pane"], line["pane"]);
    assert!(
        json["text"].as_str().unwrap().starts_with("160\n"),
        "{json}"
    );
    assert!(json["captured_at"].as_str().is_some());

    // A session outside tmux: the emulated screen.
    world.detach_in(
        &world.repo,
        &["bash", "--id", "headless", "--", "--norc", "--noprofile"],
    );
    let send = world.run(&[
        "send",
        "--id",
        "headless",
        "--message",
        "echo screen-$((40+2))",
        "--wait-for-idle",
    ]);
    assert_eq!(send.code, 0, "{send:?}");
    let screen = world.run(&["pane", "--id", "headless"]);
    assert_eq!(screen.code, 0, "{screen:?}");
    assert!(
        screen.stdout.lines().any(|l| l == "screen-42"),
        "{screen:?}"
    );
    let last = world
        .run(&["pane", "--id", "headless", "--lines", "2", "--json"])
        .json();
    assert_eq!(last["source"], "screen");
    assert!(
        last["text"].as_str().unwrap().starts_with("screen-42\n"),
        "{last}"
    );
}

#[test]
fn pane_follow_redraws_and_stops_when_the_session_exits() {
    let world = World::new();
    run_bash_in_tmux(&world, "fol", &[]);
    let follower = world.spawn(&["pane", "--id", "fol", "--follow", "--interval", "100ms"]);
    follower.wait_stdout("bash-");
    let send = world.run(&[
        "send",
        "--id",
        "fol",
        "--message",
        "echo later-$((1+1))",
        "--wait-for-idle",
    ]);
    assert_eq!(send.code, 0, "{send:?}");
    follower.wait_stdout("later-2");
    let stop = world.run(&["stop", "--id", "fol", "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    let run = follower.finish(Duration::from_secs(10));
    assert_eq!(run.code, 0, "{run:?}");
    // Its stdout is a pipe: frames follow each other, no clear-screen escapes.
    assert!(!run.stdout.contains("\x1b[2J"), "{run:?}");
    assert!(
        run.stdout.matches("bash-").count() >= 2,
        "two frames: {run:?}"
    );

    // The same for a session outside tmux.
    world.detach_in(
        &world.repo,
        &["bash", "--id", "fol2", "--", "--norc", "--noprofile"],
    );
    let follower = world.spawn(&["pane", "--id", "fol2", "--follow", "--interval", "100ms"]);
    follower.wait_stdout("bash-");
    let stop = world.run(&["stop", "--id", "fol2", "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    let run = follower.finish(Duration::from_secs(10));
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn boot_failure_inside_tmux_is_reported_and_the_window_stays() {
    let world = World::new();
    let run = world.run(&[
        "run",
        "sh",
        "--id",
        "boom",
        "--tmux",
        "--timeout",
        "20",
        "--",
        "-c",
        "echo dying-now; exit 3",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.is_empty(), "no ok line: {run:?}");
    assert!(run.stderr.contains("exited with code 3"), "{run:?}");
    assert!(run.stderr.contains("dying-now"), "{run:?}");
    assert!(run.stderr.contains("stays open"), "{run:?}");
    // The window is still there, dead, showing the agent's last words.
    let panes = tmux(
        &world,
        &["list-panes", "-a", "-F", "#{window_name} #{pane_dead}"],
    );
    assert!(panes.stdout.lines().any(|l| l == "boom 1"), "{panes:?}");
    let screen = tmux(&world, &["capture-pane", "-p", "-t", "harnex:boom"]);
    assert!(screen.stdout.contains("dying-now"), "{screen:?}");
    assert_eq!(world.exit_record("boom")["exit_code"], 3);

    // A window whose session ends normally closes.
    run_bash_in_tmux(&world, "fine", &[]);
    let stop = world.run(&["stop", "--id", "fine", "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    wait_until(
        "the window of a finished session to close",
        DEADLINE,
        || (!windows(&world, "harnex").contains(&"fine".to_string())).then_some(()),
    );
}

#[test]
fn a_persons_keystrokes_and_an_api_send_in_the_same_second_both_arrive_intact() {
    let world = World::new();
    let line = run_bash_in_tmux(&world, "both", &[]);
    let pane = line["pane"].as_str().unwrap().to_string();
    // Arithmetic in the commands, so the output lines differ from the typed ones.
    for round in 1..=2 {
        let human = format!("echo human-{round}-$((6*7))");
        let api = format!("echo api-{round}-$((6*7))");
        let sender = if round == 1 {
            // The API first, the person a moment later (during the delivery): the pause is the
            // scenario under test.
            let sender = world.spawn(&["send", "--id", "both", "--message", &api, "--force"]);
            std::thread::sleep(Duration::from_millis(50));
            let keys = tmux(&world, &["send-keys", "-t", &pane, &human, "Enter"]);
            assert_eq!(keys.code, 0, "{keys:?}");
            sender
        } else {
            // The person first, the API right after.
            let keys = tmux(&world, &["send-keys", "-t", &pane, &human, "Enter"]);
            assert_eq!(keys.code, 0, "{keys:?}");
            world.spawn(&["send", "--id", "both", "--message", &api, "--force"])
        };
        let sent = sender.finish(DEADLINE);
        assert_eq!(sent.code, 0, "{sent:?}");
        wait_pane_line(&world, "both", &format!("human-{round}-42"));
        wait_pane_line(&world, "both", &format!("api-{round}-42"));
    }
}

#[test]
fn tmux_bad_input() {
    let world = World::new();
    // tmux not installed: say so, suggest --detach.
    let bin = world.new_dir("bin-without-tmux");
    std::os::unix::fs::symlink(which("bash"), bin.join("bash")).expect("symlink bash");
    let run = world.run_env(
        &["run", "bash", "--id", "x", "--tmux"],
        &[("PATH", bin.to_str().unwrap())],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("tmux is not installed"), "{run:?}");
    assert!(run.stderr.contains("--detach"), "{run:?}");

    // --tmux with --detach: a usage error.
    let run = world.run(&["run", "bash", "--tmux", "--detach"]);
    assert_eq!(run.code, 2, "{run:?}");

    // --lines 0, and no session.
    let run = world.run(&["pane", "--id", "x", "--lines", "0"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("--lines") && run.stderr.contains("1..=1000000"),
        "{run:?}"
    );

    world.detach_in(
        &world.repo,
        &["bash", "--id", "here", "--", "--norc", "--noprofile"],
    );
    let run = world.run(&["pane", "--id", "nope"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("here"), "lists the live ids: {run:?}");

    // The recorded tmux pane is gone.
    let server = tmux(&world, &["new-session", "-d", "-s", "other"]);
    assert_eq!(server.code, 0, "{server:?}");
    let path = world.files_of("sessions", "here").remove(0);
    let mut entry: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    entry["tmux_target"] = "%42".into();
    std::fs::write(&path, serde_json::to_vec(&entry).unwrap()).unwrap();
    let run = world.run(&["pane", "--id", "here"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(r#"tmux target "%42" no longer exists"#),
        "{run:?}"
    );
}

#[test]
fn pane_finds_a_unique_session_in_another_repo_and_asks_when_there_are_two() {
    let world = World::new();
    let a = world.new_repo("a");
    let b = world.new_repo("b");
    let elsewhere = world.new_dir("elsewhere");
    world.detach_in(&a, &["bash", "--id", "same", "--", "--norc", "--noprofile"]);
    let run = world.run_in(&elsewhere, &["pane", "--id", "same"]);
    assert_eq!(run.code, 0, "unique match in another repo: {run:?}");
    world.detach_in(&b, &["bash", "--id", "same", "--", "--norc", "--noprofile"]);
    let run = world.run_in(&elsewhere, &["pane", "--id", "same"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("multiple active sessions"), "{run:?}");
    assert!(run.stderr.contains("--repo"), "{run:?}");
    let run = world.run_in(
        &elsewhere,
        &["pane", "--id", "same", "--repo", b.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{run:?}");
}

fn which(program: &str) -> std::path::PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").expect("PATH"))
        .map(|dir| dir.join(program))
        .find(|p| Path::new(p).is_file())
        .unwrap_or_else(|| panic!("{program} not on PATH"))
}
