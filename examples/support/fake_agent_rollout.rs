//! The fake agent's Codex-style rollout (`--codex-rollout`): the rows Codex writes to
//! `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl`, held open for the agent's life
//! as Codex does, created at the first turn as Codex does. Tests use it to drive harnex's
//! record follower without the real CLI; the rows' shapes are the ones in
//! `tests/fixtures/records/codex-0.169.0-*.jsonl`.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};

/// Tokens every answered turn reports (as the real agents' mock does).
const INPUT: u64 = 1234;
const CACHED: u64 = 200;
const OUTPUT: u64 = 56;
const REASONING: u64 = 7;

pub struct Rollout {
    file: File,
    turns: u64,
}

impl Rollout {
    /// Create the rollout under `$CODEX_HOME/sessions` and write its first line.
    pub fn create() -> Option<Rollout> {
        let home = PathBuf::from(std::env::var_os("CODEX_HOME")?);
        let now = harnex::time::now_rfc3339();
        let (date, time) = now.split_once('T')?;
        let day = home.join("sessions").join(date.replace('-', "/"));
        std::fs::create_dir_all(&day).ok()?;
        let id = harnex::ids::uuid_v4();
        let stamp = time.get(..8)?.replace(':', "-");
        let path = day.join(format!("rollout-{date}T{stamp}-{id}.jsonl"));
        let file = File::options().create(true).append(true).open(path).ok()?;
        let mut rollout = Rollout { file, turns: 0 };
        let cwd = std::env::current_dir().ok()?;
        rollout.row(
            "session_meta",
            json!({"id": id, "session_id": id, "cwd": cwd, "source": "cli", "cli_version": "fake"}),
        );
        Some(rollout)
    }

    fn row(&mut self, kind: &str, payload: Value) {
        let line =
            json!({"timestamp": harnex::time::now_rfc3339(), "type": kind, "payload": payload});
        let _ = writeln!(self.file, "{line}");
    }

    fn event(&mut self, payload: Value) {
        self.row("event_msg", payload);
    }

    /// A turn began: its id.
    pub fn started(&mut self) -> String {
        self.turns += 1;
        let turn_id = format!("turn-{}", self.turns);
        self.row(
            "turn_context",
            json!({"model": "fake-model", "turn_id": turn_id}),
        );
        self.event(json!({"type": "task_started", "turn_id": turn_id}));
        turn_id
    }

    /// The turn ended with `answer`, or failed when the prompt asked for `[fail=429]`.
    pub fn finished(&mut self, turn_id: &str, prompt: &str, answer: &str) {
        if prompt.contains("[fail=429]") {
            self.event(json!({
                "type": "task_complete",
                "turn_id": turn_id,
                "last_agent_message": null,
                "error": {
                    "message": "exceeded retry limit, last status: 429 Too Many Requests",
                    "codex_error_info": {"response_too_many_failed_attempts": {"http_status_code": 429}}
                }
            }));
            return;
        }
        let request = json!({
            "input_tokens": INPUT, "cached_input_tokens": CACHED, "output_tokens": OUTPUT,
            "reasoning_output_tokens": REASONING, "total_tokens": INPUT + OUTPUT
        });
        let n = self.turns;
        let total = json!({
            "input_tokens": INPUT * n, "cached_input_tokens": CACHED * n, "output_tokens": OUTPUT * n,
            "reasoning_output_tokens": REASONING * n, "total_tokens": (INPUT + OUTPUT) * n
        });
        self.event(json!({
            "type": "token_count",
            "info": {"total_token_usage": total, "last_token_usage": request, "model_context_window": 272000}
        }));
        self.event(
            json!({"type": "task_complete", "turn_id": turn_id, "last_agent_message": answer}),
        );
    }

    pub fn aborted(&mut self, turn_id: &str) {
        self.event(json!({"type": "turn_aborted", "turn_id": turn_id, "reason": "interrupted"}));
    }
}
