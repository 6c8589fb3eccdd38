//! `logs --plain` renders the transcript through the terminal emulator: real Codex and Claude
//! recordings played into a session read as rows, `--lines` counts rendered rows, the size the
//! session ran with is used after it ended, and `--follow` streams new rows.

use crate::support::{DEADLINE, World, wait_until};
use std::path::{Path, PathBuf};

const ANSWER: &str = "The mock agent finished the task.";

/// The output bytes of a recording in tests/fixtures/agents, written to a file in the world.
fn recording_output(world: &World, name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agents")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    let mut bytes = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let (_, kind, data): (f64, String, String) = serde_json::from_str(line).expect("event");
        if kind == "o" {
            bytes.extend(data.into_bytes());
        }
    }
    let out = world.new_dir("recordings").join(format!("{name}.out"));
    std::fs::write(&out, bytes).expect("write recording output");
    out
}

/// A session whose "agent" prints `file` with echo off, then a `$ ` prompt (so the start does not
/// wait out its deadline), then waits for the end of its input (the stop's C-d).
fn play(world: &World, id: &str, size: &str, file: &Path) {
    world.detach(&[
        "sh",
        "--id",
        id,
        "--size",
        size,
        "--",
        "-c",
        "stty -echo; cat \"$0\"; printf '$ '; exec cat >/dev/null",
        file.to_str().expect("utf-8 path"),
    ]);
}

