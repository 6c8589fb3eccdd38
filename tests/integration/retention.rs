//! Nothing grows without bound: the transcript's cap keeps a run's head and tail, and `harnex
//! prune` removes the files of sessions that ended long ago.

use crate::support::{DEADLINE, World, fake_agent_bin, wait_until};

const KIB: u64 = 1024;
/// The marker line's width (see `session::transcript`).
const MARKER_LEN: u64 = 160;

#[test]
fn a_burst_past_the_cap_keeps_the_head_a_marker_and_the_tail() {
    let world = World::new();
    let agent = fake_agent_bin();
    let started = world.run_env(
        &["run", "--detach", agent.to_str().unwrap(), "--id", "burst"],
        &[("HARNEX_TRANSCRIPT_MAX", "1MiB")],
    );
    assert_eq!(started.code, 0, "{started:?}");
    let burst: u64 = 5_000_000;
    let sent = world.run(&[
        "send",
        "--id",
        "burst",
        "--message",
        &format!("print {burst}"),
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    // The transcript sees it first (the screen of a debug build takes a while to catch up).
    let done = format!("printed {burst}");
    let path = world.only_file("output");
    wait_until("the burst to reach the transcript", DEADLINE, || {
        let text = std::fs::read(&path).ok()?;
        String::from_utf8_lossy(&text).contains(&done).then_some(())
    });
    let status = world.status("burst");
    assert_eq!(status["transcript_max_bytes"], 1024 * KIB);
    let dropped_live = status["transcript_dropped_bytes"].as_u64().unwrap();
    assert!(dropped_live > 3_000_000, "{status}");

    let stop = world.run(&["stop", "--id", "burst", "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    let record = world.exit_record("burst");
    let dropped = record["transcript_dropped_bytes"].as_u64().unwrap();
    assert!(dropped >= dropped_live, "{record}");

    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size <= 1024 * KIB + MARKER_LEN, "{size} bytes kept");
    assert!(size > 900 * KIB, "the cap is used, not emptied: {size}");
    let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    let marker = format!("[harnex: {dropped} bytes of output dropped here");
    let (head, tail) = text
        .split_once(&marker)
        .expect("one marker with the final count");
    assert!(head.len() as u64 >= 500 * KIB, "{}", head.len());
    assert!(head.starts_with("> "), "the head is the start of the run");
    assert!(
        tail.contains(&format!("printed {burst}")),
        "the tail is the newest output"
    );

    // `logs` shows all three.
    let logs = world.run(&["logs", "--id", "burst", "--lines", "100000"]);
    assert_eq!(logs.code, 0);
    assert!(logs.stdout.starts_with("> "), "head");
    assert!(logs.stdout.contains(&marker), "marker");
    assert!(logs.stdout.contains(&format!("printed {burst}")), "tail");
}

#[test]
fn a_bad_transcript_cap_is_a_usage_error() {
    let world = World::new();
    for bad in ["lots", "1k", "12 parsecs"] {
        let run = world.run_env(
            &["run", "--detach", "bash", "--id", "bad"],
            &[("HARNEX_TRANSCRIPT_MAX", bad)],
        );
        assert_eq!(run.code, 2, "{bad}: {run:?}");
        assert!(run.stderr.contains("HARNEX_TRANSCRIPT_MAX"), "{run:?}");
    }
    assert!(world.registry_files().is_empty());
}

/// Set a file's modification time (not a symlink's target's) `days` into the past.
fn age(path: &std::path::Path, days: u32) {
    let status = std::process::Command::new("touch")
        .args(["-h", "-d", &format!("{days} days ago")])
        .arg(path)
        .status()
        .expect("touch");
    assert!(status.success());
}

fn pruned_paths(out: &serde_json::Value) -> Vec<String> {
    out["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn prune_removes_old_sessions_and_nothing_live_recent_or_behind_a_symlink() {
    let world = World::new();
    world.detach_bash("old");
    let stop = world.run(&["stop", "--id", "old", "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    world.detach_bash("recent");
    assert_eq!(world.run(&["stop", "--id", "recent", "--wait"]).code, 0);
    world.start_fake("live", &[], &[]);

    let old: Vec<_> = ["exits", "output", "events", "logs"]
        .iter()
        .flat_map(|sub| world.files_of(sub, "old"))
        .collect();
    assert_eq!(old.len(), 4, "{old:?}");
    // The files a Claude run's hooks leave (settings and relayed calls) go with their session.
    let slug = old[0].file_stem().unwrap().to_str().unwrap().to_string();
    let hook_files: Vec<_> = [".settings.json", ".jsonl"]
        .iter()
        .map(|ext| world.state.join(format!("hooks/{slug}{ext}")))
        .collect();
    for path in &hook_files {
        std::fs::write(path, b"{}\n").unwrap();
    }
    let old: Vec<_> = old.into_iter().chain(hook_files).collect();
    let live: Vec<_> = ["output", "events", "logs"]
        .iter()
        .flat_map(|sub| world.files_of(sub, "live"))
        .collect();
    assert_eq!(live.len(), 3, "{live:?}");
    // A lock file a killed supervisor left behind: nobody holds it, so it goes with the rest.
    let stale_lock = world.state.join("sessions/0000000000000000--gone.lock");
    std::fs::write(&stale_lock, b"").unwrap();
    let old: Vec<_> = old.into_iter().chain([stale_lock]).collect();
    // Only liveness protects a live session, not its files' age.
    for path in old.iter().chain(&live) {
        age(path, 40);
    }
    // A planted symlink that looks like an old session's transcript.
    let victim = world.root.path().join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    let planted = world.state.join("output/0000000000000000--planted.log");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    age(&planted, 40);

    let dry = world.run(&["prune", "--dry-run", "--json"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    let listed = pruned_paths(&dry.json());
    let mut want: Vec<String> = old.iter().map(|p| p.display().to_string()).collect();
    want.sort();
    let mut got = listed.clone();
    got.sort();
    assert_eq!(got, want, "exactly the old session's files");
    assert!(old.iter().all(|p| p.exists()), "a dry run removes nothing");

    let real = world.run(&["prune", "--json"]);
    assert_eq!(real.code, 0, "{real:?}");
    let out = real.json();
    assert_eq!(out["dry_run"], false);
    let mut removed = pruned_paths(&out);
    removed.sort();
    assert_eq!(removed, want);
    assert!(out["bytes"].as_u64().unwrap() > 0, "{out}");
    assert!(old.iter().all(|p| !p.exists()), "{old:?}");
    assert!(
        live.iter().all(|p| p.exists()),
        "the live session keeps its files"
    );
    assert!(
        !world.files_of("output", "recent").is_empty(),
        "recent sessions stay"
    );
    assert!(
        std::fs::symlink_metadata(&planted).is_ok(),
        "symlinks are left alone"
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(world.status("live")["agent_state"], "prompt");

    let human = world.run(&["prune"]);
    assert_eq!(human.code, 0, "{human:?}");
    assert!(human.stdout.contains("pruned 0 file(s)"), "{human:?}");
}

#[test]
fn prune_refuses_bad_ages() {
    let world = World::new();
    for bad in [
        "soon",
        "-5",
        "1e400",
        "NaN",
        "99999999999999999999d",
        "200years",
    ] {
        let run = world.run(&["prune", "--older-than", bad]);
        assert_eq!(run.code, 2, "{bad}: {run:?}");
    }
}
