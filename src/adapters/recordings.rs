//! The adapters against real recordings of Codex, Claude, OpenCode and Copilot (tests/fixtures/agents/*.cast,
//! asciicast v2): replayed through vt100 at their size on their own clock, each must produce the
//! state sequence its README gives.

use std::path::PathBuf;

use super::{Adapter, Claude, Codex, Copilot, Gemini, Observation, OpenCode, Retry};
use crate::replay::{Cast, Replay, replay};
use crate::vocab::AgentState::{self, Blocked, Busy, Prompt, Starting};

/// What the mock model answered in every recording.
const MOCK_ANSWER: &str = "Done. The mock agent finished the task.";

fn load(name: &str) -> Cast {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agents")
        .join(name);
    Cast::load(&path).expect("fixture loads")
}

fn run(name: &str, adapter: &dyn Adapter) -> (Cast, Replay) {
    let cast = load(name);
    let result = replay(&cast, adapter);
    (cast, result)
}

/// Time of the n-th input event containing `needle`.
fn input_time(cast: &Cast, needle: &str, nth: usize) -> f64 {
    cast.events
        .iter()
        .filter(|e| e.kind == 'i' && e.data.contains(needle))
        .nth(nth)
        .map(|e| e.time)
        .expect("input event")
}

/// States up to the `/exit` (after it the agent exits; a live session reports `exited`).
fn states_before_exit(cast: &Cast, result: &Replay) -> Vec<AgentState> {
    result.states_until(input_time(cast, "/exit", 0))
}

fn time_of(result: &Replay, to: AgentState, nth: usize) -> f64 {
    result
        .steps
        .iter()
        .filter(|s| s.to == to)
        .nth(nth)
        .map(|s| s.time)
        .unwrap_or_else(|| panic!("no {to:?} #{nth} in {:?}", result.states()))
}

/// A recording of one turn: prompt, busy from the Enter until the answer, prompt again, and
/// one completed turn. Returns the recording, the replay and when the prompt came back.
fn assert_one_turn(name: &str, adapter: &dyn Adapter) -> (Cast, Replay, f64) {
    let (cast, result) = run(name, adapter);
    assert_eq!(
        states_before_exit(&cast, &result),
        [Starting, Prompt, Busy, Prompt],
        "{:#?}",
        result.steps
    );
    let enter = input_time(&cast, "\r", 0);
    let busy = time_of(&result, Busy, 0);
    assert!(
        busy >= enter && busy - enter < 0.5,
        "busy at {busy}, Enter at {enter}"
    );
    let idle = time_of(&result, Prompt, 1);
    // The mock answers after 4 s; the prompt must not come back before the answer is drawn.
    assert!(
        idle - enter > 3.9,
        "prompt again at {idle}, Enter at {enter}"
    );
    assert_eq!(result.turns_completed.len(), 1);
    (cast, result, idle)
}

#[test]
fn codex_turn_is_prompt_busy_prompt_and_busy_spans_the_turn() {
    let (cast, _, idle) = assert_one_turn("codex-0.169.0-turn-120x40.cast", &Codex);
    assert!(idle < input_time(&cast, "/exit", 0));
    let summary = Codex.parse_exit_summary(
        &cast
            .events
            .iter()
            .filter(|e| e.kind == 'o')
            .map(|e| e.data.as_str())
            .collect::<String>(),
    );
    assert_eq!(summary.total_tokens, Some(1090));
    assert_eq!(summary.input_tokens, Some(1034));
    assert_eq!(summary.cached_tokens, Some(200));
    assert_eq!(summary.output_tokens, Some(56));
    assert_eq!(summary.reasoning_tokens, Some(7));
    assert!(summary.agent_session_id.is_some());
}

#[test]
fn codex_trust_dialog_is_blocked_until_enter() {
    let (cast, result) = run("codex-0.169.0-trust-dialog-100x30.cast", &Codex);
    assert_eq!(
        states_before_exit(&cast, &result),
        [Starting, Blocked, Prompt],
        "{:#?}",
        result.steps
    );
    let dialog = result.steps[0].dialog.clone().expect("a dialog");
    assert_eq!(dialog.reason, "workspace-trust");
    assert_eq!(dialog.accept_keys, ["Enter"]);
    assert!(dialog.enter_is_safe);
    let prompt = time_of(&result, Prompt, 0);
    assert!(prompt > input_time(&cast, "\r", 0));
}

