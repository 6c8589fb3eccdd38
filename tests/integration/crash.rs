//! Crash truth and damaged state: a killed supervisor gets its own crash record and `exited` row
//! (once, however many readers find it), a damaged registry entry is reported, never deleted, and
//! never lets a second supervisor of the same id start, and torn event rows are skipped whole.

use serde_json::Value;

use crate::support::{DEADLINE, World, process_alive, wait_until};

fn kill9(pid: u64) {
    use nix::sys::signal::{Signal, kill};
    let _ = kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
}

fn rows_of(rows: &[Value], session_id: &Value) -> Vec<Value> {
    rows.iter()
        .filter(|r| &r["session_id"] == session_id)
        .cloned()
        .collect()
}

#[test]
fn a_killed_supervisor_gets_its_own_crash_record_not_the_previous_runs() {
    let world = World::new();
    // Run 1 ends cleanly: its record says success.
    world.detach_fake("cr", &[]);
    let stopped = world.run(&["stop", "--id", "cr", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let first = world.exit_record("cr");
    assert_eq!(first["reason"], "success", "{first}");

    // Run 2 is killed with its supervisor.
    world.detach_fake("cr", &[]);
    let entry = world.entry("cr");
    let session_id = entry["session_id"].clone();
    assert_ne!(session_id, first["session_id"]);
    let supervisor = entry["supervisor_pid"].as_u64().unwrap();
    let agent = entry["pid"].as_u64().unwrap();
    kill9(supervisor);
    wait_until("the supervisor to die", DEADLINE, || {
        (!process_alive(supervisor)).then_some(())
    });
    // The agent loses its terminal; make sure it is gone whatever it does with the hangup.
    kill9(agent);

    // Several readers find the dead run at once: the crash is recorded once.
    let readers: Vec<_> = (0..4)
        .map(|i| {
            if i % 2 == 0 {
                world.spawn(&["status", "--json"])
            } else {
                world.spawn(&["events", "--id", "cr", "--snapshot"])
            }
        })
        .collect();
    for reader in readers {
        let done = reader.finish(DEADLINE);
        assert_eq!(done.code, 0, "{done:?}");
    }

    let waited = world.run(&["wait", "--id", "cr"]);
    assert_eq!(waited.code, 1, "a crashed run fails the wait: {waited:?}");
    let record = waited.json();
    assert_eq!(
        record["session_id"], session_id,
        "the crashed run's record: {record}"
    );
    assert_eq!(record["reason"], "crashed");
    assert_eq!(record["exit_code"], Value::Null);
    assert_eq!(record["supervisor_pid"], supervisor);
    assert_eq!(record["started_at"], entry["started_at"]);

    let rows = world.events_of("cr");
    let run2 = rows_of(&rows, &session_id);
    let exited: Vec<&Value> = run2.iter().filter(|r| r["type"] == "exited").collect();
    assert_eq!(
        exited.len(),
        1,
        "one exited row for the crashed run: {run2:?}"
    );
    assert_eq!(exited[0]["reason"], "crashed");
    assert_eq!(exited[0]["code"], Value::Null);
    let seqs: Vec<u64> = run2.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=run2.len() as u64).collect::<Vec<_>>(),
        "{run2:?}"
    );
    assert_eq!(run2.last().unwrap()["type"], "exited");

    let snapshot = world.run(&["events", "--id", "cr", "--snapshot"]);
    assert_eq!(snapshot.code, 0, "{snapshot:?}");
    let last: Value = serde_json::from_str(snapshot.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "exited");
    assert_eq!(last["reason"], "crashed");
    assert!(world.registry_files().is_empty(), "the dead entry is gone");
}

#[test]
fn a_wait_under_way_reports_the_crash_of_the_run_it_waits_for() {
    let world = World::new();
    world.detach_fake("cw", &[]);
    let entry = world.entry("cw");
    let waiter = world.spawn(&["wait", "--id", "cw"]);
    // The waiter is in its long-poll (before it, the lookup would find the dead run: the answer
    // must be the same either way, and this is the way less easy to get right).
    crate::support::wait_connected(waiter.pid(), entry["port"].as_u64().unwrap());
    kill9(entry["supervisor_pid"].as_u64().unwrap());
    kill9(entry["pid"].as_u64().unwrap());
    let waited = waiter.finish(DEADLINE);
    assert_eq!(waited.code, 1, "{waited:?}");
    assert_eq!(waited.json()["reason"], "crashed");
    assert_eq!(waited.json()["session_id"], entry["session_id"]);
}

