//! Stopping: a stop under way can be escalated, the ladder reaches its signals when the agent does
//! not read its input, and no process of a session outlives it (background jobs, `setsid`
//! grandchildren, children of a supervisor killed with SIGKILL).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{DEADLINE, World, process_alive, wait_until};

/// Exit codes of an agent ended by SIGHUP or SIGTERM (they are sent together).
const TERMINATED: [i32; 2] = [129, 143];

/// Pids of processes whose command line is exactly `argv`.
fn pids_running(argv: &[&str]) -> Vec<u64> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .filter(|pid| process_alive(*pid))
        .collect()
}

/// A `sleep` only this test starts (its argument is unique), killed when the test ends even if it
/// fails.
struct UniqueSleep {
    seconds: String,
}

impl UniqueSleep {
    fn new(base: u32) -> UniqueSleep {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        UniqueSleep {
            seconds: format!("{base}.{}{n:03}", std::process::id()),
        }
    }

    fn pids(&self) -> Vec<u64> {
        pids_running(&["sleep", &self.seconds])
    }

    fn wait_running(&self) -> u64 {
        wait_until("the sleep to start", DEADLINE, || {
            self.pids().first().copied()
        })
    }

    fn wait_ended(&self, what: &str) {
        wait_until(what, Duration::from_secs(10), || {
            self.pids().is_empty().then_some(())
        });
    }
}

