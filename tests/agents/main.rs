//! End-to-end tests against the real agent CLIs (Codex 0.169.0, Claude Code 2.1.328) talking to
//! a mock model server on loopback.
//!
//! The CLIs come from `.ci/install-agents.sh` (npm). The tests are `#[ignore]`d, so `cargo nextest
//! run` reports them as skipped; `cargo nextest run --run-ignored all` (as `.ci/run` does) runs
//! them, and there a missing CLI fails the test.

mod mock_model;
#[path = "../integration/support/mod.rs"]
mod support;

mod claude;
mod codex;
mod conversation;
mod latency;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use serde_json::Value;

use support::{Run, World};

pub const CODEX_VERSION: &str = "0.169.0";
pub const CLAUDE_VERSION: &str = "2.1.328";

/// Where the pinned CLIs live, if they are installed.
pub struct Agents {
    pub bin_dir: PathBuf,
}

impl Agents {
    fn find() -> Result<Agents, String> {
        let dir = match std::env::var_os("HARNEX_AGENT_BIN_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
                PathBuf::from(home).join(format!(
                    ".cache/harnex-agents/codex-{CODEX_VERSION}-claude-{CLAUDE_VERSION}/node_modules/.bin"
                ))
            }
        };
        let version = |name: &str| -> Result<String, String> {
            let out = Command::new(dir.join(name))
                .arg("--version")
                .output()
                .map_err(|e| format!("{}: {e}", dir.join(name).display()))?;
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let codex = version("codex")?;
        if codex != format!("codex-cli {CODEX_VERSION}") {
            return Err(format!(
                "codex reports {codex:?}, tests are pinned to {CODEX_VERSION}"
            ));
        }
        let claude = version("claude")?;
        if !claude.starts_with(CLAUDE_VERSION) {
            return Err(format!(
                "claude reports {claude:?}, tests are pinned to {CLAUDE_VERSION}"
            ));
        }
        Ok(Agents { bin_dir: dir })
    }

    /// The agents; a missing or mispinned CLI fails the test (these tests only run when asked for).
    pub fn require(test: &str) -> Agents {
        match Agents::find() {
            Ok(agents) => agents,
            Err(why) => panic!(
                "{test}: the real agent CLIs are required but missing: {why}. Install them with `bash .ci/install-agents.sh` (or set HARNEX_AGENT_BIN_DIR), or run `cargo nextest run` without `--run-ignored` to skip these tests."
            ),
        }
    }

    /// PATH with the agents first.
    pub fn path(&self) -> String {
        let rest = std::env::var("PATH").unwrap_or_default();
        format!("{}:{rest}", self.bin_dir.display())
    }
}

/// Run harnex in `world` with extra environment.
pub fn harnex(world: &World, env: &[(String, String)], args: &[&str]) -> Run {
    let mut cmd = world.cmd();
    cmd.args(args);
    for (key, value) in env {
        cmd.env(key, value);
    }
    Run::from(cmd.output().expect("run harnex"))
}

/// A first commit, so the repo looks like a real one.
pub fn commit_readme(repo: &Path) {
    std::fs::write(repo.join("README.md"), "# demo\n").expect("write");
    for args in [
        vec!["add", "README.md"],
        vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "init",
        ],
    ] {
        let ok = Command::new("git")
            .args(&args)
            .current_dir(repo)
            .status()
            .expect("git")
            .success();
        assert!(ok, "git {args:?}");
    }
}

pub fn event_time(event: &Value) -> SystemTime {
    let ts = event["ts"].as_str().expect("ts");
    humantime::parse_rfc3339_weak(ts.trim_end_matches('Z')).expect("rfc3339 ts")
}

