//! `harnex conversation`: a session's turns from the agent's own records, found through the
//! registry entry (live) or the exit record (ended). The sessions here run bash; the `records`
//! field their supervisor would write for Codex or Claude is planted, pointing at a copy of a
//! recorded rollout or transcript (tests/fixtures/records/).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::schema::{assert_matches, load};
use crate::support::World;

const CODEX_ANSWER: &str = "The mock model says: all done, 42 files checked.";

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/records/{name}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `text` as a record file in the world's temp dir.
fn record_file(world: &World, name: &str, text: &str) -> PathBuf {
    let path = world.root.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Set `records` in the JSON document at `path` the way the supervisor writes it (a fresh file
/// renamed into place, 0600).
fn plant_records(path: &Path, records: Value) {
    let mut doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    doc["records"] = records;
    let tmp = path.with_extension("planting");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn following(source: &str, path: &Path) -> Value {
    json!({"state": "following", "source": source, "path": path, "why": null})
}

fn registry_file(world: &World, id: &str) -> PathBuf {
    let files = world.files_of("sessions", id);
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

fn assert_matches_schema(answer: &Value) {
    assert_matches(&load("conversation.json"), answer, "conversation --json");
}

#[test]
fn an_ended_session_shows_its_turns_from_the_exit_records_file() {
    let world = World::new();
    world.detach_bash("ended");
    let stop = world.run(&["stop", "--id", "ended", "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    let rollout = record_file(&world, "rollout.jsonl", &fixture("codex-0.169.0-two-turns"));
    plant_records(
        &world.files_of("exits", "ended")[0],
        following("codex-rollout", &rollout),
    );

    let json = world.run(&["conversation", "--id", "ended", "--json"]);
    assert_eq!(json.code, 0, "{json:?}");
    let answer = json.json();
    assert_matches_schema(&answer);
    assert_eq!(answer["id"], "ended");
    assert_eq!(answer["source"], "codex-rollout");
    assert_eq!(answer["path"], json!(rollout));
    let turns = answer["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 2, "{answer:#}");
    for (turn, (n, prompt)) in turns.iter().zip([(1, "Say hello"), (2, "Say it again")]) {
        assert_eq!(turn["n"], n);
        assert_eq!(turn["prompt"], prompt);
        assert_eq!(turn["answer"], CODEX_ANSWER);
        assert_eq!(turn["outcome"], "completed");
        assert_eq!(turn["usage"]["total_tokens"], 1290);
        assert_eq!(turn["model"], "mock-model");
    }

    let text = world.run(&["conversation", "--id", "ended"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.starts_with(&format!(
            "turn 1 · completed · 1,290 tokens\nyou: Say hello\ncodex: {CODEX_ANSWER}\n\nturn 2 · "
        )),
        "{text:?}"
    );

    let second = world.run(&["conversation", "--id", "ended", "--turn", "2", "--json"]);
    assert_eq!(second.code, 0, "{second:?}");
    let turns = second.json()["turns"].clone();
    assert_eq!(turns.as_array().map(Vec::len), Some(1), "{second:?}");
    assert_eq!(turns[0]["n"], 2);
    assert_eq!(turns[0]["prompt"], "Say it again");

    let missing = world.run(&["conversation", "--id", "ended", "--turn", "3"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("no turn 3"), "{missing:?}");
    assert!(missing.stderr.contains("2 turn(s)"), "{missing:?}");
}

#[test]
fn a_live_session_shows_a_turn_in_progress_then_its_end_and_masks_secrets() {
    let world = World::new();
    world.detach_bash("live");
    // The transcript so far: the prompt (with a key in it) taken, no answer yet.
    let full = fixture("claude-2.1.328-ok").replace(
        "Say the answer please",
        "Say the answer please, key sk-abcdefghijklmnop1234",
    );
    let end = full.find("\"subtype\":\"turn_duration\"").unwrap();
    let cut = full[..end].rfind('\n').unwrap() + 1;
    let transcript = record_file(&world, "transcript.jsonl", &full[..cut]);
    plant_records(
        &registry_file(&world, "live"),
        following("claude-transcript", &transcript),
    );

    let running = world.run(&["conversation", "--id", "live", "--json"]);
    assert_eq!(running.code, 0, "{running:?}");
    let answer = running.json();
    assert_matches_schema(&answer);
    let turn = &answer["turns"][0];
    assert_eq!(turn["outcome"], Value::Null, "in progress: {answer:#}");
    assert_eq!(turn["ended_at"], Value::Null);
    assert_eq!(turn["prompt"], "Say the answer please, key sk-[redacted]");
    assert!(!running.stdout.contains("abcdefghijklmnop1234"));
    let text = world.run(&["conversation", "--id", "live"]);
    assert!(text.stdout.starts_with("turn 1 · in progress"), "{text:?}");
    assert!(text.stdout.contains("claude: (working…)"), "{text:?}");

    // The agent writes the rest of the turn.
    std::fs::write(&transcript, &full).unwrap();
    let done = world.run(&["conversation", "--id", "live", "--json"]);
    let turn = &done.json()["turns"][0];
    assert_eq!(turn["outcome"], "completed", "{done:?}");
    assert_eq!(turn["answer"], "The mock answer is forty-two.");
    assert_eq!(turn["usage"]["total_tokens"], 166);
}

#[test]
fn a_session_without_records_says_why_and_exits_1() {
    let world = World::new();
    world.detach_bash("plain");
    let run = world.run(&["conversation", "--id", "plain"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("no agent records for plain (records: unavailable"),
        "{run:?}"
    );

    // Records the supervisor could not find: their state and reason are passed on.
    plant_records(
        &registry_file(&world, "plain"),
        json!({"state": "waiting", "source": "codex-rollout", "path": null, "why": null}),
    );
    let waiting = world.run(&["conversation", "--id", "plain", "--json"]);
    assert_eq!(waiting.code, 1, "{waiting:?}");
    assert_eq!(waiting.stdout, "", "{waiting:?}");
    assert!(
        waiting
            .stderr
            .contains("no agent records for plain (records: waiting: "),
        "{waiting:?}"
    );

    let gone = world.run(&["conversation", "--id", "never-ran"]);
    assert_eq!(gone.code, 1, "{gone:?}");
    assert!(gone.stderr.contains("no exit record"), "{gone:?}");
}

#[test]
fn a_record_path_that_is_a_symlink_is_refused() {
    let world = World::new();
    world.detach_bash("linked");
    let real = record_file(&world, "real.jsonl", &fixture("codex-0.171.0-ok"));
    let link = world.root.path().join("link.jsonl");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    plant_records(
        &registry_file(&world, "linked"),
        following("codex-rollout", &link),
    );
    let run = world.run(&["conversation", "--id", "linked"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("symbolic link"), "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
}

#[test]
fn a_record_file_is_read_directly_with_file_and_cli() {
    let world = World::new();
    let path = record_file(
        &world,
        "failed.jsonl",
        &fixture("codex-0.171.0-rate-limited"),
    );
    let path_text = path.to_str().unwrap();
    let run = world.run(&[
        "conversation",
        "--file",
        path_text,
        "--cli",
        "codex",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let answer = run.json();
    assert_matches_schema(&answer);
    assert_eq!(answer["id"], Value::Null);
    let turn = &answer["turns"][0];
    assert_eq!(turn["outcome"], "failed");
    assert_eq!(turn["error"]["kind"], "rate_limited");
    assert_eq!(turn["error"]["http_status"], 429);

    let text = world.run(&["conversation", "--file", path_text, "--cli", "codex"]);
    assert!(
        text.stdout.contains(
            "error (rate_limited, HTTP 429): exceeded retry limit, last status: 429 Too Many Requests"
        ),
        "{text:?}"
    );
    for (args, code) in [
        (vec!["conversation", "--file", path_text], 2),
        (
            vec!["conversation", "--file", path_text, "--cli", "bash"],
            2,
        ),
        (vec!["conversation"], 2),
        (vec!["conversation", "--id", "x", "--turn", "0"], 2),
    ] {
        let run = world.run(&args);
        assert_eq!(run.code, code, "{args:?}: {run:?}");
    }
}
