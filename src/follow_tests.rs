//! Tests of [`crate::follow`]: real files, real inotify, deadlines instead of sleeps.

use super::*;
use std::io::Write;
use std::time::Instant;

fn append(path: &Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    file.write_all(bytes).unwrap();
}

fn bytes(tail: &mut Tail) -> Vec<u8> {
    match tail.read_appended().unwrap() {
        Appended::Bytes(bytes) => bytes,
        Appended::Truncated => panic!("truncated"),
    }
}

#[test]
fn the_cursor_reads_only_what_was_appended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, "ab").unwrap();
    let mut tail = Tail::open(&path).unwrap();
    assert_eq!(bytes(&mut tail), b"ab");
    assert_eq!(bytes(&mut tail), b"");
    append(&path, b"cd");
    assert_eq!(bytes(&mut tail), b"cd");
    assert_eq!(tail.offset(), 4);
}

#[test]
fn truncation_is_reported_and_can_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, "abcdef").unwrap();
    let mut tail = Tail::open(&path).unwrap();
    bytes(&mut tail);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(2)
        .unwrap();
    assert_eq!(tail.read_appended().unwrap(), Appended::Truncated);
    tail.skip_to_end().unwrap();
    append(&path, b"g");
    assert_eq!(bytes(&mut tail), b"g");
}

#[test]
fn a_file_renamed_into_place_is_followed_after_the_old_one_is_drained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, "old").unwrap();
    let mut tail = Tail::open(&path).unwrap();
    bytes(&mut tail);
    append(&path, b"-last");
    let fresh = dir.path().join("f.new");
    std::fs::write(&fresh, "new").unwrap();
    std::fs::rename(&fresh, &path).unwrap();
    assert_eq!(bytes(&mut tail), b"-lastnew");
    append(&path, b"er");
    assert_eq!(bytes(&mut tail), b"er");
}

/// Take the notifications a change left behind (a write is a modify and a close).
fn settle(watch: &mut FileWatch) {
    while watch.wait(Some(Duration::from_millis(50))) != Wake::TimedOut {}
}

/// Wait for a change made by `change` on another thread; how long it took.
fn woken_by(watch: &mut FileWatch, change: impl FnOnce() + Send + 'static) -> Duration {
    settle(watch);
    let started = Instant::now();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        change();
    });
    let wake = watch.wait(Some(Duration::from_secs(10)));
    writer.join().unwrap();
    assert_eq!(wake, Wake::Changed);
    started.elapsed()
}

#[test]
fn a_watch_wakes_for_appends_creation_and_replacement_of_its_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let mut watch = FileWatch::new(&path).unwrap();
    let p = path.clone();
    assert!(
        woken_by(&mut watch, move || std::fs::write(&p, "x").unwrap()) < Duration::from_secs(5)
    );
    let p = path.clone();
    woken_by(&mut watch, move || append(&p, b"y"));
    let (p, fresh) = (path.clone(), dir.path().join("g"));
    woken_by(&mut watch, move || {
        std::fs::write(&fresh, "z").unwrap();
        std::fs::rename(&fresh, &p).unwrap();
    });
    // The replacement is watched in turn.
    let p = path.clone();
    woken_by(&mut watch, move || append(&p, b"w"));
    // Another file in the same directory does not wake it, nor does the file's removal.
    settle(&mut watch);
    std::fs::write(dir.path().join("other"), "o").unwrap();
    assert_eq!(watch.wait(Some(Duration::from_millis(200))), Wake::TimedOut);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(watch.wait(Some(Duration::from_millis(200))), Wake::TimedOut);
    // A new file under the name is followed again.
    let p = path.clone();
    woken_by(&mut watch, move || std::fs::write(&p, "again").unwrap());
    let p = path.clone();
    woken_by(&mut watch, move || append(&p, b"!"));
}

#[test]
fn a_watch_wakes_when_its_owner_exits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, "").unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("0.2")
        .spawn()
        .unwrap();
    let mut watch = FileWatch::new(&path).unwrap().until_exit_of(child.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    let wake = loop {
        match watch.wait(Some(Duration::from_secs(10))) {
            Wake::TimedOut if Instant::now() < deadline => continue,
            wake => break wake,
        }
    };
    child.wait().unwrap();
    assert!(
        matches!(wake, Wake::OwnerExited | Wake::Changed),
        "{wake:?}"
    );
}

#[test]
fn polling_for_lack_of_inotify_instances_says_which_limit_to_raise() {
    let used_up = std::io::Error::from_raw_os_error(libc::EMFILE);
    let text = polling_message("/s/x.jsonl", Duration::from_millis(50), &used_up, "128");
    assert!(text.contains("looking every 50 ms"), "{text}");
    assert!(
        text.contains("fs.inotify.max_user_instances = 128"),
        "{text}"
    );
    assert!(
        text.contains("sysctl fs.inotify.max_user_instances="),
        "{text}"
    );
    let other = std::io::Error::from_raw_os_error(libc::ENOSPC);
    let text = polling_message("/s/x.jsonl", Duration::from_millis(50), &other, "128");
    assert!(!text.contains("max_user_instances"), "{text}");
    assert!(text.contains("inotify failed"), "{text}");
}
