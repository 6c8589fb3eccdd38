//! The registry entry as a live session's status: each supervisor keeps its whole status in its
//! entry (`sessions/<slug>.json`), `harnex status` reads the files instead of calling every
//! session, a session whose supervisor died is not shown as alive, and an entry marked stale (its
//! supervisor could not write it) is not taken for current.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::{DEADLINE, World, process_alive, wait_until};

fn entry_file(world: &World, id: &str) -> PathBuf {
    let files = world.files_of("sessions", id);
    let entries: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(entries.len(), 1, "one registry entry of {id}: {files:?}");
    entries[0].clone()
}

/// Continues a stopped process when dropped, so a failing assertion leaves nothing frozen.
struct Stopped(u64);

impl Stopped {
    fn supervisor_of(world: &World, id: &str) -> Stopped {
        let supervisor = world.entry(id)["supervisor_pid"]
            .as_u64()
            .expect("supervisor pid");
        kill(Pid::from_raw(supervisor as i32), Signal::SIGSTOP).expect("SIGSTOP");
        Stopped(supervisor)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0 as i32), Signal::SIGCONT);
    }
}

#[test]
fn status_reads_the_entry_without_asking_the_session() {
    let world = World::new();
    world.start_fake("snap", &[], &[]);
    let file = entry_file(&world, "snap");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", file.display());

    // A message changes the status: the entry follows.
    let sent = world.run(&["send", "--id", "snap", "--message", "hello"]);
    assert_eq!(sent.code, 0, "{sent:?}");
    wait_until("the entry to count the message", DEADLINE, || {
        let status: Value = serde_json::from_slice(&std::fs::read(&file).ok()?).ok()?;
        (status["injected_count"] == 1).then_some(())
    });
    // It holds every field `GET /status` answers with.
    let answer = world.status("snap");
    let entry: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    for key in answer.as_object().unwrap().keys() {
        assert!(entry.get(key).is_some(), "the entry lacks {key}: {entry}");
    }

    // A supervisor that cannot answer HTTP (stopped) is still listed with its state and turn
    // counters: nothing asked it.
    let frozen = Stopped::supervisor_of(&world, "snap");
    let status = world.run(&["status", "--json"]);
    drop(frozen);
    assert_eq!(status.code, 0, "{status:?}");
    let row = &status.json()[0];
    assert_eq!(row["id"], "snap", "{row}");
    assert_ne!(row["agent_state"], "unreachable", "{row}");
    assert_eq!(row["injected_count"], 1, "{row}");
    assert_eq!(row["token"], entry["token"], "{row}");
    assert!(row["log_mtime"].is_string(), "{row}");
    assert!(row["log_idle_s"].is_u64(), "{row}");
    assert!(row["input_state"].is_object(), "{row}");
    assert!(row.get("supervisor_started").is_none(), "{row}");
}

#[test]
fn an_entry_marked_stale_is_not_taken_for_current() {
    let world = World::new();
    world.start_fake("old", &[], &[]);
    let file = entry_file(&world, "old");
    // What its supervisor leaves when it cannot rewrite the entry (a full disk).
    let mark = file.with_extension("stale");
    std::fs::write(&mark, b"").unwrap();
    // Asked instead of read: a stopped supervisor does not answer, so it is unreachable.
    let frozen = Stopped::supervisor_of(&world, "old");
    let status = world.run(&["status", "--json"]);
    drop(frozen);
    assert_eq!(status.code, 0, "{status:?}");
    assert_eq!(status.json()[0]["agent_state"], "unreachable", "{status:?}");
    // Answering, it is asked over HTTP.
    let status = world.run(&["status", "--json"]);
    assert_eq!(status.json()[0]["agent_state"], "prompt", "{status:?}");
    // Without the mark the entry is read again: nothing asks the stopped supervisor.
    std::fs::remove_file(&mark).unwrap();
    let frozen = Stopped::supervisor_of(&world, "old");
    let status = world.run(&["status", "--json"]);
    drop(frozen);
    assert_eq!(status.json()[0]["agent_state"], "prompt", "{status:?}");
}

#[test]
fn a_killed_supervisor_is_not_shown_alive_and_its_entry_goes() {
    let world = World::new();
    world.start_fake("gone", &[], &[]);
    let file = entry_file(&world, "gone");
    let mark = file.with_extension("stale");
    std::fs::write(&mark, b"").unwrap();
    let entry = world.entry("gone");
    let supervisor = entry["supervisor_pid"].as_u64().expect("supervisor pid");
    let agent = entry["pid"].as_u64().expect("agent pid");
    let _ = kill(Pid::from_raw(supervisor as i32), Signal::SIGKILL);
    wait_until("the supervisor to die", DEADLINE, || {
        (!process_alive(supervisor)).then_some(())
    });
    let _ = kill(Pid::from_raw(agent as i32), Signal::SIGKILL);
    assert!(file.exists(), "the dead supervisor left its entry");

    let status = world.run(&["status", "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    assert_eq!(status.json(), Value::Array(vec![]), "{status:?}");
    assert!(
        !file.exists(),
        "the scan that settled the crash removed the entry"
    );
    assert!(!mark.exists(), "and its stale mark");
    let one = world.run(&["status", "--id", "gone", "--json"]);
    assert_eq!(one.code, 1, "{one:?}");
}

#[test]
fn prune_removes_marks_and_old_snapshots_of_sessions_that_are_not_live() {
    let world = World::new();
    world.start_fake("kept", &[], &[]);
    let live_mark = entry_file(&world, "kept").with_extension("stale");
    std::fs::write(&live_mark, b"").unwrap();
    // A status snapshot of an older harnex (which kept the status in a file of its own).
    let status_dir = world.state.join("status");
    std::fs::create_dir_all(&status_dir).unwrap();
    std::fs::set_permissions(&status_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let snapshot = status_dir.join("0123456789abcdef--old.json");
    let dead_mark = world.state.join("sessions/0123456789abcdef--old.stale");
    for file in [&snapshot, &dead_mark] {
        std::fs::write(file, br#"{"session_id":"x"}"#).unwrap();
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let pruned = world.run(&["prune", "--json"]);
    assert_eq!(pruned.code, 0, "{pruned:?}");
    assert!(!snapshot.exists(), "{pruned:?}");
    assert!(!dead_mark.exists(), "{pruned:?}");
    assert!(
        live_mark.exists(),
        "a live session's mark stays: {pruned:?}"
    );
    std::fs::remove_file(&live_mark).unwrap();
}

#[test]
fn a_stopped_session_removes_its_entry_and_mark() {
    let world = World::new();
    world.start_fake("bye", &[], &[]);
    let file = entry_file(&world, "bye");
    let mark = file.with_extension("stale");
    std::fs::write(&mark, b"").unwrap();
    let stopped = world.run(&["stop", "--id", "bye", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    assert!(!file.exists());
    assert!(!mark.exists());
}

/// `status` right after an answer shows at least what the answer said: the API writes the
/// entry before it answers (here `run --detach`, which reports ready through `/wait`, and
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
