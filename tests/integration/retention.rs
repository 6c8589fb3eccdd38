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