/// Seconds from `a` to `b` (negative when `b` is earlier).
pub fn seconds_between(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// How fast harnex noticed each turn: busy after the model request arrived, prompt after the
/// answer was completely sent. Printed for the record; returns (busy, prompt) per turn.
pub fn report_latency(world: &World, mock: &mock_model::MockModel, agent: &str) -> Vec<(f64, f64)> {
    let events = world.events();
    let requests: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.kind == mock_model::RequestKind::Main)
        .collect();
    let mut out = Vec::new();
    let mut previous = SystemTime::UNIX_EPOCH;
    for request in &requests {
        let Some(answered) = request.answered_at else {
            // No recorded end (the client closed the stream first): not measured, but its
            // rows must not be paired with the next request's.
            previous = request.arrived_at;
            continue;
        };
        let is_state = |e: &Value, to: &str| e["type"] == "state" && e["to"] == to;
        // The first busy of this turn (after the previous answer), and the prompt after it.
        let busy_at = events.iter().position(|e| {
            is_state(e, "busy") && event_time(e) > previous && event_time(e) < answered
        });
        let busy = busy_at.map(|i| &events[i]);
        let prompt = busy_at.and_then(|i| events[i..].iter().find(|e| is_state(e, "prompt")));
        previous = answered;
        if let (Some(busy), Some(prompt)) = (busy, prompt) {
            let b = seconds_between(request.arrived_at, event_time(busy));
            let p = seconds_between(answered, event_time(prompt));
            eprintln!(
                "LATENCY {agent}: busy reported {b:+.3}s after the model request arrived; prompt reported {p:+.3}s after the answer was sent"
            );
            out.push((b, p));
        }
    }
    out
}

