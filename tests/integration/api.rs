//! The session API: the emulated screen, authentication, malformed and oversized requests, the
//! headless supervisor answering terminal queries, and an idle supervisor's CPU use.

use std::time::Duration;

use serde_json::Value;

use crate::support::{World, cpu_ticks, http};

#[test]
fn get_screen_returns_the_emulated_screen() {
    let world = World::new();
    world.start_fake(
        "scr",
        &["--size", "90x20"],
        &["--turn-ms", "100", "--title", "my agent"],
    );
    let sent = world.run(&[
        "send",
        "--id",
        "scr",
        "--message",
        "paint it",
        "--wait-for-idle",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let (code, screen) = world.call("scr", "GET", "/screen", b"");
    assert_eq!(code, 200, "{screen}");
    assert_eq!(screen["ok"], true);
    assert_eq!(screen["id"], "scr");
    assert_eq!(screen["size"]["cols"], 90);
    assert_eq!(screen["size"]["rows"], 20);
    let rows = screen["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 20, "one entry per terminal row");
    let text = screen["text"].as_str().expect("text");
    assert!(text.contains("> paint it\n"), "{text}");
    assert!(text.contains("answer: paint it\n"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "the screen is rendered text, not raw output: {text:?}"
    );
    assert!(
        !text.contains("Working"),
        "the spinner line was overwritten: {text}"
    );
    // The cursor sits after the fresh prompt.
    let row = screen["cursor"]["row"].as_u64().unwrap() as usize;
    assert_eq!(rows[row], ">");
    assert_eq!(screen["cursor"]["col"], 2);
    assert_eq!(screen["title"], "my agent");
}

#[test]
fn requests_without_the_right_token_get_401() {
    let world = World::new();
    world.start_fake("auth", &[], &[]);
    let (port, token) = world.api("auth");
    let routes = [
        ("GET", "/status"),
        ("GET", "/health"),
        ("GET", "/screen"),
        ("GET", "/explain"),
        ("GET", "/inbox"),
        ("GET", "/wait?until=prompt"),
        ("POST", "/send"),
        ("POST", "/stop"),
        ("DELETE", "/inbox"),
    ];
    let wrong = "f".repeat(token.len());
    for (method, path) in routes {
        for bad in [
            None,
            Some(wrong.as_str()),
            Some(""),
            Some(&token[..token.len() - 1]),
        ] {
            let (code, body) = http(method, port, path, bad, br#"{"text":"x","force":true}"#);
            assert_eq!(code, 401, "{method} {path} with {bad:?}: {body}");
            let body: Value = serde_json::from_str(&body).expect("401 body is JSON");
            assert_eq!(body["ok"], false);
        }
    }
    // Nothing got through: no message, no stop.
    let status = world.status("auth");
    assert_eq!(status["injected_count"], 0);
    assert_eq!(status["agent_state"], "prompt");
}

#[test]
fn a_malformed_json_request_gets_400_and_the_supervisor_keeps_running() {
    let world = World::new();
    world.start_fake("bad-json", &[], &[]);
    for body in [&b"{\"text\": "[..], b"[1, 2", b"{\"text\": \"x\"} trailing"] {
        let (code, answer) = world.call("bad-json", "POST", "/send", body);
        assert_eq!(code, 400, "{answer}");
        assert_eq!(answer["ok"], false);
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
    }
    let (code, answer) = world.call("bad-json", "GET", "/wait?until=sideways", b"");
    assert_eq!(code, 400, "{answer}");
    let status = world.status("bad-json");
    assert_eq!(status["agent_state"], "prompt");
    assert_eq!(
        status["injected_count"], 0,
        "nothing was typed into the agent"
    );
    let sent = world.run(&[
        "send",
        "--id",
        "bad-json",
        "--message",
        "still fine",
        "--wait-for-idle",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
}

#[test]
fn an_oversized_request_gets_413_and_the_supervisor_keeps_running() {
    let world = World::new();
    world.start_fake("big", &[], &[]);
    let mut body = br#"{"text": ""#.to_vec();
    body.extend(std::iter::repeat_n(b'a', 1024 * 1024 + 16));
    body.extend(br#""}"#);
    let (code, answer) = world.call("big", "POST", "/send", &body);
    assert_eq!(code, 413, "{answer}");
    assert_eq!(answer["ok"], false);
    assert!(
        answer["error"].as_str().unwrap().contains("1 MiB"),
        "{answer}"
    );
    let status = world.status("big");
    assert_eq!(status["agent_state"], "prompt");
    assert_eq!(status["injected_count"], 0);
    let (code, _) = world.call("big", "GET", "/health", b"");
    assert_eq!(code, 200);
    let sent = world.run(&[
        "send",
        "--id",
        "big",
        "--message",
        "still fine",
        "--wait-for-idle",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
}

#[test]
fn unknown_routes_get_a_json_404() {
    let world = World::new();
    world.start_fake("routes", &[], &[]);
    let (code, body) = world.call("routes", "GET", "/nope", b"");
    assert_eq!(code, 404, "{body}");
    assert_eq!(body["ok"], false);
    let (code, body) = world.call("routes", "GET", "/messages/0000000000000000", b"");
    assert_eq!(code, 404, "{body}");
}

#[test]
fn the_headless_supervisor_answers_terminal_queries() {
    let world = World::new();
    world.start_fake("query", &[], &["--query-cursor"]);
    let screen = world.wait_screen("query", "cursor: ");
    assert!(
        !screen.contains("no reply"),
        "the cursor query went unanswered: {screen}"
    );
    let line = screen.lines().find(|l| l.starts_with("cursor: ")).unwrap();
    let (row, col) = line["cursor: ".len()..].split_once(';').expect("R;C");
    let (row, col): (u32, u32) = (row.parse().unwrap(), col.parse().unwrap());
    // Asked before anything was printed: top-left, 1-based.
    assert_eq!((row, col), (1, 1), "{line}");
}

#[test]
fn an_idle_supervised_session_uses_almost_no_cpu() {
    let world = World::new();
    world.start_fake("idle", &[], &[]);
    let supervisor = world.entry("idle")["supervisor_pid"]
        .as_u64()
        .expect("supervisor pid");
    world.wait_state("idle", "prompt");
    // Let the start-up settle, then measure a stretch of pure idleness (the sleeps are the
    // measurement, not a stand-in for a condition).
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(supervisor);
    std::thread::sleep(Duration::from_secs(2));
    let after = cpu_ticks(supervisor);
    let used = after - before;
    let hz = clock_ticks_per_second();
    println!("idle supervisor CPU over 2 s: {used} clock ticks ({hz} ticks/s)");
    assert!(
        used < 20,
        "an idle supervisor used {used} clock ticks of CPU in 2 s (limit 20)"
    );
    assert_eq!(world.status("idle")["agent_state"], "prompt");
}

/// sysconf(_SC_CLK_TCK), via `getconf CLK_TCK` (for the report only).
fn clock_ticks_per_second() -> String {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

#[test]
fn a_long_poll_does_not_block_other_requests() {
    let world = World::new();
    world.start_fake("poll", &[], &[]);
    let (port, token) = world.api("poll");
    let waiter = std::thread::spawn(move || {
        http(
            "GET",
            port,
            "/wait?until=busy&timeout_ms=3000",
            Some(&token),
            b"",
        )
    });
    // While the long-poll is pending, other requests are answered at once.
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let (code, _) = world.call("poll", "GET", "/status", b"");
        assert_eq!(code, 200);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    let (code, body) = waiter.join().unwrap();
    assert_eq!(code, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["status"], "timeout",
        "nothing made the agent busy: {body}"
    );
    assert_eq!(world.status("poll")["agent_state"], "prompt");
}
