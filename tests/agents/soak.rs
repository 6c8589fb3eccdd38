//! The soak: 20 turns per new agent (OpenCode, Gemini CLI, Copilot CLI), each answered by the
//! mock after a delay of 0–9 s, the three agents in parallel. It counts turns `send
//! --wait-for-idle` returned before the mock had sent the answer (must be 0) and measures the
//! detection delay: mock answer sent → `task_complete` row. It prints the figures (`SOAK` lines;
//! `cargo nextest run --run-ignored only -E 'test(soak)' --no-capture`).

use std::time::SystemTime;

use crate::mock_chat::MockChat;
use crate::mock_gemini::MockGemini;
use crate::support::World;
use crate::{MoreAgents, commit_readme, event_time, harnex, seconds_between};

/// The mock's delay for each turn, in seconds: every value 0–9 twice, in a fixed shuffled order.
const DELAYS: [u64; 20] = [7, 4, 0, 9, 2, 5, 8, 1, 6, 3, 9, 0, 4, 7, 2, 8, 5, 1, 3, 6];

/// One turn as the soak saw it.
struct Turn {
    turn: u64,
    returned_at: SystemTime,
    answered_at: Option<SystemTime>,
    outcome: String,
}

/// What one agent's soak measured.
struct Figures {
    agent: &'static str,
    early: usize,
    not_completed: usize,
    delays: Vec<f64>,
}

fn prompt(i: usize) -> String {
    format!("Soak turn {} [delay={}]", i + 1, DELAYS[i] * 1000)
}

/// Send the 20 turns to `id`, each waited for; `answered(i)` says when the mock sent turn i's
/// answer.
fn soak(
    agent: &'static str,
    world: &World,
    env: &[(String, String)],
    id: &str,
    answered: &dyn Fn(&str) -> Option<SystemTime>,
) -> Figures {
    let mut turns = Vec::new();
    for i in 0..DELAYS.len() {
        let message = prompt(i);
        let sent = crate::send_turn(world, env, id, &message);
        let returned_at = SystemTime::now();
        turns.push(Turn {
            turn: sent.json["turn"].as_u64().unwrap_or(0),
            returned_at,
            answered_at: answered(&format!("Soak turn {} ", i + 1)),
            outcome: sent.json["outcome"].as_str().unwrap_or("-").to_string(),
        });
    }
    let events = world.events();
    let completed_at = |turn: u64| {
        events
            .iter()
            .find(|e| e["type"] == "task_complete" && e["turn"] == turn)
            .map(event_time)
    };
    let mut figures = Figures {
        agent,
        early: 0,
        not_completed: 0,
        delays: Vec::new(),
    };
    for (i, turn) in turns.iter().enumerate() {
        let early = turn.answered_at.is_none_or(|a| turn.returned_at < a);
        figures.early += usize::from(early);
        figures.not_completed += usize::from(turn.outcome != "completed");
        let delay = turn
            .answered_at
            .zip(completed_at(turn.turn))
            .map(|(a, done)| seconds_between(a, done));
        if let Some(delay) = delay {
            figures.delays.push(delay);
        }
        eprintln!(
            "SOAK-TURN {agent} {}: mock delay {} s, outcome {}, early {early}, detected {}",
            i + 1,
            DELAYS[i],
            turn.outcome,
            delay.map_or("-".to_string(), |d| format!("{d:+.3} s")),
        );
    }
    figures
}

fn opencode(agents: &MoreAgents) -> Figures {
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockChat::start().expect("mock model");
    let env = crate::opencode::opencode_env(&world, agents, &mock);
    let run = harnex(
        &world,
        &env,
        &[
            "run",
            "opencode",
            "--id",
            "soak",
            "--detach",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let answered = |needle: &str| {
        mock.requests()
            .into_iter()
            .filter(|r| r.kind == crate::mock_model::RequestKind::Main && r.prompt.contains(needle))
            .find_map(|r| r.answered_at)
    };
    let figures = soak("opencode", &world, &env, "soak", &answered);
    harnex(&world, &env, &["stop", "--id", "soak", "--wait"]);
    figures
}

fn copilot(agents: &MoreAgents) -> Figures {
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockChat::start().expect("mock model");
    let env = crate::copilot::copilot_env(&world, agents, &mock);
    crate::copilot::start_and_trust(&world, &env, "soak");
    let answered = |needle: &str| {
        mock.requests()
            .into_iter()
            .filter(|r| r.kind == crate::mock_model::RequestKind::Main && r.prompt.contains(needle))
            .find_map(|r| r.answered_at)
    };
    let figures = soak("copilot", &world, &env, "soak", &answered);
    harnex(&world, &env, &["stop", "--id", "soak", "--wait"]);
    figures
}

fn gemini() -> Figures {
    let world = World::new();
    commit_readme(&world.repo);
    let mock = MockGemini::start().expect("mock");
    let env = crate::gemini::gemini_env("soak", &world, &mock, true);
    let run = harnex(
        &world,
        &env,
        &[
            "run",
            "gemini",
            "--id",
            "soak",
            "--detach",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let answered = |needle: &str| {
        mock.main_requests()
            .into_iter()
            .filter(|r| r.prompt.contains(needle))
            .find_map(|r| r.answered_at)
    };
    let figures = soak("gemini", &world, &env, "soak", &answered);
    harnex(&world, &env, &["stop", "--id", "soak", "--wait"]);
    figures
}

fn report(figures: &Figures) {
    let mut delays = figures.delays.clone();
    delays.sort_by(f64::total_cmp);
    let median = delays.get(delays.len() / 2).copied().unwrap_or(f64::NAN);
    let worst = delays.last().copied().unwrap_or(f64::NAN);
    eprintln!(
        "SOAK {}: {} turns, {} returned early, {} not completed; detection delay (answer sent -> task_complete) median {median:.3} s, worst {worst:.3} s over {} measured",
        figures.agent,
        DELAYS.len(),
        figures.early,
        figures.not_completed,
        delays.len()
    );
}

#[test]
#[ignore = "needs the real OpenCode, Gemini and Copilot CLIs (bash .ci/install-more-agents.sh): cargo nextest run --run-ignored all"]
fn soak_twenty_turns_per_new_agent_none_returns_early() {
    let agents = MoreAgents::require("soak_twenty_turns_per_new_agent_none_returns_early");
    let all: Vec<Figures> = std::thread::scope(|s| {
        let runs = [
            s.spawn(|| opencode(&agents)),
            s.spawn(gemini),
            s.spawn(|| copilot(&agents)),
        ];
        runs.into_iter()
            .map(|r| r.join().expect("a soak thread"))
            .collect()
    });
    for figures in &all {
        report(figures);
    }
    for figures in &all {
        assert_eq!(figures.early, 0, "{}: turns returned early", figures.agent);
        assert_eq!(
            figures.not_completed, 0,
            "{}: turns not completed",
            figures.agent
        );
        assert_eq!(figures.delays.len(), DELAYS.len(), "{}", figures.agent);
    }
}
