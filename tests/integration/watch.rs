//! `run --watch`: the babysitter against fake agents that finish, hang until resumed, or never
//! recover; its events; the legacy file-change hook.

use serde_json::Value;

use crate::support::{DEADLINE, World, fake_agent_bin, wait_until};

/// `harnex run <fake agent> --watch --stall-after 2s …` in the foreground, to its end.
fn watch(world: &World, id: &str, harnex_args: &[&str]) -> crate::support::Run {
    spawn_watch(world, id, "2s", harnex_args).finish(std::time::Duration::from_secs(60))
}

/// `harnex run <fake agent> --watch --stall-after STALL …`, started in the background.
fn spawn_watch(
    world: &World,
    id: &str,
    stall: &str,
    harnex_args: &[&str],
) -> crate::support::Background {
    let agent = fake_agent_bin();
    let mut args = vec![
        "run",
        agent.to_str().unwrap(),
        "--id",
        id,
        "--watch",
        "--stall-after",
        stall,
    ];
    args.extend_from_slice(harnex_args);
    world.spawn(&args)
}

fn of_type<'a>(rows: &'a [Value], kind: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["type"] == kind).collect()
}

#[test]
fn an_agent_that_finishes_by_itself_ends_the_watch_with_0() {
    let world = World::new();
    let run = watch(&world, "done", &["--context", "exit 0"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("outcome=exited"), "{run:?}");
    assert!(run.stdout.contains("resumes=0"), "{run:?}");
    assert!(of_type(&world.events(), "resume").is_empty());
}

#[test]
fn a_hung_agent_is_interrupted_and_resumed_once() {
    let world = World::new();
    // `stall` hangs with a ticking spinner until interrupted; the resume then ends it.
    let run = watch(
        &world,
        "hung",
        &["--context", "stall", "--resume-message", "exit 0"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("interrupted, resume 1/1"), "{run:?}");
    assert!(run.stdout.contains("resumes=1"), "{run:?}");
    assert!(run.stdout.contains("outcome=exited"), "{run:?}");
    let rows = world.events();
    let idle = of_type(&rows, "log_idle");
    let resume = of_type(&rows, "resume");
    assert_eq!(idle.len(), 1, "{rows:?}");
    assert_eq!(resume.len(), 1, "{rows:?}");
    assert_eq!(idle[0]["state"], "busy");
    assert!(idle[0]["idle_s"].as_f64().unwrap() >= 2.0);
    assert_eq!(resume[0]["interrupted"], true);
    crate::events::check_rows(&crate::events::schema(), &rows);
    // The stall was resumed once, not once per poll.
    let transcript = std::fs::read_to_string(world.only_file("output")).unwrap();
    assert_eq!(transcript.matches("interrupted").count(), 1, "{transcript}");
    let summary = world.exit_record("hung");
    assert_eq!(summary["exit_code"], 0);
}

#[test]
fn an_agent_that_never_recovers_is_escalated_with_2_and_left_running() {
    let world = World::new();
    let run = watch(
        &world,
        "stuck",
        &[
            "--context",
            "hang",
            "--resume-message",
            "hang",
            "--max-resumes",
            "1",
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.contains("resume 1/1"), "{run:?}");
    assert!(
        run.stdout.contains("max resumes reached, escalating"),
        "{run:?}"
    );
    assert!(run.stdout.contains("outcome=escalated"), "{run:?}");
    let rows = world.events();
    assert_eq!(of_type(&rows, "log_idle").len(), 2, "two stalls: {rows:?}");
    assert_eq!(of_type(&rows, "resume").len(), 1);
    // Left running for a person.
    let status = world.run(&["status", "--json"]).json();
    assert_eq!(status[0]["id"], "stuck");
    assert_eq!(status[0]["agent_state"], "busy");
    let events = world.run(&["events", "--id", "stuck", "--snapshot"]);
    assert!(events.stdout.contains("\"type\":\"resume\""));
}

#[test]
fn an_idle_agent_at_its_prompt_is_a_stall_too() {
    let world = World::new();
    let run = watch(
        &world,
        "idle",
        &["--resume-message", "exit 0", "--max-resumes", "1"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("prompt with no progress"), "{run:?}");
    assert!(run.stdout.contains("resume 1/1"), "{run:?}");
    let resume = world
        .events()
        .into_iter()
        .find(|r| r["type"] == "resume")
        .unwrap();
    assert_eq!(resume["interrupted"], false);
}

#[test]
fn watch_options_are_checked() {
    let world = World::new();
    let agent = fake_agent_bin();
    let agent = agent.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["run", agent, "--watch", "--preset", "foo"],
            "valid: impl, plan, gate",
        ),
        (
            vec!["run", agent, "--preset", "impl"],
            "--preset requires --watch",
        ),
        (vec!["run", agent, "--watch", "--detach"], "drop --detach"),
        (vec!["run", agent, "--watch", "--max-resumes", "-1"], "-1"),
    ] {
        let run = world.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(needle), "{args:?}: {run:?}");
    }
    assert!(world.registry_files().is_empty(), "nothing started");
}

#[test]
fn the_file_change_hook_tells_the_agent_to_read_the_file() {
    let world = World::new();
    let notes = world.repo.join("NOTES.md");
    std::fs::write(&notes, "first\n").unwrap();
    let agent = fake_agent_bin();
    let run = world.run(&[
        "run",
        "--detach",
        agent.to_str().unwrap(),
        "--id",
        "hook",
        "--watch",
        "NOTES.md",
        "--",
        "--turn-ms",
        "100",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let entry = world.entry("hook");
    assert_eq!(entry["watch_absolute_path"], notes.to_str().unwrap());
    std::fs::write(&notes, "second\n").unwrap();
    std::fs::write(&notes, "third\n").unwrap();
    let want = format!("answer: file-change-hook: read {}", notes.display());
    world.wait_screen("hook", &want);
    // One burst of changes, one message.
    wait_until("the hook message to be delivered", DEADLINE, || {
        let sends = world
            .events()
            .into_iter()
            .filter(|r| r["type"] == "send")
            .count();
        (sends >= 1).then_some(())
    });
    // Part of the test: no second message in the debounce second (and a half) after the first.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let sends = world
        .events()
        .into_iter()
        .filter(|r| r["type"] == "send")
        .count();
    assert_eq!(sends, 1, "debounced into one message");
}

#[test]
fn an_agent_that_reports_done_is_stopped_and_the_watch_ends_with_0() {
    let world = World::new();
    let watcher = spawn_watch(&world, "fin", "30s", &[]);
    watcher.wait_stdout("started fin");
    // Inside the session the agent would run plain `harnex done`: its env names the session.
    let repo = world.repo.to_str().unwrap();
    let done = world.run_env(
        &["done", "--message", "all tests pass"],
        &[("HARNEX_ID", "fin"), ("HARNEX_SESSION_REPO_ROOT", repo)],
    );
    assert_eq!(done.code, 0, "{done:?}");
    assert_eq!(done.json()["event"], "done");
    let run = watcher.finish(DEADLINE);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("reported its task done"), "{run:?}");
    assert!(run.stdout.contains("outcome=done"), "{run:?}");
    assert!(run.stdout.contains("resumes=0"), "{run:?}");
    let rows = world.events();
    let done = rows
        .iter()
        .find(|r| r["type"] == "done")
        .expect("done event");
    assert_eq!(done["message"], "all tests pass");
    assert_eq!(rows.last().unwrap()["type"], "exited");
    crate::events::check_rows(&crate::events::schema(), &rows);
}

#[test]
fn done_needs_a_session() {
    let world = World::new();
    let nobody = world.run(&["done"]);
    assert_eq!(nobody.code, 2, "{nobody:?}");
    assert!(nobody.stderr.contains("--id"), "{nobody:?}");
    let unknown = world.run(&["done", "--id", "ghost"]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(unknown.stderr.contains("no session found"), "{unknown:?}");
}

/// A stop under way is not a stall: while the agent takes its grace time to exit, the watch
/// neither resumes nor escalates it, and ends with the exit.
#[test]
fn a_session_being_stopped_is_not_resumed_or_escalated() {
    let world = World::new();
    let watcher = spawn_watch(
        &world,
        "leaving",
        "2s",
        &[
            "--context",
            "hang",
            "--resume-message",
            "hang",
            "--max-resumes",
            "1",
        ],
    );
    wait_until("the first resume", DEADLINE, || {
        let file = world.files_of("events", "leaving").pop()?;
        let text = std::fs::read_to_string(file).ok()?;
        text.contains("\"type\":\"resume\"").then_some(())
    });
    // The hanging agent ignores the exit sequence, so it is signalled only after the grace,
    // longer than the next stall would take.
    let stopped = world.run(&["stop", "--id", "leaving", "--grace", "5s", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let run = watcher.finish(std::time::Duration::from_secs(30));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("outcome=exited"), "{run:?}");
    assert!(!run.stdout.contains("escalating"), "{run:?}");
    assert_eq!(of_type(&world.events(), "resume").len(), 1);
}
