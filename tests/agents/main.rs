//! End-to-end tests against the real agent CLIs (Codex 0.169.0, Claude Code 2.1.328, OpenCode
//! 1.18.33, Copilot CLI 1.0.102) talking to a mock model server on loopback.
//!
//! The CLIs come from `.ci/install-agents.sh` and `.ci/install-more-agents.sh` (npm, found
//! through `HARNEX_AGENT_BIN_DIR` and `HARNEX_MORE_AGENT_BIN_DIR`). The tests are `#[ignore]`d, so
//! `cargo nextest run` reports them as skipped; `cargo nextest run --run-ignored all` (as `.ci/run` does) runs
//! them, and there a missing CLI fails the test. `HARNEX_AGENT_ALLOW_ANY_VERSION=1` runs them
//! on whatever versions `HARNEX_AGENT_BIN_DIR` holds (to try a new release).

mod mock_chat;
mod mock_gemini;
mod mock_http;
mod mock_model;
#[path = "../integration/support/mod.rs"]
mod support;

mod claude;
mod codex;
mod conversation;
mod copilot;
mod gemini;
mod latency;
mod opencode;
mod send_burst;
mod soak;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use serde_json::Value;

use support::{Run, World};

pub const CODEX_VERSION: &str = "0.169.0";
pub const CLAUDE_VERSION: &str = "2.1.328";
pub const OPENCODE_VERSION: &str = "1.18.33";
pub const COPILOT_VERSION: &str = "1.0.102";

/// What a mock model server saw: the turns it was asked for and every request.
pub trait ModelRequests {
    /// Model requests that start a turn.
    fn request_count(&self) -> usize;
    fn requests(&self) -> Vec<mock_model::RequestRecord>;
}

impl ModelRequests for mock_model::MockModel {
    fn request_count(&self) -> usize {
        mock_model::MockModel::request_count(self)
    }
    fn requests(&self) -> Vec<mock_model::RequestRecord> {
        mock_model::MockModel::requests(self)
    }
}

/// Where the pinned OpenCode and Copilot CLIs live (`.ci/install-more-agents.sh`).
pub struct MoreAgents {
    pub bin_dir: PathBuf,
}