impl Drop for UniqueSleep {
    fn drop(&mut self) {
        for pid in self.pids() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}

fn send(world: &World, id: &str, message: &str) {
    let run = world.run(&["send", "--id", id, "--message", message, "--wait-for-idle"]);
    assert_eq!(run.code, 0, "{run:?}");
}

fn supervisor_pid(world: &World, id: &str) -> i32 {
    world.entry(id)["supervisor_pid"]
        .as_i64()
        .expect("supervisor_pid") as i32
}

fn busy_fake(world: &World, id: &str) {
    world.start_fake(id, &[], &[]);
    let run = world.run(&["send", "--id", id, "--message", "hang"]);
    assert_eq!(run.code, 0, "{run:?}");
    world.wait_state(id, "busy");
}

#[test]
fn a_forced_stop_escalates_a_stop_with_a_long_grace() {
    let world = World::new();
    busy_fake(&world, "esc");
    let first = world.run(&["stop", "--id", "esc", "--grace", "1h"]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(first.json()["signal"], "exit_sequence_sent");
    let again = world.run(&["stop", "--id", "esc", "--grace", "2h"]);
    assert_eq!(again.json()["signal"], "already_requested", "{again:?}");

    let started = Instant::now();
    let forced = world.run(&[
        "stop",
        "--id",
        "esc",
        "--force",
        "--wait",
        "--timeout",
        "15s",
    ]);
    assert_eq!(
        forced.code, 0,
        "the forced stop must not wait out the hour: {forced:?}"
    );
    let out = forced.json();
    assert_eq!(out["signal"], "terminate_sent", "{out}");
    let code = out["exit"]["exit_code"].as_i64().unwrap() as i32;
    assert!(TERMINATED.contains(&code), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_shorter_grace_moves_a_stop_under_way_forward() {
    let world = World::new();
    busy_fake(&world, "shorter");
    let first = world.run(&["stop", "--id", "shorter", "--grace", "1h"]);
    assert_eq!(first.json()["signal"], "exit_sequence_sent", "{first:?}");
    let shorter = world.run(&["stop", "--id", "shorter", "--grace", "1s"]);
    assert_eq!(shorter.code, 0, "{shorter:?}");
    assert_eq!(shorter.json()["signal"], "grace_shortened");
    let waited = world.run(&["wait", "--id", "shorter", "--timeout", "15"]);
    assert!(
        TERMINATED.contains(&waited.code),
        "signalled after 1 s: {waited:?}"
    );
}

#[test]
fn a_signal_to_the_supervisor_escalates_a_stop_under_way() {
    let world = World::new();
    busy_fake(&world, "sig");
    let first = world.run(&["stop", "--id", "sig", "--grace", "1h"]);
    assert_eq!(first.json()["signal"], "exit_sequence_sent", "{first:?}");
    kill(
        Pid::from_raw(supervisor_pid(&world, "sig")),
        Signal::SIGTERM,
    )
    .unwrap();
    let waited = world.run(&["wait", "--id", "sig", "--timeout", "15"]);
    assert!(TERMINATED.contains(&waited.code), "{waited:?}");
    assert_eq!(world.exit_record("sig")["reason_detail"], "stopped");
}

#[test]
fn a_grace_beyond_a_day_is_a_usage_error() {
    let world = World::new();
    world.start_fake("long", &[], &[]);
    let run = world.run(&["stop", "--id", "long", "--grace", "25h"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("at most 24h"), "{run:?}");
    // Nothing was requested: a normal stop still starts the ladder.
    let stop = world.run(&["stop", "--id", "long", "--wait"]);
    assert_eq!(stop.json()["signal"], "exit_sequence_sent", "{stop:?}");
}

#[test]
fn the_ladder_reaches_its_signals_when_the_agent_does_not_read_its_input() {
    let world = World::new();
    world.start_fake("deaf", &[], &[]);
    let run = world.run(&["send", "--id", "deaf", "--message", "deaf"]);
    assert_eq!(run.code, 0, "{run:?}");
    world.wait_screen("deaf", "deaf");
    // Far more than the terminal buffers: the PTY writer blocks on it for good.
    let flood = "x".repeat(512 * 1024);
    let send = world.run_stdin(
        &["send", "--id", "deaf", "--force", "--timeout", "2s"],
        &flood,
    );
    assert_ne!(send.code, 0, "a deaf agent cannot take it: {send:?}");

    let stop = world.run(&[
        "stop",
        "--id",
        "deaf",
        "--grace",
        "1s",
        "--wait",
        "--timeout",
        "15s",
    ]);
    assert_eq!(
        stop.code, 0,
        "the exit keys must not hold the ladder: {stop:?}"
    );
    let code = stop.json()["exit"]["exit_code"].as_i64().unwrap() as i32;
    assert!(TERMINATED.contains(&code), "{stop:?}");
}

#[test]
fn a_background_job_of_the_agent_ends_with_the_stop() {
    let world = World::new();
    world.detach_bash("jobs");
    let sleep = UniqueSleep::new(311);
    send(&world, "jobs", &format!("sleep {} &", sleep.seconds));
    sleep.wait_running();
    let stop = world.run(&["stop", "--id", "jobs", "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    assert_eq!(
        stop.json()["exit"]["exit_code"],
        0,
        "bash exits on C-d: {stop:?}"
    );
    sleep.wait_ended("the background sleep to end with the session");
}

#[test]
fn a_setsid_grandchild_ends_with_the_session() {
    let world = World::new();
    world.detach_bash("escapee");
    let sleep = UniqueSleep::new(312);
    send(
        &world,
        "escapee",
        &format!(
            "setsid sh -c 'trap \"\" HUP TERM; exec sleep {}' &",
            sleep.seconds
        ),
    );
    sleep.wait_running();
    let stop = world.run(&["stop", "--id", "escapee", "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    sleep.wait_ended("the setsid grandchild to end with the session");
}

#[test]
fn the_first_reader_of_a_crashed_run_ends_what_it_left_running() {
    let world = World::new();
    world.detach_bash("crashwait");
    let sleep = UniqueSleep::new(317);
    send(
        &world,
        "crashwait",
        &format!(
            "setsid sh -c 'trap \"\" HUP; exec sleep {}' &",
            sleep.seconds
        ),
    );
    let escaped = sleep.wait_running();
    kill(
        Pid::from_raw(supervisor_pid(&world, "crashwait")),
        Signal::SIGKILL,
    )
    .unwrap();
    // `wait` finds the dead supervisor: it records the crash and ends the leftovers with it.
    let wait = world.run(&["wait", "--id", "crashwait"]);
    assert_eq!(wait.code, 1, "{wait:?}");
    let record = wait.json();
    assert_eq!(record["reason"], "crashed", "{record}");
    let swept: Vec<u64> = record["swept_pids"]
        .as_array()
        .expect("swept_pids")
        .iter()
        .filter_map(|p| p.as_u64())
        .collect();
    assert!(swept.contains(&escaped), "{record}");
    sleep.wait_ended("the crash record's sweep to end the escaped child");
}

#[test]
fn a_killed_supervisor_takes_its_agent_along_and_stop_sweeps_the_rest() {
    let world = World::new();
    world.detach_bash("crash");
    let sleep = UniqueSleep::new(313);
    send(
        &world,
        "crash",
        &format!(
            "setsid sh -c 'trap \"\" HUP; exec sleep {}' &",
            sleep.seconds
        ),
    );
    let escaped = sleep.wait_running();
    let entry = world.entry("crash");
    let agent = entry["pid"].as_u64().unwrap();
    let session_id = entry["session_id"].as_str().unwrap().to_string();

    kill(
        Pid::from_raw(supervisor_pid(&world, "crash")),
        Signal::SIGKILL,
    )
    .unwrap();
    wait_until("the agent to die with its supervisor", DEADLINE, || {
        (!process_alive(agent)).then_some(())
    });
    assert!(
        process_alive(escaped),
        "ignores SIGHUP, so only a sweep can end it"
    );

    let stop = world.run(&["stop", "--id", "crash"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    let out = stop.json();
    assert_eq!(out["status"], "supervisor_gone", "{out}");
    assert_eq!(out["session_id"], session_id.as_str());
    let swept: Vec<u64> = out["swept_pids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_u64())
        .collect();
    assert!(swept.contains(&escaped), "{out}");
    sleep.wait_ended("the sweep to end the escaped child");
    let again = world.run(&["stop", "--id", "crash"]);
    assert_eq!(again.code, 1, "nothing left: {again:?}");
}

#[test]
fn a_second_signal_to_the_supervisor_kills_an_agent_that_ignores_sigterm() {
    let world = World::new();
    world.detach_bash("deaf-to-term");
    // An interactive bash ignores SIGTERM; now SIGHUP too: only SIGKILL ends it.
    send(&world, "deaf-to-term", "trap '' HUP");
    let supervisor = Pid::from_raw(supervisor_pid(&world, "deaf-to-term"));
    let started = Instant::now();
    kill(supervisor, Signal::SIGTERM).unwrap();
    // Part of the test: two separate signals. Sent at once, the kernel merges a pending SIGTERM
    // with the next one into a single delivery.
    std::thread::sleep(Duration::from_millis(100));
    kill(supervisor, Signal::SIGTERM).unwrap();
    let waited = world.run(&["wait", "--id", "deaf-to-term", "--timeout", "15"]);
    assert_eq!(waited.code, 137, "killed: {waited:?}");
    // One signal alone would have given it 2 s after SIGTERM.
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1800),
        "the second signal did not kill at once: {took:?}"
    );
}

#[test]
fn a_detached_session_started_inside_a_session_outlives_it() {
    let world = World::new();
    world.detach_bash("outer");
    let harnex = crate::support::harnex_bin();
    send(
        &world,
        "outer",
        &format!(
            "{} run --detach bash --id inner -- --norc --noprofile",
            harnex.display()
        ),
    );
    wait_until("the inner session to register", DEADLINE, || {
        world.registry_files().len().eq(&2).then_some(())
    });
    let stop = world.run(&["stop", "--id", "outer", "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    assert_eq!(
        world.status("inner")["agent_state"],
        "prompt",
        "a session of its own"
    );
    let inner = world.run(&["stop", "--id", "inner", "--wait"]);
    assert_eq!(inner.code, 0, "{inner:?}");
}

/// Zombie children of `parent` whose command name is `comm`.
fn zombie_children(parent: u64, comm: &str) -> Vec<u64> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(close) = stat.rfind(')') else {
                return false;
            };
            let name = stat[..close].split_once('(').map_or("", |(_, n)| n);
            let mut fields = stat[close + 1..].split_whitespace();
            let (state, ppid) = (fields.next(), fields.next());
            name == comm && state == Some("Z") && ppid == Some(parent.to_string().as_str())
        })
        .collect()
}

#[test]
fn orphans_adopted_during_a_session_are_reaped_when_they_exit() {
    let world = World::new();
    world.detach_bash("daemons");
    let supervisor = supervisor_pid(&world, "daemons") as u64;
    // sh exits at once; its background sleep is orphaned, adopted by the supervisor, and exits.
    send(&world, "daemons", "sh -c 'sleep 0.3 &'");
    wait_until("the orphan to be adopted and exit", DEADLINE, || {
        (!zombie_children(supervisor, "sleep").is_empty()).then_some(())
    });
    wait_until("the supervisor to reap it", DEADLINE, || {
        zombie_children(supervisor, "sleep")
            .is_empty()
            .then_some(())
    });
    assert_eq!(world.status("daemons")["agent_state"], "prompt");
}

#[test]
fn an_absurd_grace_from_the_api_neither_breaks_nor_blocks_the_ladder() {
    let world = World::new();
    busy_fake(&world, "absurd");
    // Refused by the API or clamped by the ladder: either way a forced stop still works.
    let (_code, _body) = world.call(
        "absurd",
        "POST",
        "/stop",
        br#"{"grace_ms":18446744073709551615}"#,
    );
    let forced = world.run(&[
        "stop",
        "--id",
        "absurd",
        "--force",
        "--wait",
        "--timeout",
        "15s",
    ]);
    assert_eq!(forced.code, 0, "{forced:?}");
    let code = forced.json()["exit"]["exit_code"].as_i64().unwrap() as i32;
    assert!(TERMINATED.contains(&code), "{forced:?}");
}

#[test]
fn a_forced_stop_is_recorded_as_stopped_not_as_a_failure() {
    let world = World::new();
    world.detach_bash("forced");
    let stop = world.run(&["stop", "--id", "forced", "--force", "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    let record = &stop.json()["exit"];
    assert_eq!(record["reason"], "stopped", "{record}");
    assert!(record["exit_code"].as_i64().unwrap() > 128, "{record}");
}