#[test]
fn claude_turn_is_prompt_busy_prompt_and_busy_spans_the_turn() {
    assert_one_turn("claude-2.1.328-turn-120x40.cast", &Claude);
}

#[test]
fn claude_dialogs_are_blocked_with_the_keys_that_accept_them() {
    let (cast, result) = run("claude-2.1.328-dialogs-100x30.cast", &Claude);
    let blocked: Vec<_> = result
        .steps
        .iter()
        .filter(|s| matches!(s.verdict.observation, Observation::Blocked(_)))
        .collect();
    let first = blocked
        .first()
        .and_then(|s| s.dialog.clone())
        .expect("trust dialog");
    assert_eq!(first.reason, "workspace-trust");
    assert_eq!(first.accept_keys, ["Down", "Enter"]);
    assert!(!first.enter_is_safe, "Enter alone answers \"No, exit\"");
    // The bypass dialog that follows the trust answer is a row of its own.
    assert_eq!(
        states_before_exit(&cast, &result),
        [Starting, Blocked, Blocked, Prompt],
        "{:#?}",
        result.steps
    );
    let reasons: Vec<String> = blocked
        .iter()
        .filter_map(|s| s.dialog.as_ref().map(|d| d.reason.clone()))
        .collect();
    assert_eq!(reasons.first().map(String::as_str), Some("workspace-trust"));
}

#[test]
fn claude_bypass_dialog_is_its_own_reason() {
    let cast = load("claude-2.1.328-dialogs-100x30.cast");
    let views = crate::replay::screens_at(&cast, &[1.0, 3.0, 4.0]);
    let reasons: Vec<String> = views
        .iter()
        .map(|(_, view)| match Claude.classify(view).observation {
            Observation::Blocked(d) => format!("{}:{}", d.reason, d.accept_keys.join(",")),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "workspace-trust:Down,Enter",
            "bypass-permissions:Down,Enter",
            "bypass-permissions:Enter"
        ]
    );
}

/// Every retry the adapter reads while replaying a recording of a failing turn, in order
/// (repeats folded), checking that each is a busy verdict.
fn retries_seen(cast: &Cast, adapter: &dyn Adapter) -> Vec<Retry> {
    let times: Vec<f64> = cast.events.iter().map(|e| e.time + 1e-4).collect();
    let mut seen: Vec<Retry> = Vec::new();
    for (time, view) in crate::replay::screens_at(cast, &times) {
        let verdict = adapter.classify(&view);
        let Some(retry) = verdict.retry else { continue };
        assert_eq!(
            verdict.observation,
            Observation::Busy,
            "at {time}: {verdict:?}"
        );
        if seen.last() != Some(&retry) {
            seen.push(retry);
        }
    }
    seen
}

/// A turn the model failed: prompt, busy through every retry, then prompt once the agent gave
/// up; the retries count up to the agent's maximum, and none is read after the turn.
fn assert_failed_turn(name: &str, adapter: &dyn Adapter, max: u32) -> Vec<Retry> {
    let retries = assert_failed_turn_seen(name, adapter);
    assert_eq!(
        retries.last().map(|r| (r.attempt, r.max)),
        Some((max, Some(max))),
        "{name}: {retries:?}"
    );
    retries
}

/// As [`assert_failed_turn`], for a turn whose last retries go by faster than the screen is
/// redrawn (a stream cut at once): some retry is read, whichever.
fn assert_failed_turn_seen(name: &str, adapter: &dyn Adapter) -> Vec<Retry> {
    let (cast, result) = run(name, adapter);
    assert_eq!(
        states_before_exit(&cast, &result),
        [Starting, Prompt, Busy, Prompt],
        "{:#?}",
        result.steps
    );
    let retries = retries_seen(&cast, adapter);
    let attempts: Vec<u32> = retries.iter().map(|r| r.attempt).collect();
    assert!(
        attempts.windows(2).all(|w| w[0] <= w[1]),
        "attempts count up: {retries:?}"
    );
    assert!(!retries.is_empty(), "{name}: no retry read");
    let given_up = time_of(&result, Prompt, 1);
    let after = crate::replay::screens_at(&cast, &[given_up + 0.1]);
    assert_eq!(adapter.classify(&after[0].1).retry, None);
    retries
}

