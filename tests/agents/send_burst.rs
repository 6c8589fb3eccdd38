//! 200 sends in a row to the real Codex and Claude (60 to OpenCode, Gemini CLI and Copilot CLI, to
//! keep CI time down): one-line, multi-line and 4 KB messages, half
//! of them to an agent waiting at its prompt, half arriving while it still answers the one
//! before (queued, delivered when the prompt returns). Every message must reach the model as a
//! prompt of its own: none lost (an Enter that did not submit), none merged with the next. An
//! Enter that had to be pressed twice counts as lost too (the supervisor's log says so).
//!
//! It prints the delivered send time (`send` returning once the agent has the message, to an
//! agent at its prompt): median and p90.
//!
//! `HARNEX_BURST_SENDS=N` runs fewer (or more) sends; `HARNEX_BURST_SUBMIT_DELAY='{ base_ms =
//! 0, per_kb_ms = 0 }'` tries another pause before Enter (a rule-file override), to measure the
//! least one an agent needs. The override replaces the adapter's whole `submit_delay`: for Codex,
//! repeat its `paste_placeholder`, or a long paste never counts as shown.

use std::time::{Duration, Instant};

use crate::mock_chat::MockChat;
use crate::mock_gemini::MockGemini;
use crate::mock_model::{MockModel, RequestKind};
use crate::support::{Run, World};
use crate::{Agents, MoreAgents, commit_readme, harnex};

const SENDS: usize = 200;
/// For the agents measured after Codex and Claude.
const MORE_SENDS: usize = 60;