fn stop(world: &World, id: &str) {
    let stopped = world.run(&["stop", "--id", id, "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    world.wait_gone(id);
}

fn plain(world: &World, id: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["logs", "--id", id, "--plain"];
    args.extend_from_slice(extra);
    let run = world.run(&args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains('\x1b'), "{run:?}");
    assert!(!run.stdout.contains('\r'), "{run:?}");
    run.stdout.lines().map(str::to_string).collect()
}

#[test]
fn a_claude_session_s_answer_is_a_readable_line_after_it_ended() {
    let world = World::new();
    let file = recording_output(&world, "claude-2.1.328-turn-120x40.cast");
    play(&world, "cl-1", "120x40", &file);
    stop(&world, "cl-1");

    let all = plain(&world, "cl-1", &["--lines", "100000"]);
    let answer = format!("● Done. {ANSWER}");
    assert_eq!(all.iter().filter(|r| **r == answer).count(), 1, "{all:#?}");
    assert!(
        all.iter()
            .filter(|r| r.contains("esc to interrupt"))
            .count()
            <= 1,
        "the spinner line repeats: {all:#?}"
    );
    // The fire-and-watch recipe's fallback: the last 20 rows hold the answer.
    let last = plain(&world, "cl-1", &["--lines", "20"]);
    assert!(last.len() <= 20, "{last:#?}");
    assert!(last.contains(&answer), "{last:#?}");
    // --lines counts rendered rows: the last 3 of the whole.
    let three = plain(&world, "cl-1", &["--lines", "3"]);
    assert_eq!(three, all[all.len() - 3..], "{all:#?}");
    assert!(plain(&world, "cl-1", &["--lines", "0"]).is_empty());
}

#[test]
fn a_codex_session_s_redraws_do_not_run_together() {
    let world = World::new();
    let file = recording_output(&world, "codex-0.169.0-turn-120x40.cast");
    play(&world, "cx-1", "120x40", &file);
    // Live: rendered at the size in the registry entry.
    let live = plain(&world, "cx-1", &[]);
    assert!(live.contains(&format!("• Done. {ANSWER}")), "{live:#?}");
    stop(&world, "cx-1");

    let all = plain(&world, "cx-1", &[]);
    assert_eq!(
        all.iter()
            .filter(|r| **r == format!("• Done. {ANSWER}"))
            .count(),
        1,
        "{all:#?}"
    );
    assert!(
        all.iter().filter(|r| r.contains("Working (")).count() <= 1,
        "{all:#?}"
    );
    assert!(
        !all.iter().any(|r| r.contains("anything←")),
        "screen redraws run together: {all:#?}"
    );
}

#[test]
fn rows_are_as_wide_as_the_terminal_the_session_ran_with() {
    let world = World::new();
    let file = world.new_dir("out").join("wide.out");
    std::fs::write(&file, format!("{}\r\nend\r\n", "x".repeat(150))).unwrap();
    play(&world, "wide", "100x30", &file);
    let want = ["x".repeat(100), "x".repeat(50), "end".into(), "$".into()];
    assert_eq!(plain(&world, "wide", &[]), want, "live, from the registry");
    stop(&world, "wide");
    assert_eq!(
        world.exit_record("wide")["size"],
        serde_json::json!({"cols": 100, "rows": 30})
    );
    assert_eq!(
        plain(&world, "wide", &[]),
        want,
        "ended, from the exit record"
    );
}

#[test]
fn follow_streams_new_rendered_rows_until_the_session_exits() {
    let world = World::new();
    world.start_fake("fol", &[], &["--turn-ms", "600"]);
    let follower = world.spawn(&["logs", "--id", "fol", "--plain", "--follow", "--lines", "0"]);
    let sent = world.run(&[
        "send",
        "--id",
        "fol",
        "--message",
        "stream me",
        "--wait-for-idle",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    follower.wait_stdout("answer: stream me");
    stop(&world, "fol");
    let run = follower.finish(DEADLINE);
    assert_eq!(run.code, 0, "{run:?}");
    let rows: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        rows.iter().filter(|r| **r == "answer: stream me").count(),
        1,
        "{rows:#?}"
    );
    assert!(
        !rows.iter().any(|r| r.contains("Working (")),
        "the spinner was redrawn in place and erased: {rows:#?}"
    );
    assert!(!run.stdout.contains('\x1b'), "{run:?}");
}

#[test]
fn a_fifty_thousand_line_transcript_keeps_only_the_last_rows() {
    let world = World::new();
    let file = world.new_dir("out").join("long.out");
    let text: String = (1..=50_000).map(|n| format!("row {n}\r\n")).collect();
    std::fs::write(&file, text).unwrap();
    play(&world, "long", "80x24", &file);
    stop(&world, "long");
    assert_eq!(
        plain(&world, "long", &["--lines", "3"]),
        ["row 49999", "row 50000", "$"]
    );
}

#[test]
fn pane_lines_counts_rows_with_content() {
    let world = World::new();
    world.detach_bash("gaps");
    // A mostly blank screen between two rows, as Claude Code keeps above its input box.
    let sent = world.run(&[
        "send",
        "--id",
        "gaps",
        "--message",
        "printf 'top\\n\\n\\n\\n\\n\\n\\nbottom\\n'",
        "--wait-for-idle",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let pane = world.run(&["pane", "--id", "gaps", "--lines", "3"]);
    assert_eq!(pane.code, 0, "{pane:?}");
    let rows: Vec<&str> = pane.stdout.lines().collect();
    assert_eq!(rows.len(), 3, "{pane:?}");
    assert_eq!(&rows[..2], ["top", "bottom"], "{pane:?}");
    assert!(!rows[2].trim().is_empty(), "the prompt: {pane:?}");
}

#[test]
fn a_resized_tmux_session_is_rendered_at_its_new_size() {
    let world = World::new();
    let run = world.run(&[
        "run",
        "bash",
        "--id",
        "rs",
        "--tmux",
        "--timeout",
        "20",
        "--",
        "--norc",
        "--noprofile",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let pane = run.json()["pane"].as_str().expect("pane id").to_string();
    let resized = std::process::Command::new("tmux")
        .env("TMUX_TMPDIR", &world.tmux_tmpdir)
        .args(["resize-window", "-t", &pane, "-x", "100", "-y", "30"])
        .status()
        .expect("tmux");
    assert!(resized.success());
    wait_until("the registry to say 100x30", DEADLINE, || {
        (world.entry("rs")["size"] == serde_json::json!({"cols": 100, "rows": 30})).then_some(())
    });
    let sent = world.run(&[
        "send",
        "--id",
        "rs",
        "--message",
        "printf 'x%.0s' $(seq 150); echo",
        "--wait-for-idle",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    stop(&world, "rs");
    assert_eq!(
        world.exit_record("rs")["size"],
        serde_json::json!({"cols": 100, "rows": 30})
    );
    let rows = plain(&world, "rs", &[]);
    let at = rows
        .iter()
        .position(|r| *r == "x".repeat(100))
        .unwrap_or_else(|| panic!("no row of 100 x: {rows:#?}"));
    assert_eq!(rows[at + 1], "x".repeat(50), "{rows:#?}");
}
