//! 200 sends in a row to the real Codex and Claude: one-line, multi-line and 4 KB messages, half
//! of them to an agent waiting at its prompt, half arriving while it still answers the one
//! before (queued, delivered when the prompt returns). Every message must reach the model as a
//! prompt of its own: none lost (an Enter that did not submit), none merged with the next. An
//! Enter that had to be pressed twice counts as lost too (the supervisor's log says so).
//!
//! `HARNEX_BURST_SENDS=N` runs fewer (or more) sends, to try a pause quickly.

use std::time::{Duration, Instant};

use crate::mock_model::MockModel;
use crate::support::World;
use crate::{Agents, commit_readme, harnex};

const SENDS: usize = 200;

fn sends() -> usize {
    std::env::var("HARNEX_BURST_SENDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(SENDS)
}

/// Message `i`: its marker `msg-NNN` first, then one line, three lines, or 4 KB of words.
fn message(i: usize) -> String {
    let marker = format!("msg-{i:03}");
    match i % 3 {
        0 => format!("{marker} a single line to answer"),
        1 => format!("{marker} first line\nsecond line of the message\nthird and last line"),
        _ => {
            let mut text = format!("{marker} a long message:");
            let mut word = 0;
            while text.len() < 4096 {
                text.push_str(&format!(" word{word}"));
                word += 1;
            }
            text
        }
    }
}

/// Whether message `i` is sent while the agent still works on the one before: every other
/// group of three (one of each size) asks for a slow answer and does not wait for it.
fn slow(i: usize) -> bool {
    (i / 3) % 2 == 1
}

fn burst(agent: &str, env: &[(String, String)], world: &World, mock: &MockModel) {
    let n = sends();
    let run = harnex(
        world,
        env,
        &["run", agent, "--id", "burst", "--detach", "--timeout", "60"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let started = Instant::now();
    let mut sent = Vec::with_capacity(n);
    let mut took = Vec::with_capacity(n);
    for i in 0..n {
        let mut text = message(i);
        if slow(i) {
            text.push_str(" [delay=400]");
        }
        let mut args = vec![
            "send",
            "--id",
            "burst",
            "--message",
            &text,
            "--timeout",
            "60",
        ];
        if !slow(i) {
            args.push("--wait-for-idle");
        }
        let at = Instant::now();
        let out = harnex(world, env, &args);
        took.push(at.elapsed());
        assert_eq!(out.code, 0, "send {i}: {out:?}");
        assert_ne!(out.json()["submitted"], false, "send {i}: {out:?}");
        sent.push(text);
    }
    let waited = harnex(
        world,
        env,
        &[
            "wait",
            "--id",
            "burst",
            "--until",
            "prompt",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(waited.code, 0, "{waited:?}");
    // Every message's request, or (after a deadline) what arrived, to say which are missing.
    let deadline = Instant::now() + Duration::from_secs(60);
    let prompts = loop {
        let prompts = mock.prompts();
        let ours = prompts.iter().filter(|p| p.contains("msg-")).count();
        if ours >= n || Instant::now() >= deadline {
            break prompts;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed();

    let ours: Vec<&String> = prompts.iter().filter(|p| p.contains("msg-")).collect();
    for (k, prompt) in ours.iter().enumerate() {
        let markers = prompt.matches("msg-").count();
        assert_eq!(
            markers, 1,
            "request {k} carries {markers} messages (merged): {prompt:.300}"
        );
    }
    for (i, text) in sent.iter().enumerate() {
        let marker = format!("msg-{i:03}");
        let asked: Vec<&&String> = ours.iter().filter(|p| p.contains(&marker)).collect();
        if asked.is_empty() {
            let screen = harnex(world, env, &["pane", "--id", "burst"]);
            panic!(
                "message {i} never reached the model ({} requests with a message for {n} sends); the screen now:\n{}",
                ours.len(),
                screen.stdout
            );
        }
        for prompt in asked {
            assert!(
                prompt.contains(text.as_str()),
                "message {i} arrived changed: sent {text:.200} got {prompt:.300}"
            );
        }
    }
    let log: String = std::fs::read_dir(world.state.join("logs"))
        .expect("logs dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("--burst.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    let retried = log.matches("pressing it once more").count();
    assert_eq!(retried, 0, "Enter pressed twice {retried} time(s):\n{log}");

    // The pause-free path: the agent had bracketed paste on (mode 2004) for the messages.
    let transcript: Vec<u8> = std::fs::read_dir(world.state.join("output"))
        .expect("output dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("--burst.log"))
        .flat_map(|e| std::fs::read(e.path()).unwrap_or_default())
        .collect();
    assert!(
        transcript.windows(8).any(|w| w == b"\x1b[?2004h"),
        "{agent} enabled bracketed paste"
    );

    took.sort();
    println!(
        "SEND-BURST {agent}: {n} sends, 0 lost, 0 merged, {} model requests with a message, in {:.1} s; send → JSON median {:.0} ms, p90 {:.0} ms (with the answers they waited for)",
        ours.len(),
        elapsed.as_secs_f64(),
        took[n / 2].as_secs_f64() * 1000.0,
        took[n * 9 / 10].as_secs_f64() * 1000.0,
    );
    let stopped = harnex(world, env, &["stop", "--id", "burst", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn codex_takes_200_sends_in_a_row_without_losing_or_merging_one() {
    let agents = Agents::require("codex_takes_200_sends_in_a_row_without_losing_or_merging_one");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockModel::start().expect("mock model");
    let env = crate::codex::codex_env(&world, &agents, &mock, true);
    burst("codex", &env, &world, &mock);
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn claude_takes_200_sends_in_a_row_without_losing_or_merging_one() {
    let agents = Agents::require("claude_takes_200_sends_in_a_row_without_losing_or_merging_one");
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockModel::start().expect("mock model");
    let env = crate::claude::claude_env(&world, &agents, &mock, true);
    burst("claude", &env, &world, &mock);
}