/// The pinned versions and the newest published on 2026-12-03 draw the same retry lines.
const CODEX_VERSIONS: [&str; 2] = ["0.169.0", "0.171.0"];
const CLAUDE_VERSIONS: [&str; 2] = ["2.1.328", "2.1.332"];

/// What the retries read from one recording of a failed turn must be.
enum Retries {
    /// They count up to the agent's maximum, `last`/`last`; and, when given, exactly these
    /// attempts.
    UpTo {
        last: u32,
        attempts: Option<&'static [u32]>,
    },
    /// The last retries go by faster than the screen is redrawn (a stream cut at once): some
    /// are read, each out of `max`.
    SomeOf { max: u32 },
}

/// A recording of a failed turn, replayed for every version of the agent.
struct FailedTurn {
    agent: &'static str,
    versions: &'static [&'static str],
    adapter: &'static dyn Adapter,
    /// The failure as the file names it.
    failure: &'static str,
    retries: Retries,
}

impl FailedTurn {
    const fn codex(failure: &'static str, retries: Retries) -> FailedTurn {
        FailedTurn {
            agent: "codex",
            versions: &CODEX_VERSIONS,
            adapter: &Codex,
            failure,
            retries,
        }
    }

    const fn claude(failure: &'static str, retries: Retries) -> FailedTurn {
        FailedTurn {
            agent: "claude",
            versions: &CLAUDE_VERSIONS,
            adapter: &Claude,
            failure,
            retries,
        }
    }
}

/// Codex and Claude retrying a 429, a 529 and a cut stream.
const FAILED_TURNS: [FailedTurn; 6] = [
    FailedTurn::codex(
        "rate-limited",
        Retries::UpTo {
            last: 5,
            attempts: Some(&[1, 2, 3, 4, 5]),
        },
    ),
    FailedTurn::codex(
        "overloaded",
        Retries::UpTo {
            last: 5,
            attempts: None,
        },
    ),
    FailedTurn::codex("stream-cut", Retries::SomeOf { max: 5 }),
    FailedTurn::claude(
        "rate-limited",
        Retries::UpTo {
            last: 2,
            attempts: None,
        },
    ),
    FailedTurn::claude(
        "overloaded",
        Retries::UpTo {
            last: 4,
            attempts: Some(&[1, 2, 3, 4]),
        },
    ),
    FailedTurn::claude(
        "stream-cut",
        Retries::UpTo {
            last: 2,
            attempts: None,
        },
    ),
];

/// Every recording of [`FAILED_TURNS`] is busy with each retry attempt; all are replayed, and a
/// failure names each recording that failed.
#[test]
fn failed_turns_are_busy_with_each_retry_attempt() {
    let mut failed = Vec::new();
    for turn in &FAILED_TURNS {
        for version in turn.versions {
            let name = format!("{}-{version}-{}-120x40.cast", turn.agent, turn.failure);
            let check = || check_failed_turn(&name, turn.adapter, &turn.retries);
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).is_err() {
                failed.push(name);
            }
        }
    }
    assert!(
        failed.is_empty(),
        "these recordings failed (see above): {failed:?}"
    );
}

fn check_failed_turn(name: &str, adapter: &dyn Adapter, expected: &Retries) {
    match expected {
        Retries::UpTo { last, attempts } => {
            let retries = assert_failed_turn(name, adapter, *last);
            assert_eq!(
                retries.first().map(|r| r.attempt),
                Some(1),
                "{name}: {retries:?}"
            );
            if let Some(attempts) = attempts {
                let seen: Vec<u32> = retries.iter().map(|r| r.attempt).collect();
                assert_eq!(seen, *attempts, "{name}: {retries:?}");
            }
        }
        Retries::SomeOf { max } => {
            let retries = assert_failed_turn_seen(name, adapter);
            assert!(
                retries.iter().all(|r| r.max == Some(*max)),
                "{name}: {retries:?}"
            );
        }
    }
}

#[test]
fn a_turn_that_succeeds_shows_no_retry() {
    for (name, adapter) in [
        ("codex-0.169.0-turn-120x40.cast", &Codex as &dyn Adapter),
        ("claude-2.1.328-turn-120x40.cast", &Claude),
    ] {
        assert_eq!(retries_seen(&load(name), adapter), [], "{name}");
    }
}

