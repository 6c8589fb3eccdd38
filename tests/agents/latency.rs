//! A measurement, not a timed test: how soon harnex reports a turn's end after the agent wrote it
//! to its own records (median and worst over 50 turns, half of them instant answers), and what a
//! session that follows its records costs while idle. It prints the figures (`RECORD-LATENCY`,
//! `IDLE-CPU` lines; `cargo nextest run --run-ignored only -E 'test(latency)' --no-capture`)
//! and asserts only behaviour: every turn's end came from the records, completed.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::mock_model::{self, MockModel};
use crate::support::World;
use crate::{Agents, event_time, harnex, seconds_between};

const TURNS: usize = 50;
const IDLE_WINDOW: Duration = Duration::from_secs(10);

fn codex_env(world: &World, agents: &Agents, mock: &MockModel) -> Vec<(String, String)> {
    let home = world.root.path().join("codex-home");
    mock_model::write_codex_home(&home, mock.port(), &world.repo, true).expect("codex home");
    let mut env = mock_model::codex_env(&home);
    env.push(("PATH".into(), agents.path()));
    env
}

fn claude_env(world: &World, agents: &Agents, mock: &MockModel) -> Vec<(String, String)> {
    const API_KEY: &str = "sk-ant-mock-0123456789abcdefghij";
    let config = world.root.path().join("claude-config");
    mock_model::write_claude_config(&config, API_KEY, &world.repo, true).expect("claude config");
    let mut env = mock_model::claude_env(&config, mock.port(), API_KEY);
    env.push(("PATH".into(), agents.path()));
    env
}

/// When the agent wrote the end of each turn, from its record file.
fn record_turn_ends(path: &str) -> Vec<SystemTime> {
    let text = std::fs::read_to_string(path).expect("record file");
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|row| {
            (row["type"] == "event_msg" && row["payload"]["type"] == "task_complete")
                || (row["type"] == "system" && row["subtype"] == "turn_duration")
        })
        .map(|row| {
            let ts = row["timestamp"].as_str().expect("timestamp");
            humantime::parse_rfc3339_weak(ts.trim_end_matches('Z')).expect("rfc3339")
        })
        .collect()
}

/// Note when each turn-end row reaches the record file (found through the agent's home dirs under
/// `root`), polling every 2 ms until `stop`.
fn watch_arrivals(
    root: &std::path::Path,
    arrivals: &std::sync::Mutex<Vec<SystemTime>>,
    stop: &std::sync::atomic::AtomicBool,
) {
    let mut file: Option<std::path::PathBuf> = None;
    let mut seen = 0usize;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(2));
        if file.is_none() {
            file = find_jsonl(root);
            continue;
        }
        let path = file.as_ref().unwrap();
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let ends = text
            .lines()
            .filter(|l| l.contains("\"task_complete\"") || l.contains("\"turn_duration\""))
            .count();
        let now = SystemTime::now();
        let mut arrivals = arrivals.lock().unwrap();
        while seen < ends {
            arrivals.push(now);
            seen += 1;
        }
    }
}

/// The first record file under the agent homes in `root` (a Codex rollout or a Claude transcript).
fn find_jsonl(root: &std::path::Path) -> Option<std::path::PathBuf> {
    let mut stack = vec![
        root.join("codex-home/sessions"),
        root.join("claude-config/projects"),
    ];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("subagents") {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                return Some(path);
            }
        }
    }
    None
}

/// The supervisor's CPU time so far (user + system), from /proc.
fn cpu_time(pid: u64) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("comm")
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 (1-based); fields[0] here is field 3.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

