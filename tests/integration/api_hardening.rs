//! The session API under hostile or unlucky clients, with raw sockets: huge announced bodies,
//! silent and slow connections by the thousand, abandoned long-polls, ill-typed fields, random
//! request bytes. The session must stay up and a real `harnex send` / `harnex stop` must still
//! work promptly.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{World, http, process_alive, wait_until};

fn connect(port: u64) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port as u16)).expect("connect")
}

/// Write `request` on a fresh connection and read the answer until the server closes it (or
/// `within` passes): (status code, whole answer).
fn exchange(port: u64, request: &[u8], within: Duration) -> (u16, String) {
    let mut stream = connect(port);
    stream.set_read_timeout(Some(within)).expect("timeout");
    stream.write_all(request).expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

fn supervisor_pid(world: &World, id: &str) -> u64 {
    world.entry(id)["supervisor_pid"].as_u64().expect("pid")
}

/// `harnex send` and `harnex stop` must both work, each within `limit`; returns their times.
fn send_and_stop_work_within(world: &World, id: &str, limit: Duration) -> (Duration, Duration) {
    let started = Instant::now();
    let sent = world.run(&[
        "send",
        "--id",
        id,
        "--message",
        "still here",
        "--timeout",
        "10",
    ]);
    let send_took = started.elapsed();
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(sent.json()["status"], "delivered", "{sent:?}");
    // Back at its prompt, the agent takes the exit sequence at once.
    world.wait_state(id, "prompt");
    let started = Instant::now();
    let stopped = world.run(&["stop", "--id", id, "--timeout", "10"]);
    let stop_took = started.elapsed();
    assert_eq!(stopped.code, 0, "{stopped:?}");
    assert_eq!(stopped.json()["ok"], true, "{stopped:?}");
    world.wait_gone(id);
    assert!(
        send_took < limit,
        "send took {send_took:?} (limit {limit:?})"
    );
    assert!(
        stop_took < limit,
        "stop took {stop_took:?} (limit {limit:?})"
    );
    (send_took, stop_took)
}

#[test]
fn a_huge_announced_body_is_refused_without_reading_it() {
    let world = World::new();
    world.start_fake("huge", &[], &[]);
    let (port, token) = world.api("huge");
    let supervisor = supervisor_pid(&world, "huge");
    // No token: 401, and the connection is closed without the body being drained.
    let request = b"POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n";
    let started = Instant::now();
    let (code, answer) = exchange(port, request, Duration::from_secs(5));
    assert_eq!(code, 401, "{answer}");
    assert!(answer.contains("unauthorized"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the connection was closed at once, not held open for the body"
    );
    assert!(process_alive(supervisor), "the supervisor survived");
    // With the token: 413 before a body byte is read.
    let request = format!(
        "POST /send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 99999999999\r\n\r\n"
    );
    let (code, answer) = exchange(port, request.as_bytes(), Duration::from_secs(5));
    assert_eq!(code, 413, "{answer}");
    assert!(answer.contains("1 MiB"), "{answer}");
    // A chunked body that grows past the limit is cut off while it is read.
    let mut stream = connect(port);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let head = format!(
        "POST /send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("write");
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "a".repeat(64 * 1024));
    for _ in 0..17 {
        if stream.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(process_alive(supervisor), "the supervisor survived");
    assert_eq!(world.status("huge")["injected_count"], 0);
    send_and_stop_work_within(&world, "huge", Duration::from_secs(5));
}

#[test]
fn silent_slow_and_abandoned_connections_do_not_lock_out_send_and_stop() {
    let world = World::new();
    world.start_fake("siege", &[], &[]);
    let (port, token) = world.api("siege");
    let mut held = Vec::new();
    // 70 connections that announce a body and never send it: half without a token, half with.
    for i in 0..70 {
        let mut stream = connect(port);
        let auth = if i % 2 == 0 {
            format!("Authorization: Bearer {token}\r\n")
        } else {
            String::new()
        };
        let head = format!("POST /send HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 100\r\n\r\n");
        stream.write_all(head.as_bytes()).expect("write");
        held.push(stream);
    }
    // 70 long-polls that wait as long as the server allows, then are abandoned.
    let poll = format!(
        "GET /wait?until=exited HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    let mut polls = Vec::new();
    for _ in 0..70 {
        let mut stream = connect(port);
        stream.write_all(poll.as_bytes()).expect("write");
        polls.push(stream);
    }
    // Requests still get through while all of these are held.
    let started = Instant::now();
    let (code, body) = world.call("siege", "GET", "/status", b"");
    assert_eq!(code, 200, "{body}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // The clients of the long-polls go away: their slots come back, so a new long-poll is
    // answered (not 503) once the server noticed.
    drop(polls);
    wait_until(
        "the abandoned long-polls to end",
        Duration::from_secs(10),
        || {
            let (code, _) = http(
                "GET",
                port,
                "/wait?until=prompt&timeout_ms=100",
                Some(&token),
                b"",
            );
            (code == 200).then_some(())
        },
    );
    let (send_took, stop_took) = send_and_stop_work_within(&world, "siege", Duration::from_secs(3));
    println!("under 140 held connections: send {send_took:?}, stop {stop_took:?}");
    drop(held);
}

/// The soft RLIMIT_NOFILE raised to `want` (or the hard limit); returns the new soft limit.
fn raise_own_fd_limit(want: u64) -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    let target = want.min(hard);
    if soft < target {
        setrlimit(Resource::RLIMIT_NOFILE, target, hard).expect("setrlimit");
        return target;
    }
    soft
}

fn rss_kib(pid: u64) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn open_fds(pid: u64) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn ten_thousand_idle_and_a_thousand_slow_connections_leave_send_and_stop_within_a_second() {
    const IDLE: usize = 10_000;
    const SLOW: usize = 1_000;
    let limit = raise_own_fd_limit(IDLE as u64 + SLOW as u64 + 512);
    assert!(
        limit >= (IDLE + SLOW + 256) as u64,
        "the file-descriptor hard limit ({limit}) is too low for this test: raise it (ulimit -Hn) to at least {}",
        IDLE + SLOW + 256
    );
    let world = World::new();
    world.start_fake("flood", &[], &[]);
    let (port, token) = world.api("flood");
    let supervisor = supervisor_pid(&world, "flood");
    let rss_before = rss_kib(supervisor);
    let opened = Instant::now();
    let mut held = Vec::with_capacity(IDLE + SLOW);
    for _ in 0..IDLE {
        held.push(connect(port));
    }
    for i in 0..SLOW {
        let mut stream = connect(port);
        let head = if i % 2 == 0 {
            // Headers trickled: a start that never ends.
            "POST /send HTTP/1.1\r\nHost: x\r\nX-Slow: a".to_string()
        } else {
            // Authenticated, a body announced and never sent.
            format!(
                "POST /send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 500\r\n\r\n"
            )
        };
        stream.write_all(head.as_bytes()).expect("write");
        held.push(stream);
    }
    let open_took = opened.elapsed();
    // Let the server take in the backlog.
    wait_until(
        "the server to see the connections",
        Duration::from_secs(10),
        || (open_fds(supervisor) > 1000).then_some(()),
    );
    let rss = rss_kib(supervisor);
    let fds = open_fds(supervisor);
    assert!(process_alive(supervisor));
    let (send_took, stop_took) = send_and_stop_work_within(&world, "flood", Duration::from_secs(1));
    println!(
        "{IDLE} idle + {SLOW} slow connections opened in {open_took:?}; supervisor: {fds} fds open, \
         RSS {rss} KiB (before {rss_before} KiB); send took {send_took:?}, stop took {stop_took:?}"
    );
    drop(held);
}

#[test]
fn ill_typed_and_out_of_range_fields_get_400_naming_them() {
    let world = World::new();
    world.start_fake("typed", &[], &[]);
    for (path, body, names) in [
        (
            "/stop",
            &br#"{"grace_ms": 18446744073709551615}"#[..],
            "grace_ms",
        ),
        ("/stop", br#"{"grace_ms": 86400001}"#, "grace_ms"),
        ("/stop", br#"{"force": "yes"}"#, "force"),
        ("/stop", br#""stop""#, "JSON object"),
        ("/send", br#"{"text": "echo x", "force": "yes"}"#, "force"),
        ("/send", br#"{"text": "echo x", "submit": "no"}"#, "submit"),
        (
            "/send",
            br#"{"text": "echo x", "submit": true, "ttl": 1e300}"#,
            "ttl",
        ),
        ("/send", br#""x""#, "JSON object"),
        ("/send", br#"42"#, "JSON object"),
    ] {
        let (code, answer) = world.call("typed", "POST", path, body);
        let text = String::from_utf8_lossy(body);
        assert_eq!(code, 400, "{path} {text}: {answer}");
        assert!(
            answer["error"].as_str().unwrap_or("").contains(names),
            "{path} {text}: {answer}"
        );
    }
    let status = world.status("typed");
    assert_eq!(status["agent_state"], "prompt", "no stop was started");
    assert_eq!(status["injected_count"], 0, "nothing was typed");
    // A bounded grace is still accepted.
    let (code, answer) = world.call("typed", "POST", "/stop", br#"{"grace_ms": 5000}"#);
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["signal"], "exit_sequence_sent");
    world.wait_gone("typed");
}

#[test]
fn a_send_that_runs_out_of_time_says_what_became_of_its_message() {
    let world = World::new();
    // As `codex` without bracketed paste, the adapter pauses 200 ms before Enter.
    world.start_fake_codex("late", &["--turn-ms", "300"]);
    // The agent is at its prompt, so the message is typed at once — but the deadline is shorter
    // than the delivery (text, pause, Enter, check).
    let run = world.run(&[
        "send",
        "--id",
        "late",
        "--message",
        "once",
        "--timeout",
        "50ms",
    ]);
    assert_eq!(run.code, 124, "{run:?}");
    let out = run.json();
    assert_eq!(out["status"], "timeout", "{out}");
    let message_id = out["message_id"]
        .as_str()
        .unwrap_or_else(|| panic!("the timeout names the message: {out}"))
        .to_string();
    let delivery = out["delivery"].as_str().expect("delivery").to_string();
    assert!(
        ["delivering", "delivered"].contains(&delivery.as_str()),
        "{out}"
    );
    // It is delivered exactly once.
    let message = wait_until("the delivery to finish", Duration::from_secs(10), || {
        let (_, message) = world.call("late", "GET", &format!("/messages/{message_id}"), b"");
        (message["status"] != "delivering").then_some(message)
    });
    assert_eq!(message["status"], "delivered", "{message}");
    world.wait_state("late", "prompt");
    assert_eq!(world.status("late")["injected_count"], 1);
}

/// Random and mutated request bytes against a live server (proptest, a bounded number of cases):
/// whatever arrives, the session stays up and answers a valid request afterwards.
#[test]
fn random_request_bytes_never_take_the_session_down() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let world = World::new();
    world.start_fake("fuzz", &[], &[]);
    let (port, token) = world.api("fuzz");
    let supervisor = supervisor_pid(&world, "fuzz");
    // Request lines that cannot change the session (no send, no stop), so an accepted request
    // is harmless; the rest of the request is random.
    let lines = prop::sample::select(vec![
        "GET /status HTTP/1.1",
        "GET /wait?until=busy&timeout_ms=50 HTTP/1.1",
        "GET /messages/0000000000000000?wait_ms=50 HTTP/1.1",
        "POST /events HTTP/1.1",
        "GET /inbox HTTP/1.0",
        "POST /send HTTP/1.1",
    ]);
    let header = prop::sample::select(vec![
        "Content-Length: 5".to_string(),
        "Content-Length: 99999999999999999999".to_string(),
        "Content-Length: -1".to_string(),
        "Content-Length: 3\r\nContent-Length: 9".to_string(),
        "Transfer-Encoding: chunked".to_string(),
        "Transfer-Encoding: gzip, chunked".to_string(),
        "Expect: 100-continue".to_string(),
        "Connection: keep-alive".to_string(),
        format!("Authorization: Bearer {}", &token[..8]),
        "Authorization: Basic x".to_string(),
        "Host:".to_string(),
        "X-Long: ".to_string() + &"v".repeat(70 * 1024),
    ]);
    let strategy = (
        lines,
        prop::collection::vec(header, 0..4),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    );
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |(line, headers, authorized, body, flips)| {
        let mut request = format!("{line}\r\nHost: 127.0.0.1\r\n");
        for header in &headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        // Only the mutated part may carry the token, on a harmless route: the body is random.
        let harmless = !line.starts_with("POST /send");
        if authorized && harmless {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(&body);
        // Flip random bytes after the request line (the route stays what it was).
        let fixed = line.len();
        for (index, byte) in flips {
            let len = bytes.len() - fixed;
            bytes[fixed + index.index(len)] = byte;
        }
        let mut stream = connect(port);
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let _ = stream.write_all(&bytes);
        let _ = stream.shutdown(Shutdown::Write);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        prop_assert!(
            process_alive(supervisor),
            "the supervisor died on {bytes:?}"
        );
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let (code, status) = world.call("fuzz", "GET", "/status", b"");
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["agent_state"], "prompt");
    assert_eq!(status["injected_count"], 0, "nothing reached the agent");
    let sent = world.run(&[
        "send",
        "--id",
        "fuzz",
        "--message",
        "after",
        "--timeout",
        "10",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let _: Value = sent.json();
}