/// The state sequence of a recording up to the n-th input event containing `needle` (the exit
/// key), and the dialog of each blocked step.
fn states_until_input(cast: &Cast, result: &Replay, needle: &str) -> Vec<AgentState> {
    result.states_until(input_time(cast, needle, 0))
}

/// A tool turn: busy from the Enter, blocked on the approval dialog until the key that answers
/// it, busy again while the command and the answer run, then prompt.
fn assert_tool_turn(
    cast: &Cast,
    result: &Replay,
    reason: &str,
    accept_keys: &[&str],
    enter: usize,
) {
    let blocked = result
        .steps
        .iter()
        .find(|s| s.to == Blocked && s.dialog.as_ref().is_some_and(|d| d.reason == reason))
        .unwrap_or_else(|| panic!("no {reason} dialog: {:#?}", result.steps));
    let dialog = blocked.dialog.clone().expect("a dialog");
    assert_eq!(dialog.accept_keys, accept_keys);
    assert!(dialog.enter_is_safe);
    // The dialog is left only after the key that answers it.
    let answered = input_time(cast, "\r", enter);
    let left = result
        .steps
        .iter()
        .find(|s| s.from == Blocked && s.time > blocked.time)
        .expect("the dialog is answered");
    assert!(
        left.time >= answered && left.time - answered < 0.5,
        "left the dialog at {}, key at {answered}",
        left.time
    );
}

#[test]
fn opencode_turn_and_permission_dialog_follow_the_screen() {
    let (cast, result) = run("opencode-1.18.33-turn-permission-120x40.cast", &OpenCode);
    assert_eq!(
        states_until_input(&cast, &result, "\u{3}"),
        [Starting, Prompt, Busy, Prompt, Busy, Blocked, Busy, Prompt],
        "{:#?}",
        result.steps
    );
    // OpenCode draws nothing for seconds after start: no prompt before its input box.
    let first_prompt = time_of(&result, Prompt, 0);
    let drawn = cast
        .events
        .iter()
        .find(|e| e.kind == 'o' && e.data.contains("Ask anything"))
        .map(|e| e.time)
        .expect("the input box is drawn");
    assert!(
        first_prompt >= drawn,
        "prompt at {first_prompt}, box drawn at {drawn}"
    );
    // The 4 s answer: busy is not left before it is drawn.
    let enter = input_time(&cast, "\r", 0);
    let idle = time_of(&result, Prompt, 1);
    assert!(
        idle - enter > 3.9,
        "prompt again at {idle}, Enter at {enter}"
    );
    assert_tool_turn(&cast, &result, "permission", &["Enter"], 2);
    assert_eq!(result.turns_completed.len(), 2);
    let output: String = cast
        .events
        .iter()
        .filter(|e| e.kind == 'o')
        .map(|e| e.data.as_str())
        .collect();
    assert!(
        OpenCode
            .parse_exit_summary(&output)
            .agent_session_id
            .is_some_and(|id| id.starts_with("ses_"))
    );
}

#[test]
fn copilot_trust_turn_and_command_dialog_follow_the_screen() {
    let (cast, result) = run("copilot-1.0.102-trust-turn-command-120x40.cast", &Copilot);
    assert_eq!(
        states_until_input(&cast, &result, "\u{4}"),
        [
            Starting, Blocked, Prompt, Busy, Prompt, Busy, Blocked, Busy, Prompt
        ],
        "{:#?}",
        result.steps
    );
    // Copilot turns its footer idle while it still types the answer out: the prompt comes
    // only once the whole answer is on screen.
    for nth in [1, 2] {
        let idle = time_of(&result, Prompt, nth);
        let (_, view) = &crate::replay::screens_at(&cast, &[idle])[0];
        let answers = view.text().matches(MOCK_ANSWER).count();
        assert_eq!(answers, nth, "prompt #{nth} at {idle}:\n{}", view.text());
    }
    let trust = result.steps[0].dialog.clone().expect("the trust dialog");
    assert_eq!(trust.reason, "workspace-trust");
    assert_eq!(trust.accept_keys, ["Enter"]);
    let enter = input_time(&cast, "\r", 1);
    let idle = time_of(&result, Prompt, 1);
    assert!(
        idle - enter > 3.9,
        "prompt again at {idle}, Enter at {enter}"
    );
    assert_tool_turn(&cast, &result, "permission", &["Enter"], 3);
    assert_eq!(result.turns_completed.len(), 2);
    let output: String = cast
        .events
        .iter()
        .filter(|e| e.kind == 'o')
        .map(|e| e.data.as_str())
        .collect();
    assert_eq!(
        Copilot
            .parse_exit_summary(&output)
            .agent_session_id
            .map(|id| id.len()),
        Some(36)
    );
}