fn sends(default: usize) -> usize {
    std::env::var("HARNEX_BURST_SENDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
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
/// group of three (one of each size) asks for a slow answer and does not wait for it (the first
/// of a group meets the agent at its prompt, the other two are queued behind a busy turn). The
/// other messages are sent to the agent at its prompt, and their answers waited for.
fn slow(i: usize) -> bool {
    (i / 3) % 2 == 1
}

/// Put `HARNEX_BURST_SUBMIT_DELAY`, if set, in a rule-file override of `agent`.
fn override_pause(world: &World, agent: &str) {
    let Ok(delay) = std::env::var("HARNEX_BURST_SUBMIT_DELAY") else {
        return;
    };
    world.write_adapter_rules(agent, &format!("submit_delay = {delay}\n"));
    println!("SEND-BURST {agent}: pause before Enter overridden: {delay}");
}

/// The agents under test, one row each of the table in [`Agent::facts`].
#[derive(Clone, Copy)]
enum Agent {
    Codex,
    Claude,
    OpenCode,
    Copilot,
    Gemini,
}

/// What the routine needs to know of an agent.
struct Facts {
    name: &'static str,
    /// How many sends by default (`HARNEX_BURST_SENDS` overrides it).
    sends: usize,
    /// Whether half the messages are queued behind a busy turn (else all go to the agent at its
    /// prompt).
    queued: bool,
}

/// The agent's mock model, started, and how to reach it.
struct Model {
    env: Vec<(String, String)>,
    /// The last user text of each model request, in arrival order (owns the mock, so the
    /// mock lives as long as this).
    prompts: Box<dyn Fn() -> Vec<String>>,
}

impl Model {
    fn new(env: Vec<(String, String)>, prompts: impl Fn() -> Vec<String> + 'static) -> Model {
        let prompts = Box::new(prompts);
        Model { env, prompts }
    }
}

impl Agent {
    fn facts(self) -> Facts {
        let (name, sends, queued) = match self {
            Agent::Codex => ("codex", SENDS, true),
            Agent::Claude => ("claude", SENDS, true),
            // Messages delivered as OpenCode ends a slow turn can be lost or merged whatever the
            // pause (none: three in one request; 200 ms: three of 60 never arrived): a fault of
            // delivery at the end of a turn, apart from the pause this test measures.
            Agent::OpenCode => ("opencode", MORE_SENDS, false),
            Agent::Copilot => ("copilot", MORE_SENDS, true),
            Agent::Gemini => ("gemini", MORE_SENDS, true),
        };
        Facts {
            name,
            sends,
            queued,
        }
    }

    /// Start the agent's mock model and write the agent's config for it; `test` names the test
    /// in the message when the CLI is missing.
    fn model(self, test: &str, world: &World) -> Model {
        match self {
            Agent::Codex => {
                let agents = Agents::require(test);
                let mock = MockModel::start().expect("mock model");
                let env = crate::codex::codex_env(world, &agents, &mock, true);
                Model::new(env, move || mock.prompts())
            }
            Agent::Claude => {
                let agents = Agents::require(test);
                let mock = MockModel::start().expect("mock model");
                let env = crate::claude::claude_env(world, &agents, &mock, true);
                Model::new(env, move || mock.prompts())
            }
            Agent::OpenCode => {
                let agents = MoreAgents::require(test);
                let mock = MockChat::start().expect("mock model");
                let env = crate::opencode::opencode_env(world, &agents, &mock);
                Model::new(env, move || chat_prompts(&mock))
            }
            Agent::Copilot => {
                let agents = MoreAgents::require(test);
                let mock = MockChat::start().expect("mock model");
                let env = crate::copilot::copilot_env(world, &agents, &mock);
                Model::new(env, move || chat_prompts(&mock))
            }
            Agent::Gemini => {
                let mock = MockGemini::start().expect("mock");
                let env = crate::gemini::gemini_env(test, world, &mock, true);
                let prompts = move || mock.main_requests().into_iter().map(|r| r.prompt).collect();
                Model::new(env, prompts)
            }
        }
    }

    /// Start the session `burst` (after the pause override is in place), at its prompt.
    fn start(self, world: &World, env: &[(String, String)]) {
        match self {
            Agent::Copilot => crate::copilot::start_and_trust(world, env, "burst"),
            _ => run_detached(world, env, self.facts().name),
        }
    }
}

/// `harnex run <agent> --id burst --detach`, at its prompt.
fn run_detached(world: &World, env: &[(String, String)], agent: &str) {
    let run = harnex(
        world,
        env,
        &["run", agent, "--id", "burst", "--detach", "--timeout", "60"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["agent_state"], "prompt", "{run:?}");
}

/// `harnex wait --id burst --until prompt`: the agent back at its prompt (after a send: that
/// send's turn answered).
fn wait_prompt(world: &World, env: &[(String, String)]) -> Run {
    let args = [
        "wait",
        "--id",
        "burst",
        "--until",
        "prompt",
        "--timeout",
        "60",
    ];
    harnex(world, env, &args)
}

/// The burst against `agent`, from a fresh world to the agent stopped; `test` is the test's name.
fn burst(agent: Agent, test: &str) {
    let Facts {
        name: agent_name,
        sends: default_sends,
        queued,
    } = agent.facts();
    let world = World::new();
    commit_readme(&world.repo);
    let Model { env, prompts } = agent.model(test, &world);
    let (world, env) = (&world, env.as_slice());
    let n = sends(default_sends);
    let slow = |i: usize| queued && slow(i);
    override_pause(world, agent_name);
    agent.start(world, env);
    let started = Instant::now();
    let mut sent = Vec::with_capacity(n);
    let mut took = Vec::with_capacity(n);
    // Delivered sends to an agent at its prompt: the send alone, not the answer after it.
    let mut delivered = Vec::with_capacity(n);
    for i in 0..n {
        let mut text = message(i);
        if slow(i) {
            text.push_str(" [delay=400]");
        } else if i > 0 && slow(i - 1) {
            // The queued ones delivered first: this send meets the agent at its prompt.
            let idle = wait_prompt(world, env);
            assert_eq!(idle.code, 0, "wait before send {i}: {idle:?}");
        }
        let args = vec![
            "send",
            "--id",
            "burst",
            "--message",
            &text,
            "--timeout",
            "60",
        ];
        let at = Instant::now();
        let out = harnex(world, env, &args);
        let sent_in = at.elapsed();
        assert_eq!(out.code, 0, "send {i}: {out:?}");
        assert_ne!(out.json()["submitted"], false, "send {i}: {out:?}");
        if !slow(i) {
            delivered.push((i % 3, sent_in));
            // The answer, before the next message (`wait --until prompt` after a send waits for
            // that send's turn).
            let answered = wait_prompt(world, env);
            assert_eq!(answered.code, 0, "wait after send {i}: {answered:?}");
        }
        took.push(at.elapsed());
        sent.push(text);
    }
    let waited = wait_prompt(world, env);
    assert_eq!(waited.code, 0, "{waited:?}");
    // Every message's request, or (after a deadline) what arrived, to say which are missing.
    let deadline = Instant::now() + Duration::from_secs(60);
    let prompts = loop {
        let prompts = prompts();
        let ours = prompts.iter().filter(|p| p.contains("msg-")).count();
        if ours >= n || Instant::now() >= deadline {
            break prompts;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed();

    let log: String = std::fs::read_dir(world.state.join("logs"))
        .expect("logs dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("--burst.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    let ours: Vec<&String> = prompts.iter().filter(|p| p.contains("msg-")).collect();
    for (k, prompt) in ours.iter().enumerate() {
        let markers = prompt.matches("msg-").count();
        assert_eq!(
            markers, 1,
            "request {k} carries {markers} messages (merged): {prompt:.300}\nthe supervisor's log:\n{log}"
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
    let retried = log.matches("pressing it once more").count();
    assert_eq!(retried, 0, "Enter pressed twice {retried} time(s):\n{log}");
    // Where Enter waits for the paste to show, it did show every time (no fallback to the pause).
    let unseen = log.matches("did not show at the cursor").count();
    assert_eq!(unseen, 0, "the paste never showed {unseen} time(s):\n{log}");

    // The pause-free path: the agent had bracketed paste on (mode 2004) for the messages.
    let transcript: Vec<u8> = std::fs::read_dir(world.state.join("output"))
        .expect("output dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("--burst.log"))
        .flat_map(|e| std::fs::read(e.path()).unwrap_or_default())
        .collect();
    let paste_on = transcript.windows(8).any(|w| w == b"\x1b[?2004h");
    assert!(paste_on, "{agent_name} enabled bracketed paste");

    took.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let median_of = |kind: usize| {
        let mut of: Vec<Duration> = delivered
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, d)| *d)
            .collect();
        of.sort();
        of.get(of.len() / 2).map_or(0.0, ms)
    };
    let by_kind = format!(
        "one line {:.0} ms, three lines {:.0} ms, 4 KB {:.0} ms",
        median_of(0),
        median_of(1),
        median_of(2)
    );
    let mut delivered: Vec<Duration> = delivered.into_iter().map(|(_, d)| d).collect();
    delivered.sort();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "SEND-BURST {agent_name}: {n} sends, 0 lost, 0 merged, {} model requests with a message, in {:.1} s; delivered send (agent at its prompt) median {:.0} ms, p90 {:.0} ms ({by_kind}); send + answer median {:.0} ms; load {}",
        ours.len(),
        elapsed.as_secs_f64(),
        ms(&delivered[delivered.len() / 2]),
        ms(&delivered[delivered.len() * 9 / 10]),
        ms(&took[n / 2]),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    let stopped = harnex(world, env, &["stop", "--id", "burst", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
}

/// The model requests of a chat-completions mock (OpenCode, Copilot): the agent loop's, with a
/// user text.
fn chat_prompts(mock: &MockChat) -> Vec<String> {
    mock.requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::Main && !r.prompt.is_empty())
        .map(|r| r.prompt)
        .collect()
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn codex_takes_200_sends_in_a_row_without_losing_or_merging_one() {
    burst(
        Agent::Codex,
        "codex_takes_200_sends_in_a_row_without_losing_or_merging_one",
    );
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn claude_takes_200_sends_in_a_row_without_losing_or_merging_one() {
    burst(
        Agent::Claude,
        "claude_takes_200_sends_in_a_row_without_losing_or_merging_one",
    );
}

#[test]
#[ignore = "needs the real OpenCode CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn opencode_takes_60_sends_in_a_row_without_losing_or_merging_one() {
    burst(
        Agent::OpenCode,
        "opencode_takes_60_sends_in_a_row_without_losing_or_merging_one",
    );
}

#[test]
#[ignore = "needs the real Copilot CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn copilot_takes_60_sends_in_a_row_without_losing_or_merging_one() {
    burst(
        Agent::Copilot,
        "copilot_takes_60_sends_in_a_row_without_losing_or_merging_one",
    );
}

#[test]
#[ignore = "needs the real Gemini CLI (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn gemini_takes_60_sends_in_a_row_without_losing_or_merging_one() {
    burst(
        Agent::Gemini,
        "gemini_takes_60_sends_in_a_row_without_losing_or_merging_one",
    );
}
