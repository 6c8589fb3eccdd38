//! Status snapshots (`status/<slug>.json`): each supervisor keeps its status there, `harnex status`
//! reads the files instead of calling every session, a session whose supervisor died is not
//! shown as alive, and prune removes snapshots nobody keeps current.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::{DEADLINE, World, process_alive, wait_until};

fn snapshot_of(world: &World, id: &str) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(world.state.join("status"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(&format!("--{id}.json")))
        .collect();
    assert_eq!(files.len(), 1, "one snapshot of {id}: {files:?}");
    files[0].clone()
}

/// Continues a stopped process when dropped, so a failing assertion leaves nothing frozen.
struct Stopped(u64);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0 as i32), Signal::SIGCONT);
    }
}

#[test]
fn status_reads_the_snapshot_without_asking_the_session() {
    let world = World::new();
    world.start_fake("snap", &[], &[]);
    let file = snapshot_of(&world, "snap");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", file.display());
    let entry = world.entry("snap");
    let token = entry["token"].as_str().expect("token");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(token), "the snapshot holds no token: {text}");

    // A message changes the status: the snapshot follows.
    let sent = world.run(&["send", "--id", "snap", "--message", "hello"]);
    assert_eq!(sent.code, 0, "{sent:?}");
    wait_until("the snapshot to count the message", DEADLINE, || {
        let status: Value = serde_json::from_slice(&std::fs::read(&file).ok()?).ok()?;
        (status["injected_count"] == 1).then_some(())
    });

    // A supervisor that cannot answer HTTP (stopped) is still listed with its state and turn
    // counters: nothing asked it.
    let supervisor = entry["supervisor_pid"].as_u64().expect("supervisor pid");
    kill(Pid::from_raw(supervisor as i32), Signal::SIGSTOP).expect("SIGSTOP");
    let frozen = Stopped(supervisor);
    let status = world.run(&["status", "--json"]);
    drop(frozen);
    assert_eq!(status.code, 0, "{status:?}");
    let row = &status.json()[0];
    assert_eq!(row["id"], "snap", "{row}");
    assert_ne!(row["agent_state"], "unreachable", "{row}");
    assert_eq!(row["injected_count"], 1, "{row}");
    assert_eq!(row["token"], token, "{row}");
    assert!(row["log_mtime"].is_string(), "{row}");
    assert!(row["log_idle_s"].is_u64(), "{row}");
    assert!(row["input_state"].is_object(), "{row}");
}

#[test]
fn a_killed_supervisor_is_not_shown_alive_and_its_snapshot_goes() {
    let world = World::new();
    world.start_fake("gone", &[], &[]);
    let file = snapshot_of(&world, "gone");
    let entry = world.entry("gone");
    let supervisor = entry["supervisor_pid"].as_u64().expect("supervisor pid");
    let agent = entry["pid"].as_u64().expect("agent pid");
    let _ = kill(Pid::from_raw(supervisor as i32), Signal::SIGKILL);
    wait_until("the supervisor to die", DEADLINE, || {
        (!process_alive(supervisor)).then_some(())
    });
    let _ = kill(Pid::from_raw(agent as i32), Signal::SIGKILL);
    assert!(file.exists(), "the dead supervisor left its snapshot");

    let status = world.run(&["status", "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    assert_eq!(status.json(), Value::Array(vec![]), "{status:?}");
    assert!(
        !file.exists(),
        "the scan that settled the crash removed the snapshot"
    );
    let one = world.run(&["status", "--id", "gone", "--json"]);
    assert_eq!(one.code, 1, "{one:?}");
}

#[test]
fn prune_removes_snapshots_of_sessions_that_are_not_live() {
    let world = World::new();
    world.start_fake("kept", &[], &[]);
    let live = snapshot_of(&world, "kept");
    let stale = world
        .state
        .join("status")
        .join("0123456789abcdef--old.json");
    std::fs::write(&stale, br#"{"session_id":"x"}"#).unwrap();
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pruned = world.run(&["prune", "--json"]);
    assert_eq!(pruned.code, 0, "{pruned:?}");
    assert!(!stale.exists(), "{pruned:?}");
    assert!(live.exists(), "a live session's snapshot stays: {pruned:?}");
}

#[test]
fn a_stopped_session_removes_its_snapshot() {
    let world = World::new();
    world.start_fake("bye", &[], &[]);
    let file = snapshot_of(&world, "bye");
    let stopped = world.run(&["stop", "--id", "bye", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    assert!(!file.exists());
}

/// `status` right after an answer shows at least what the answer said: the API writes the
/// snapshot before it answers (here `run --detach`, which reports ready through `/wait`, and
/// `send`).
#[test]
fn status_right_after_an_answer_is_not_behind_it() {
    let world = World::new();
    let codex = world.new_dir("bin").join("codex");
    std::os::unix::fs::symlink(crate::support::fake_agent_bin(), &codex).expect("symlink");
    for i in 0..5 {
        let id = format!("d{i}");
        let run = world.detach(&[
            codex.to_str().expect("utf-8"),
            "--id",
            &id,
            "--",
            "--dialog",
        ]);
        assert_eq!(run["agent_state"], "blocked", "{run}");
        let status = world.run(&["status", "--id", &id, "--json"]);
        assert_eq!(status.json()[0]["agent_state"], "blocked", "{status:?}");
    }
    world.start_fake("typed", &[], &[]);
    for n in 1..=5 {
        let sent = world.run(&["send", "--id", "typed", "--message", &format!("m{n}")]);
        assert_eq!(sent.code, 0, "{sent:?}");
        let status = world.run(&["status", "--id", "typed", "--json"]);
        assert_eq!(status.json()[0]["injected_count"], n, "{status:?}");
    }
}
