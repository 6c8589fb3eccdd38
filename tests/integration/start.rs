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
