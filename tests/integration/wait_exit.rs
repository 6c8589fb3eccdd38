//! `harnex wait --id X` right after the session ended: its supervisor may still hold the session
//! lock for a moment (it answers the last API calls after removing its registry entry), and the
//! exit record of its last run already answers the wait.

use std::time::Duration;

use crate::support::World;

#[test]
fn an_exit_wait_answers_from_the_record_while_the_supervisor_is_still_finishing() {
    let world = World::new();
    let started = world.detach_bash("w1");
    let stopped = world.run(&["stop", "--id", "w1", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    world.wait_gone("w1");
    // Stand in for the supervisor in its last moments: entry removed, lock still held.
    let lock = world.state.join("sessions").join(format!(
        "{}--w1.lock",
        started["output_log_path"]
            .as_str()
            .and_then(|p| p.rsplit('/').next())
            .and_then(|name| name.split("--").next())
            .expect("the slug's repo key")
    ));
    let _held = harnex::session_lock::SessionLock::acquire(&lock, Duration::ZERO)
        .expect("lock file")
        .expect("nobody else holds it");
    let waited = world.run(&["wait", "--id", "w1"]);
    assert_eq!(waited.code, 0, "{waited:?}");
    let record = waited.json();
    assert_eq!(record["id"], "w1", "{record}");
    assert_eq!(record["reason_detail"], "stopped", "{record}");
}

#[test]
fn stop_wait_returns_once_the_supervisor_is_gone() {
    let world = World::new();
    world.detach_bash("w2");
    let supervisor = world.entry("w2")["supervisor_pid"]
        .as_u64()
        .expect("supervisor_pid");
    let stopped = world.run(&["stop", "--id", "w2", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    // Not even a zombie: `stop --wait` returned after the supervisor ended, so the id is free.
    let stat = std::fs::read_to_string(format!("/proc/{supervisor}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().next());
    assert!(
        state.is_none_or(|s| s == "Z"),
        "the supervisor {supervisor} is still running after stop --wait: {stat}"
    );
    let again = world.run(&["run", "--detach", "bash", "--id", "w2", "--", "--norc"]);
    assert_eq!(again.code, 0, "the id is free at once: {again:?}");
    world.run(&["stop", "--id", "w2", "--wait"]);
}