/// Gemini exits on its second Ctrl+D; its states before the first.
fn gemini_states_before_exit(cast: &Cast, result: &Replay) -> Vec<AgentState> {
    result.states_until(input_time(cast, "\u{4}", 0))
}

#[test]
fn gemini_turn_is_prompt_busy_prompt_and_busy_spans_the_turn() {
    let (cast, result) = run("gemini-0.61.0-turn-120x40.cast", &Gemini);
    assert_eq!(
        gemini_states_before_exit(&cast, &result),
        [Starting, Prompt, Busy, Prompt],
        "{:#?}",
        result.steps
    );
    // Sent while Gemini still initialised, the message waits in its queue: busy from the Enter.
    let enter = input_time(&cast, "\r", 0);
    let busy = time_of(&result, Busy, 0);
    assert!(
        busy >= enter && busy - enter < 0.5,
        "busy at {busy}, Enter at {enter}"
    );
    let idle = time_of(&result, Prompt, 1);
    let answer = cast
        .events
        .iter()
        .find(|e| e.kind == 'o' && e.data.contains("mock agent finished"))
        .map(|e| e.time)
        .expect("the answer");
    assert!(
        idle >= answer && idle - answer < 0.5,
        "prompt again at {idle}, answer drawn at {answer}"
    );
    assert_eq!(result.turns_completed.len(), 1);
}

#[test]
fn gemini_trust_dialog_is_blocked_until_enter() {
    let (cast, result) = run("gemini-0.61.0-trust-dialog-100x30.cast", &Gemini);
    let states = gemini_states_before_exit(&cast, &result);
    let blocked = result
        .steps
        .iter()
        .find(|s| s.to == Blocked)
        .unwrap_or_else(|| panic!("no blocked: {:#?}", result.steps));
    let dialog = blocked.dialog.clone().expect("a dialog");
    assert_eq!(dialog.reason, "workspace-trust");
    assert_eq!(dialog.accept_keys, ["Enter"]);
    assert!(dialog.enter_is_safe);
    let enter = input_time(&cast, "\r", 0);
    assert!(blocked.time < enter);
    // Gemini draws its input box for a moment before the dialog: that is not a prompt to send to.
    let early: Vec<AgentState> = result
        .steps
        .iter()
        .filter(|s| s.time < blocked.time)
        .map(|s| s.to)
        .collect();
    assert!(!early.contains(&Prompt), "{:#?}", result.steps);
    // After Enter Gemini restarts itself (busy), then shows its prompt.
    let after: Vec<AgentState> = result
        .steps
        .iter()
        .filter(|s| s.time > enter && s.time < input_time(&cast, "\u{4}", 0))
        .map(|s| s.to)
        .collect();
    assert_eq!(after.last(), Some(&Prompt), "{states:?}");
    assert!(!after.contains(&Blocked), "{states:?}");
}

#[test]
fn gemini_tool_dialog_is_blocked_until_enter_then_the_turn_ends() {
    let (cast, result) = run("gemini-0.61.0-tool-dialog-100x30.cast", &Gemini);
    assert_eq!(
        gemini_states_before_exit(&cast, &result),
        [Starting, Prompt, Busy, Blocked, Busy, Prompt],
        "{:#?}",
        result.steps
    );
    let blocked = result
        .steps
        .iter()
        .find(|s| s.to == Blocked)
        .expect("blocked");
    let dialog = blocked.dialog.clone().expect("a dialog");
    assert_eq!(dialog.reason, "permission");
    assert_eq!(dialog.accept_keys, ["Enter"]);
    assert!(dialog.enter_is_safe);
    assert_eq!(blocked.verdict.rule, "gemini.tool-dialog");
    assert!(time_of(&result, Busy, 1) > input_time(&cast, "\r", 1));
    assert_eq!(result.turns_completed.len(), 1);
}
