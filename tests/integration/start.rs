//! How a detached start hears from its supervisor: one report on an inherited pipe, read with
//! the start's deadline, so the parent returns as soon as there is news.

use std::time::{Duration, Instant};

use crate::support::{DEADLINE, World, fake_agent_bin, wait_until};

#[test]
fn a_boot_failure_comes_back_at_once_not_at_the_deadline() {
    let world = World::new();
    let agent = fake_agent_bin();
    let started = Instant::now();
    let run = world.run(&[
        "run",
        "--detach",
        agent.to_str().unwrap(),
        "--id",
        "dies-fast",
        "--timeout",
        "60",
        "--",
        "--exit-at-start",
        "3",
    ]);
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("exited with code 3 during start-up"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("fatal: fake agent failed to start (code 3)"),
        "{run:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "the report waited for something: {took:?}"
    );
}

#[test]
fn a_supervisor_that_dies_unannounced_ends_the_wait_at_once() {
    let world = World::new();
    let agent = fake_agent_bin();
    let background = world.spawn(&[
        "run",
        "--detach",
        agent.to_str().unwrap(),
        "--id",
        "killed",
        "--timeout",
        "60",
        "--",
        "--boot-ms",
        "60000",
    ]);
    let supervisor = wait_until("the supervisor to register", DEADLINE, || {
        let path = world.registry_files().into_iter().next()?;
        let entry: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        entry["supervisor_pid"].as_i64()
    });
    let killed_at = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(supervisor).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Well inside the 60 s the start would otherwise wait for its agent.
    let run = background.finish(Duration::from_secs(10));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("the detached supervisor exited before the session started"),
        "{run:?}"
    );
    assert!(
        killed_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        killed_at.elapsed()
    );
}

#[test]
fn a_started_session_leaves_no_plan_behind() {
    let world = World::new();
    let started = world.detach_bash("planned");
    assert_eq!(started["agent_state"], "prompt", "{started}");
    let plans = crate::support::files_in(&world.state.join("run"));
    assert!(plans.is_empty(), "the plan is deleted once read: {plans:?}");
}

#[test]
fn the_supervise_entry_point_refuses_what_run_did_not_hand_it() {
    let world = World::new();
    let missing = world.run(&["supervise", "--plan", "/nonexistent/plan.json"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing.stderr.contains("cannot read the run plan"),
        "{missing:?}"
    );
    let plan = world.root.path().join("plan.json");
    std::fs::write(&plan, "{}").unwrap();
    let not_a_pipe = world.run(&[
        "supervise",
        "--plan",
        plan.to_str().unwrap(),
        "--report-fd",
        "0",
    ]);
    assert_eq!(not_a_pipe.code, 2, "{not_a_pipe:?}");
    assert!(
        not_a_pipe.stderr.contains("is not a pipe"),
        "{not_a_pipe:?}"
    );
}