#[test]
fn a_damaged_registry_entry_is_kept_and_a_second_run_is_refused() {
    let world = World::new();
    world.detach_fake("dup", &[]);
    let entry = world.entry("dup");
    let path = world.registry_files().pop().unwrap();
    std::fs::write(&path, b"{\"ok\":tr").unwrap();

    let second = world.run(&["run", "--detach", "bash", "--id", "dup"]);
    assert_eq!(second.code, 1, "{second:?}");
    assert!(second.stderr.contains("already active"), "{second:?}");
    let status = world.run(&["status", "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    assert!(path.exists(), "a reader never deletes a damaged entry");
    // Until the supervisor rewrites it, a lookup says what is wrong (not "no sessions").
    let lookup = world.run(&[
        "wait",
        "--id",
        "dup",
        "--until",
        "prompt",
        "--timeout",
        "1s",
    ]);
    assert!(
        lookup.code == 0 || lookup.stderr.contains("is damaged"),
        "{lookup:?}"
    );

    // The live supervisor notices and rewrites its entry.
    wait_until("the supervisor to rewrite its entry", DEADLINE, || {
        let bytes = std::fs::read(&path).ok()?;
        let now: Value = serde_json::from_slice(&bytes).ok()?;
        (now["session_id"] == entry["session_id"]).then_some(())
    });
    let status = world.status("dup");
    assert_eq!(status["session_id"], entry["session_id"]);
    let events = world.events_of("dup");
    assert!(
        events
            .iter()
            .all(|r| r["session_id"] == entry["session_id"]),
        "one run in the event log: {events:?}"
    );
    let stopped = world.run(&["stop", "--id", "dup", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
}

#[test]
fn status_reports_a_damaged_entry_with_its_path_and_leaves_it() {
    let world = World::new();
    world.detach_fake("live", &[]);
    let live = world.registry_files().pop().unwrap();
    let name = live.file_name().unwrap().to_str().unwrap();
    let ghost = live.with_file_name(name.replace("--live.json", "--ghost.json"));
    std::fs::write(&ghost, b"").unwrap();

    let status = world.run(&["status", "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    let rows = status.json();
    let damaged: Vec<&Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["agent_state"] == "corrupt")
        .collect();
    assert_eq!(damaged.len(), 1, "{rows}");
    assert_eq!(damaged[0]["id"], "ghost");
    assert_eq!(damaged[0]["registry_path"], ghost.to_str().unwrap());
    assert_eq!(damaged[0]["supervisor_alive"], false);
    assert!(status.stderr.contains("damaged"), "{status:?}");
    assert!(ghost.exists());
    let table = world.run(&["status"]);
    assert!(table.stdout.contains("corrupt"), "{table:?}");

    // The next run of that id takes the slot over.
    world.detach_fake("ghost", &[]);
    assert_eq!(world.entry("ghost")["id"], "ghost");
}

#[test]
fn a_supervisor_leaves_another_runs_entry_alone() {
    let world = World::new();
    world.detach_fake("own", &[]);
    let path = world.registry_files().pop().unwrap();
    let mut entry: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let supervisor = entry["supervisor_pid"].as_u64().unwrap();
    // Same port and token (so `stop` reaches the supervisor), another run's session_id.
    entry["session_id"] = Value::from("ffffffffffffffff");
    let foreign = serde_json::to_vec_pretty(&entry).unwrap();
    std::fs::write(&path, &foreign).unwrap();
    let stopped = world.run(&["stop", "--id", "own"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    wait_until("the supervisor to end", DEADLINE, || {
        (!process_alive(supervisor)).then_some(())
    });
    assert_eq!(
        std::fs::read(&path).unwrap(),
        foreign,
        "neither overwritten nor removed"
    );
}

#[test]
fn a_torn_events_row_is_skipped_and_the_next_row_is_read_whole() {
    let world = World::new();
    world.detach_fake("torn", &[]);
    let stopped = world.run(&["stop", "--id", "torn", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let file = world.files_of("events", "torn").pop().unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    // A row cut short by a full disk, and (as older writers left it) the next row glued on.
    bytes.extend_from_slice(b"{\"schema_version\":1,\"seq\":99,\"ty");
    bytes.extend_from_slice(b"{\"id\":\"torn\",\"seq\":100,\"type\":\"note\"}\n");
    bytes.extend_from_slice(b"{\"id\":\"torn\",\"seq\":101,\"type\":\"no\xfftt\"}\n");
    std::fs::write(&file, &bytes).unwrap();

    let snapshot = world.run(&["events", "--id", "torn", "--snapshot"]);
    assert_eq!(snapshot.code, 0, "{snapshot:?}");
    let rows: Vec<Value> = snapshot
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert_eq!(rows.last().unwrap()["seq"], 100, "{rows:?}");
    assert!(rows.iter().all(|r| r["seq"] != 99 && r["seq"] != 101));
    assert_eq!(
        snapshot.stderr.matches("skipped a torn row").count(),
        2,
        "{snapshot:?}"
    );
}