/// The rows of a real agent's session: `started → send → state/turn rows → usage → summary →
/// exited`, every turn's `task_complete` from the agent's records (outcome `completed`, the mock's
/// answer, its token counts), `usage` rows while it works and one at the end with non-null
/// token counts, and `success`. Returns the end's `usage` row.
pub fn assert_full_event_sequence(world: &World) -> Value {
    let rows = world.events();
    let types: Vec<&str> = rows
        .iter()
        .map(|r| r["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(types.first(), Some(&"started"), "{types:?}");
    let at = |kind: &str| {
        types
            .iter()
            .position(|t| *t == kind)
            .unwrap_or_else(|| panic!("no {kind}: {types:?}"))
    };
    let last = |kind: &str| types.iter().rposition(|t| *t == kind).unwrap();
    assert!(at("started") < at("send"));
    assert!(at("send") < at("turn_started"));
    assert!(at("turn_started") < at("task_complete"));
    assert!(
        at("usage") < at("task_complete"),
        "usage rows while the agent works: {types:?}"
    );
    assert!(last("task_complete") < last("usage"));
    assert!(last("usage") < at("summary"));
    assert_eq!(types.last(), Some(&"exited"), "{types:?}");
    assert!(types.contains(&"state"));
    for done in rows.iter().filter(|r| r["type"] == "task_complete") {
        assert_eq!(done["outcome"], "completed", "{done}");
        assert_eq!(done["source"], "record", "{done}");
        assert_eq!(done["answer"], mock_model::ANSWER, "{done}");
        assert_eq!(
            done["usage"]["turn"]["output_tokens"],
            mock_model::USAGE_OUTPUT_TOKENS,
            "{done}"
        );
    }
    let usage = rows[last("usage")].clone();
    assert_eq!(usage["key"], "usage:exit", "{usage}");
    assert_eq!(usage["source"], "record", "{usage}");
    for field in ["input_tokens", "output_tokens", "total_tokens"] {
        assert!(
            usage[field].as_u64().is_some_and(|n| n > 0),
            "usage.{field}: {usage}"
        );
    }
    assert_eq!(rows.last().unwrap()["reason"], "success");
    usage
}

/// Three turns through harnex: a 5 s one (the wait must span it, not return on the prompt the
/// agent keeps drawing), a second one, and an instant one (no busy frame may ever be drawn) that
/// still ends the wait after the answer. Reports how fast harnex noticed each change.
pub fn three_turns(
    world: &World,
    env: &[(String, String)],
    mock: &mock_model::MockModel,
    id: &str,
    agent: &str,
) {
    use mock_model::ANSWER;
    use std::time::{Duration, Instant};
    let started = Instant::now();
    let sent = harnex(
        world,
        env,
        &[
            "send",
            "--id",
            id,
            "--message",
            "Summarize the repo [delay=5000]",
            "--wait-for-idle",
            "--timeout",
            "90",
        ],
    );
    let took = started.elapsed();
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(sent.json()["state"], "prompt");
    assert!(
        took >= Duration::from_secs(4),
        "returned after {took:?}: {sent:?}"
    );
    assert!(world.screen(id).contains(ANSWER), "{}", world.screen(id));
    assert_eq!(mock.request_count(), 1);

    // A second turn works too.
    let sent = harnex(
        world,
        env,
        &[
            "send",
            "--id",
            id,
            "--message",
            "And again [delay=1000]",
            "--wait-for-idle",
            "--timeout",
            "90",
        ],
    );
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(sent.json()["turn"], 2);
    assert_eq!(mock.request_count(), 2);

    let latency = report_latency(world, mock, agent);
    assert!(!latency.is_empty(), "the turns were seen busy then prompt");
    for (_, prompt) in &latency {
        assert!(
            *prompt >= 0.0,
            "prompt reported before the answer was sent: {latency:?}"
        );
    }

    // An instant answer (no busy frame may ever be drawn) still ends the wait, after the answer.
    let sent = harnex(
        world,
        env,
        &[
            "send",
            "--id",
            id,
            "--message",
            "Quick one",
            "--wait-for-idle",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(sent.json()["turn"], 3);
    assert_eq!(mock.request_count(), 3);
    assert_eq!(
        world.screen(id).matches(ANSWER).count(),
        3,
        "{}",
        world.screen(id)
    );
}

/// Lines of the answer to a long question (more lines than the screen has rows) as
/// `logs --plain` shows them, live and after the session ended, and as `logs --plain --follow`
/// streamed them: each at most once, the last one among the last 20 rows (the fire-and-watch
/// fallback). Returns the line numbers seen after the end, in the order seen.
pub fn long_answer_lines(world: &World, env: &[(String, String)], id: &str) -> Vec<u64> {
    let follower = world.spawn(&["logs", "--id", id, "--plain", "--follow", "--lines", "0"]);
    let sent = harnex(
        world,
        env,
        &[
            "send",
            "--id",
            id,
            "--message",
            &format!("Write a long answer [lines={LONG_ANSWER_LINES}]"),
            "--wait-for-idle",
            "--timeout",
            "90",
        ],
    );
    assert_eq!(sent.code, 0, "{sent:?}");
    let last_line = mock_model::long_answer_line(LONG_ANSWER_LINES, LONG_ANSWER_LINES);
    // Streamed by the follower once the output pauses, before the session ends.
    follower.wait_stdout(&last_line);
    let check = |when: &str| {
        let logs = harnex(
            world,
            env,
            &["logs", "--id", id, "--plain", "--lines", "100000"],
        );
        assert_eq!(logs.code, 0, "{logs:?}");
        let seen = answer_lines(when, &logs.stdout);
        let tail = harnex(
            world,
            env,
            &["logs", "--id", id, "--plain", "--lines", "20"],
        );
        assert!(tail.stdout.contains(&last_line), "{when}: {tail:?}");
        seen
    };
    check("live");
    let stopped = harnex(world, env, &["stop", "--id", id, "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let followed = follower.finish(support::DEADLINE);
    assert_eq!(followed.code, 0, "{followed:?}");
    let streamed = answer_lines("followed", &followed.stdout);
    let seen = check("after exit");
    assert_eq!(streamed, seen, "the follower streamed what the log holds");
    seen
}

/// The numbers of the long answer's rows in `text`, asserting none repeats.
fn answer_lines(when: &str, text: &str) -> Vec<u64> {
    let suffix = format!(" of the long answer ({LONG_ANSWER_LINES} lines).");
    let mut seen = Vec::new();
    for row in text.lines() {
        if let Some(k) = row
            .trim()
            .strip_prefix("Line ")
            .and_then(|rest| rest.strip_suffix(suffix.as_str()))
            .and_then(|k| k.parse::<u64>().ok())
        {
            assert!(!seen.contains(&k), "{when}: line {k} twice in\n{text}");
            seen.push(k);
        }
    }
    seen
}

/// Lines in the answer [`long_answer_lines`] asks for.
pub const LONG_ANSWER_LINES: u64 = 80;
