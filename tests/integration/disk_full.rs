//! A full disk under a live session: the state dir on a 1 MB tmpfs, filled up. The session keeps
//! working (the agent runs what it is sent, the screen follows), status counts what could not be
//! written, and once space is freed the late event rows go out whole and in order.
//!
//! Needs `mount -t tmpfs` (root, or a user namespace that allows it) and fails without it, rather
//! than passing untested.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{DEADLINE, World, wait_until};

/// A tmpfs mounted for one test, unmounted (lazily, so open files do not stop it) on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).ok()?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .ok()?;
        out.status.success().then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Write zeros to `path` until the disk refuses.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    while file.write_all(&block).is_ok() {}
    // Whatever a short write left: a byte at a time until nothing fits.
    while file.write_all(&[0]).is_ok() {}
}

#[test]
fn a_full_disk_degrades_telemetry_and_the_session_recovers_when_space_returns() {
    let world = World::new();
    let _tmpfs = Tmpfs::mount(&world.state, "1m")
        .expect("these tests mount a 1 MB tmpfs: run them as root (or skip them with `-E 'not test(/disk_full/)'`)");
    world.detach_bash("full");
    let filler = world.state.join("filler");
    fill(&filler);

    // bash runs what it is sent, and harnex sees it on the screen, though nothing more can be
    // written (tmpfs still takes writes into a file's last page: send until that is full too).
    let mut n = 0;
    let status = wait_until("writes to fail", DEADLINE, || {
        n += 1;
        let message = format!("seq 1 2000 | tail -1; echo done-{n}-$((40+2))");
        let sent = world.run(&["send", "--id", "full", "--message", &message]);
        assert_eq!(sent.code, 0, "{sent:?}");
        assert_eq!(sent.json()["status"], "delivered", "{sent:?}");
        assert_eq!(sent.json()["submitted"], true, "{sent:?}");
        world.wait_screen("full", &format!("done-{n}-42"));
        let status = world.status("full");
        (status["pending_events"].as_u64()? > 0
            && status["transcript_write_lost_bytes"].as_u64()? > 0)
            .then_some(status)
    });
    assert!(status["write_errors"].as_u64().unwrap() > 0, "{status}");
    let listed = world.run(&["status", "--json"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(listed.json()[0]["write_errors"].as_u64().unwrap() > 0);
    // The registry entry could not be rewritten: it is marked stale, so `status` asked the
    // session (whose answer has the errors), not the entry as it was before the disk filled.
    let mark = world.files_of("sessions", "full")[0].with_extension("stale");
    assert!(mark.exists(), "{}", mark.display());

    // Space returns: the next rows go out, the late ones first, all whole.
    std::fs::remove_file(&filler).unwrap();
    let sent = world.run(&["send", "--id", "full", "--message", "echo two-$((40+3))"]);
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(sent.json()["status"], "delivered", "{sent:?}");
    assert_eq!(sent.json()["submitted"], true, "{sent:?}");
    world.wait_screen("full", "two-43");
    let sends = n + 1;
    wait_until("the late rows to be written", DEADLINE, || {
        (world.status("full")["pending_events"] == 0).then_some(())
    });
    wait_until("the entry to be current again", DEADLINE, || {
        (!mark.exists()).then_some(())
    });
    let listed = world.run(&["status", "--json"]);
    assert_eq!(listed.json()[0]["injected_count"], sends, "{listed:?}");
    let status = world.status("full");
    assert_eq!(status["dropped_events"], 0, "{status}");
    let text = std::fs::read_to_string(world.files_of("events", "full").pop().unwrap()).unwrap();
    assert!(text.ends_with('\n'));
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("half a row ({e}): {l:?}")))
        .collect();
    let seqs: Vec<u64> = rows.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=rows.len() as u64).collect::<Vec<_>>());
    assert_eq!(rows.iter().filter(|r| r["type"] == "send").count(), sends);

    let stopped = world.run(&["stop", "--id", "full", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
}

#[test]
fn a_session_that_ends_on_a_full_disk_writes_its_record_once_space_returns() {
    let world = World::new();
    let _tmpfs = Tmpfs::mount(&world.state, "1m")
        .expect("these tests mount a 1 MB tmpfs: run them as root (or skip them with `-E 'not test(/disk_full/)'`)");
    world.detach_bash("end");
    let agent = world.entry("end")["pid"].as_u64().unwrap();
    let filler = world.state.join("filler");
    fill(&filler);
    let stopped = world.run(&["stop", "--id", "end"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    wait_until("the agent to exit", DEADLINE, || {
        (!crate::support::process_alive(agent)).then_some(())
    });
    // The supervisor now fails to write the exit record, and keeps trying for a while. Part of
    // the test: for this half second nothing may appear.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        world.files_of("exits", "end").is_empty(),
        "the disk is full"
    );
    std::fs::remove_file(&filler).unwrap();

    let waited = world.run(&["wait", "--id", "end"]);
    assert_eq!(waited.code, 0, "{waited:?}");
    assert_eq!(waited.json()["reason"], "success", "{waited:?}");
    let rows = world.events_of("end");
    assert_eq!(rows.last().unwrap()["type"], "exited", "{rows:?}");
    let seqs: Vec<u64> = rows.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=rows.len() as u64).collect::<Vec<_>>());
}