fn measure(agent: &str, world: &World, env: &[(String, String)]) {
    let run = harnex(
        world,
        env,
        &["run", agent, "--id", "lat", "--detach", "--timeout", "60"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    // The test's own watcher on the record file (a 2 ms poll, the test's cost, not harnex's): when
    // each turn's end reached the file, to tell the agent's own write delay from harnex's.
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::<SystemTime>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (arrivals, stop) = (arrivals.clone(), stop.clone());
        let root = world.root.path().to_path_buf();
        std::thread::spawn(move || watch_arrivals(&root, &arrivals, &stop))
    };
    for n in 0..TURNS {
        // Every other answer is instant; the rest take a moment, as real answers do.
        let message = if n % 2 == 0 {
            format!("Turn {n}")
        } else {
            format!("Turn {n} [delay=300]")
        };
        let sent = harnex(
            world,
            env,
            &[
                "send",
                "--id",
                "lat",
                "--message",
                &message,
                "--wait-for-idle",
                "--timeout",
                "60",
            ],
        );
        assert_eq!(sent.code, 0, "{sent:?}");
        assert_eq!(sent.json()["outcome"], "completed", "{sent:?}");
        let source = sent.json()["source"].clone();
        assert!(source == "record" || source == "hook", "{sent:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    watcher.join().expect("arrival watcher");
    let status = harnex(world, env, &["status", "--id", "lat", "--json"]).json();
    let status = status.as_array().map_or(status.clone(), |a| a[0].clone());
    let path = status["records"]["path"]
        .as_str()
        .expect("records followed")
        .to_string();
    let supervisor = status["supervisor_pid"].as_u64().expect("supervisor pid");
    let before = cpu_time(supervisor);
    std::thread::sleep(IDLE_WINDOW);
    let idle = cpu_time(supervisor) - before;
    println!(
        "IDLE-CPU {agent}: supervisor used {} ms of CPU in {} s idle with its records followed ({:.3} %)",
        idle.as_millis(),
        IDLE_WINDOW.as_secs(),
        idle.as_secs_f64() / IDLE_WINDOW.as_secs_f64() * 100.0
    );

    let written = record_turn_ends(&path);
    let reported: Vec<SystemTime> = world
        .events()
        .iter()
        .filter(|r| r["type"] == "task_complete")
        .map(event_time)
        .collect();
    assert_eq!(written.len(), TURNS, "one record end per turn");
    assert_eq!(reported.len(), TURNS, "one task_complete per turn");
    let mut delays: Vec<f64> = written
        .iter()
        .zip(&reported)
        .map(|(w, r)| seconds_between(*w, *r) * 1000.0)
        .collect();
    delays.sort_by(f64::total_cmp);
    let instant: Vec<f64> = written
        .iter()
        .zip(&reported)
        .step_by(2)
        .map(|(w, r)| seconds_between(*w, *r) * 1000.0)
        .collect();
    println!(
        "RECORD-LATENCY {agent}: {TURNS} turns, record written → task_complete reported: median {:.0} ms, worst {:.0} ms, best {:.0} ms; instant answers worst {:.0} ms",
        delays[TURNS / 2],
        delays[TURNS - 1],
        delays[0],
        instant.iter().copied().fold(f64::MIN, f64::max)
    );
    let arrivals = arrivals.lock().unwrap().clone();
    if arrivals.len() == TURNS {
        let mut flush: Vec<f64> = written
            .iter()
            .zip(&arrivals)
            .map(|(w, a)| seconds_between(*w, *a) * 1000.0)
            .collect();
        let mut after: Vec<f64> = arrivals
            .iter()
            .zip(&reported)
            .map(|(a, r)| seconds_between(*a, *r) * 1000.0)
            .collect();
        flush.sort_by(f64::total_cmp);
        after.sort_by(f64::total_cmp);
        println!(
            "RECORD-LATENCY {agent}: of that, the row's own timestamp → in the file: median {:.0} ms, worst {:.0} ms; in the file → reported: median {:.0} ms, worst {:.0} ms",
            flush[TURNS / 2],
            flush[TURNS - 1],
            after[TURNS / 2],
            after[TURNS - 1]
        );
    }
    let stopped = harnex(world, env, &["stop", "--id", "lat", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn codex_record_latency_and_idle_cost() {
    let agents = Agents::require("codex_record_latency_and_idle_cost");
    let world = World::new();
    let mock = MockModel::start().expect("mock model");
    let env = codex_env(&world, &agents, &mock);
    measure("codex", &world, &env);
}

#[test]
#[ignore = "needs the real agent CLIs (bash .ci/install-agents.sh): cargo nextest run --run-ignored all"]
fn claude_record_latency_and_idle_cost() {
    let agents = Agents::require("claude_record_latency_and_idle_cost");
    let world = World::new();
    let mock = MockModel::start().expect("mock model");
    let env = claude_env(&world, &agents, &mock);
    measure("claude", &world, &env);
}