impl MoreAgents {
    fn find() -> Result<MoreAgents, String> {
        let dir = match std::env::var_os("HARNEX_MORE_AGENT_BIN_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
                PathBuf::from(home).join(format!(
                    ".cache/harnex-agents/opencode-{OPENCODE_VERSION}-gemini-0.61.0-copilot-{COPILOT_VERSION}/node_modules/.bin"
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
        let opencode = version("opencode")?;
        let copilot = version("copilot")?;
        if std::env::var_os("HARNEX_AGENT_ALLOW_ANY_VERSION").is_some_and(|v| v == "1") {
            return Ok(MoreAgents { bin_dir: dir });
        }
        if opencode != OPENCODE_VERSION {
            return Err(format!(
                "opencode reports {opencode:?}, tests are pinned to {OPENCODE_VERSION} (set HARNEX_AGENT_ALLOW_ANY_VERSION=1 to run them on another version)"
            ));
        }
        if !copilot.contains(&format!("CLI {COPILOT_VERSION}")) {
            return Err(format!(
                "copilot reports {copilot:?}, tests are pinned to {COPILOT_VERSION} (set HARNEX_AGENT_ALLOW_ANY_VERSION=1 to run them on another version)"
            ));
        }
        Ok(MoreAgents { bin_dir: dir })
    }

    /// The agents; a missing or mispinned CLI fails the test (these tests only run when asked for).
    pub fn require(test: &str) -> MoreAgents {
        match MoreAgents::find() {
            Ok(agents) => agents,
            Err(why) => panic!(
                "{test}: the real OpenCode and Copilot CLIs are required but missing: {why}. Install them with `bash .ci/install-more-agents.sh` (or set HARNEX_MORE_AGENT_BIN_DIR), or run `cargo nextest run` without `--run-ignored` to skip these tests."
            ),
        }
    }

    /// PATH with the agents first.
    pub fn path(&self) -> String {
        let rest = std::env::var("PATH").unwrap_or_default();
        format!("{}:{rest}", self.bin_dir.display())
    }

    /// A cache shared by the tests for what a CLI unpacks on its first run (Copilot's 235 MB
    /// package), next to the install, so each test's own HOME does not unpack it again.
    pub fn shared_cache(&self, name: &str) -> PathBuf {
        let dir = self
            .bin_dir
            .parent()
            .and_then(Path::parent)
            .unwrap_or(&self.bin_dir)
            .join(format!("{name}-cache"));
        std::fs::create_dir_all(&dir).expect("shared cache dir");
        dir
    }
}

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
        let claude = version("claude")?;
        // Trying a newer release against the same checks: HARNEX_AGENT_ALLOW_ANY_VERSION=1.
        if std::env::var_os("HARNEX_AGENT_ALLOW_ANY_VERSION").is_some_and(|v| v == "1") {
            return Ok(Agents { bin_dir: dir });
        }
        if codex != format!("codex-cli {CODEX_VERSION}") {
            return Err(format!(
                "codex reports {codex:?}, tests are pinned to {CODEX_VERSION} (set HARNEX_AGENT_ALLOW_ANY_VERSION=1 to run them on another version)"
            ));
        }
        if !claude.starts_with(CLAUDE_VERSION) {
            return Err(format!(
                "claude reports {claude:?}, tests are pinned to {CLAUDE_VERSION} (set HARNEX_AGENT_ALLOW_ANY_VERSION=1 to run them on another version)"
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

/// `harnex run AGENT --id ID --detach --timeout 60`, which must succeed: its JSON line.
pub fn start_detached(world: &World, env: &[(String, String)], agent: &str, id: &str) -> Value {
    let run = harnex(
        world,
        env,
        &["run", agent, "--id", id, "--detach", "--timeout", "60"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    run.json()
}

/// `harnex wait --id ID --until prompt --timeout SECONDS`, which must succeed.
pub fn wait_for_prompt(world: &World, env: &[(String, String)], id: &str, seconds: u64) {
    let ready = harnex(
        world,
        env,
        &[
            "wait",
            "--id",
            id,
            "--until",
            "prompt",
            "--timeout",
            &seconds.to_string(),
        ],
    );
    assert_eq!(ready.code, 0, "{ready:?}");
}

/// `harnex stop --id ID --wait`: the agent ends as asked (`success`) by its own exit keys,
/// within `within` (the ladder's SIGTERM is not needed). Its exit record.
pub fn stop_cleanly(
    world: &World,
    env: &[(String, String)],
    id: &str,
    within: std::time::Duration,
) -> Value {
    let started = std::time::Instant::now();
    let stopped = harnex(world, env, &["stop", "--id", id, "--wait"]);
    let took = started.elapsed();
    eprintln!("STOP {id}: {took:.2?}");
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let record = stopped.json()["exit"].clone();
    assert_eq!(record["reason"], "success", "{record}");
    assert!(took < within, "stopped after {took:?}");
    record
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
pub fn report_latency(world: &World, mock: &impl ModelRequests, agent: &str) -> Vec<(f64, f64)> {
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
        assert!(
            done["source"] == "record" || done["source"] == "hook",
            "{done}"
        );
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
    mock: &impl ModelRequests,
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

/// What one `send --wait-for-idle` of a turn that the mock answers or fails returned.
pub struct TurnResult {
    pub code: i32,
    pub json: Value,
    pub took: std::time::Duration,
}

/// Send `message` and wait for the turn to end (the mock's markers decide how it ends).
pub fn send_turn(world: &World, env: &[(String, String)], id: &str, message: &str) -> TurnResult {
    let started = std::time::Instant::now();
    let sent = harnex(
        world,
        env,
        &[
            "send",
            "--id",
            id,
            "--message",
            message,
            "--wait-for-idle",
            "--timeout",
            "60",
        ],
    );
    let took = started.elapsed();
    eprintln!(
        "TURN {id} {message:?}: exit {} after {took:.1?}: {}",
        sent.code,
        sent.stdout.trim()
    );
    let json = sent.json();
    TurnResult {
        code: sent.code,
        json,
        took,
    }
}

/// As [`send_turn`], and while the turn runs, what `harnex explain` says of it: every retry
/// the verdict carried (`{attempt, max}`), with the state it was reported in; and every
/// `retrying` `status --json` showed, with the state `"status"`.
pub fn send_turn_watching_retries(
    world: &World,
    env: &[(String, String)],
    id: &str,
    message: &str,
) -> (TurnResult, Vec<(String, Value)>) {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let sender = s.spawn(|| {
            let turn = send_turn(world, env, id, message);
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            turn
        });
        let mut seen: Vec<(String, Value)> = Vec::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let explained = harnex(world, env, &["explain", "--id", id, "--json"]);
            if explained.code == 0 {
                let answer = explained.json();
                let retry = &answer["verdict"]["retry"];
                if retry.is_object() && seen.last().map(|(_, r)| r) != Some(retry) {
                    let state = answer["state"].as_str().unwrap_or("?").to_string();
                    seen.push((state, retry.clone()));
                }
            }
            let status = harnex(world, env, &["status", "--id", id, "--json"]);
            if status.code == 0 {
                let status = status.json();
                let retrying = &status[0]["retrying"];
                if retrying.is_object() && !seen.iter().any(|(s, r)| s == "status" && r == retrying)
                {
                    seen.push(("status".into(), retrying.clone()));
                }
            }
        }
        eprintln!("RETRIES {id} {message:?}: {seen:?}");
        (sender.join().expect("send thread"), seen)
    })
}

/// The mock's usage of one answered request, as harnex reports it (input counts the cached
/// tokens too; Claude reports no reasoning tokens).
pub fn mock_turn_usage(with_reasoning: bool) -> Value {
    use mock_model::*;
    serde_json::json!({
        "input_tokens": USAGE_INPUT_TOKENS,
        "cached_input_tokens": USAGE_CACHED_TOKENS,
        "output_tokens": USAGE_OUTPUT_TOKENS,
        "reasoning_tokens": if with_reasoning { Value::from(USAGE_REASONING_TOKENS) } else { Value::Null },
        "total_tokens": USAGE_INPUT_TOKENS + USAGE_OUTPUT_TOKENS,
    })
}

/// `usage` as harnex reported it, `times` answered requests of the mock; reasoning tokens that
/// the agent reports as 0 count as not reported.
pub fn assert_usage(usage: &Value, times: u64, with_reasoning: bool, context: &str) {
    let expected = mock_turn_usage(with_reasoning);
    for field in [
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "total_tokens",
    ] {
        let want = expected[field].as_u64().map(|n| n * times);
        let got = usage[field].as_u64().filter(|n| with_reasoning || *n > 0);
        assert_eq!(got, want, "usage.{field} ({context}): {usage}");
    }
}

/// A failed turn: exit 1, outcome `failed`, the error of `kind` with the agent's message (and
/// `http_status` where one was sent), no answer.
pub fn assert_failed(turn: &TurnResult, kind: &str, status: Option<u16>) {
    let json = &turn.json;
    assert_eq!(turn.code, 1, "a failed turn exits 1: {json}");
    assert_eq!(json["outcome"], "failed", "{json}");
    assert_eq!(json["error"]["kind"], kind, "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "the agent's own message: {json}"
    );
    if let Some(status) = status {
        assert_eq!(json["error"]["http_status"], status, "{json}");
    }
    assert!(
        json["answer"].as_str().unwrap_or("").is_empty(),
        "no answer from a failed turn: {json}"
    );
}

/// The prompts [`five_turn_outcomes`] sends, and how each turn ends.
pub const FIVE_TURNS: [(&str, &str, &str); 5] = [
    ("Say the answer", "completed", "-"),
    ("Say it again [fail=429]", "failed", "rate_limited"),
    ("Once more [fail=529]", "failed", "overloaded"),
    ("And again [cut-stream]", "failed", "disconnected"),
    ("Say the answer once more", "completed", "-"),
];

/// `harnex conversation --id ID --json` tells the five turns from the agent's records: who
/// said what and how each ended, with the answer and usage of the good ones.
pub fn assert_conversation(
    world: &World,
    env: &[(String, String)],
    id: &str,
    with_reasoning: bool,
) {
    let shown = harnex(world, env, &["conversation", "--id", id, "--json"]);
    assert_eq!(shown.code, 0, "{shown:?}");
    let conversation = shown.json();
    let turns = conversation["turns"].as_array().expect("turns");
    assert_eq!(turns.len(), FIVE_TURNS.len(), "{conversation:#}");
    for (turn, (prompt, outcome, kind)) in turns.iter().zip(FIVE_TURNS) {
        assert!(
            turn["prompt"].as_str().is_some_and(|p| p.contains(prompt)),
            "{prompt}: {turn:#}"
        );
        assert_eq!(turn["outcome"], outcome, "{turn:#}");
        assert_eq!(
            turn["error"]["kind"].as_str().unwrap_or("-"),
            kind,
            "{turn:#}"
        );
        if outcome == "completed" {
            assert_eq!(turn["answer"], mock_model::ANSWER, "{turn:#}");
            assert_usage(&turn["usage"], 1, with_reasoning, prompt);
        } else {
            assert!(turn["answer"].as_str().unwrap_or("").is_empty(), "{turn:#}");
        }
    }
}

/// Five turns on a live agent against the mock: a good one, a 429 until the agent gives up, a
/// 529, a stream cut in the middle of the answer, and a good one again. Each is reported with
/// its outcome, error kind, answer and usage while the agent runs; the events hold exactly one
/// turn-end row per turn; status names the record file it follows.
pub fn five_turn_outcomes(
    world: &World,
    env: &[(String, String)],
    mock: &mock_model::MockModel,
    id: &str,
    with_reasoning: bool,
) {
    use mock_model::ANSWER;
    let good = send_turn(world, env, id, FIVE_TURNS[0].0);
    assert_eq!(good.code, 0, "{}", good.json);
    assert_eq!(good.json["outcome"], "completed", "{}", good.json);
    assert_eq!(good.json["answer"], ANSWER, "{}", good.json);
    assert_usage(&good.json["usage"]["turn"], 1, with_reasoning, "turn 1");
    assert_usage(
        &good.json["usage"]["session"],
        1,
        with_reasoning,
        "after turn 1",
    );
    let model = mock
        .requests()
        .iter()
        .rev()
        .find(|r| r.kind == mock_model::RequestKind::Main)
        .map(|r| r.model.clone())
        .expect("a main request");
    assert_eq!(good.json["usage"]["model"], model.as_str(), "{}", good.json);
    assert!(
        good.json["source"] == "record" || good.json["source"] == "hook",
        "{}",
        good.json
    );

    let status = harnex(world, env, &["status", "--id", id, "--json"]).json();
    let records = &status[0]["records"];
    assert_eq!(records["state"], "following", "{status}");
    let path = records["path"].as_str().expect("records.path");
    assert!(std::path::Path::new(path).is_file(), "{status}");
    assert_usage(
        &status[0]["usage"],
        1,
        with_reasoning,
        "status after turn 1",
    );
    assert_eq!(status[0]["last_turn"]["outcome"], "completed", "{status}");

    let (limited, retries) = send_turn_watching_retries(world, env, id, FIVE_TURNS[1].0);
    assert_failed(&limited, "rate_limited", Some(429));
    // While the agent retried, its screen said so and the session stayed busy.
    assert!(!retries.is_empty(), "no retry seen while the agent retried");
    assert!(
        retries.iter().any(|(state, _)| state == "status"),
        "status --json showed no retrying: {retries:?}"
    );
    for (state, retry) in &retries {
        assert!(state == "busy" || state == "status", "{retries:?}");
        assert!(
            retry["attempt"].as_u64().is_some_and(|a| a >= 1),
            "{retries:?}"
        );
        // The screen counts attempts against a maximum; Claude's transcript only shows that it
        // re-sent its request.
        if retry["source"] != "record" {
            assert!(retry["max"].as_u64().is_some_and(|m| m >= 1), "{retries:?}");
        }
    }
    let overloaded = send_turn(world, env, id, FIVE_TURNS[2].0);
    assert_failed(&overloaded, "overloaded", Some(529));
    let cut = send_turn(world, env, id, FIVE_TURNS[3].0);
    assert_failed(&cut, "disconnected", None);
    for turn in [&limited, &overloaded, &cut] {
        assert!(
            turn.took < std::time::Duration::from_secs(30),
            "gave up in {:?}",
            turn.took
        );
        // No request was answered: the turn cost nothing, the session's totals stand.
        let usage = &turn.json["usage"];
        assert_eq!(
            usage["turn"]["total_tokens"].as_u64().unwrap_or(0),
            0,
            "{usage}"
        );
        assert_usage(&usage["session"], 1, with_reasoning, "after a failed turn");
    }
    let status = harnex(world, env, &["status", "--id", id, "--json"]).json();
    assert_eq!(status[0]["last_turn"]["outcome"], "failed", "{status}");
    assert_eq!(
        status[0]["last_turn"]["error"]["kind"], "disconnected",
        "{status}"
    );

    let again = send_turn(world, env, id, FIVE_TURNS[4].0);
    assert_eq!(again.code, 0, "{}", again.json);
    assert_eq!(again.json["outcome"], "completed", "{}", again.json);
    assert_eq!(again.json["answer"], ANSWER, "{}", again.json);
    assert_usage(&again.json["usage"]["turn"], 1, with_reasoning, "turn 5");
    assert_usage(
        &again.json["usage"]["session"],
        2,
        with_reasoning,
        "after turn 5",
    );

    // One turn-end row per turn, in order, each from its source with its key. The row is
    // written just after the waiter is answered, so the last one may still be on its way.
    let task_completes = || -> Vec<Value> {
        world
            .events()
            .into_iter()
            .filter(|r| r["type"] == "task_complete")
            .collect()
    };
    let ends = support::wait_until(
        "a task_complete row per turn",
        std::time::Duration::from_secs(2),
        || {
            let ends = task_completes();
            (ends.len() >= FIVE_TURNS.len()).then_some(ends)
        },
    );
    let outcomes: Vec<(&str, &str)> = ends
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap_or("?"),
                r["error"]["kind"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    let expected: Vec<(&str, &str)> = FIVE_TURNS.iter().map(|(_, o, k)| (*o, *k)).collect();
    let brief: Vec<String> = ends
        .iter()
        .map(|r| {
            format!(
                "turn {} {} {} source={} key={} ts={}",
                r["turn"], r["outcome"], r["error"], r["source"], r["key"], r["ts"]
            )
        })
        .collect();
    assert_eq!(outcomes, expected, "{brief:#?}");
    let keys: std::collections::HashSet<&str> =
        ends.iter().filter_map(|r| r["key"].as_str()).collect();
    assert_eq!(keys.len(), 5, "one key per turn: {ends:#?}");
    assert_eq!(ends[0]["answer"], ANSWER);
    // A usage row from the records after each answered request, while the agent runs, with
    // the session's totals so far.
    let usage_rows: Vec<Value> = world
        .events()
        .into_iter()
        .filter(|r| r["type"] == "usage" && r["source"] == "record")
        .collect();
    assert_eq!(usage_rows.len(), 2, "{usage_rows:#?}");
    let last = usage_rows.last().expect("a usage row");
    assert_usage(
        &last["request"],
        1,
        with_reasoning,
        "last usage row's request",
    );
    let per_turn = mock_model::USAGE_INPUT_TOKENS + mock_model::USAGE_OUTPUT_TOKENS;
    assert_eq!(last["total_tokens"], 2 * per_turn, "{last}");
    assert_eq!(
        last["output_tokens"],
        2 * mock_model::USAGE_OUTPUT_TOKENS,
        "{last}"
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
/// A turn whose model answer is a shell command (the chat mock's `[tool]`): the agent asks
/// first, harnex reports it blocked with `reason` and the keys that answer it; sending those
/// keys runs the command and the turn ends at the prompt.
pub fn tool_dialog_is_blocked_and_answered(
    world: &World,
    env: &[(String, String)],
    id: &str,
    reason: &str,
) {
    let sent = harnex(
        world,
        env,
        &["send", "--id", id, "--message", "Run it [tool]"],
    );
    assert_eq!(sent.code, 0, "{sent:?}");
    let status = support::wait_until("the approval dialog", support::DEADLINE, || {
        let status = harnex(world, env, &["status", "--id", id, "--json"]).json();
        (status[0]["agent_state"] == "blocked").then_some(status)
    });
    let input = &status[0]["input_state"];
    assert_eq!(input["state"], reason, "{status}");
    let keys: Vec<String> = input["accept_keys"]
        .as_array()
        .expect("accept_keys")
        .iter()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    assert!(!keys.is_empty(), "{status}");
    assert!(
        !world.repo.join(mock_chat::TOOL_FILE).exists(),
        "the command waits for the answer"
    );
    let answered = harnex(world, env, &["send", "--id", id, "--keys", &keys.join(",")]);
    assert_eq!(answered.code, 0, "{answered:?}");
    support::wait_until("the command ran", support::DEADLINE, || {
        world.repo.join(mock_chat::TOOL_FILE).exists().then_some(())
    });
    wait_for_prompt(world, env, id, 30);
    assert!(
        world.screen(id).contains(mock_model::ANSWER),
        "{}",
        world.screen(id)
    );
}
