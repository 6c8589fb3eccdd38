//! Commands Claude runs itself, without the model: a local slash command (`/model sonnet`,
//! `/cost`) or a shell command (`!ls`). Claude writes each as user rows — the command
//! (`<command-name>…<command-args>`, `<bash-input>`), then its output (`<local-command-stdout>`,
//! `<bash-stdout>…<bash-stderr>`) — and never a `turn_duration`.
//!
//! Such a command is still a turn to whoever sent it (harnex counts every message it submits):
//! it starts on the command's row and ends, completed, on its output's, with the output as the
//! answer. Claude 2.1.328 marks the rows that go to the model with `turnOrigin`: a slash command
//! that expands into a prompt (a custom command, `/review`) is an ordinary prompt, and a shell
//! command's output that Claude passes on to the model continues the turn as a model turn,
//! which ends as any other. A command run while a model turn is open adds nothing to it.

use serde_json::Value;

use super::fields::between;
use super::{ClaudeRecords, RecordFact, TurnOutcome};

/// How the row that runs a local command starts.
const COMMAND_MARKERS: [&str; 3] = ["<command-name>", "<command-message>", "<bash-input>"];

/// The tags a local command's output is written in.
const OUTPUT_TAGS: [&str; 4] = [
    "local-command-stdout",
    "local-command-stderr",
    "bash-stdout",
    "bash-stderr",
];

impl ClaudeRecords {
    /// Reads a user row that is part of a local command; false for any other row (a prompt).
    pub(super) fn local_command(
        &mut self,
        row: &Value,
        text: &str,
        facts: &mut Vec<RecordFact>,
    ) -> bool {
        let text = text.trim_start();
        let to_model = row.get("turnOrigin").is_some();
        if COMMAND_MARKERS.iter().any(|m| text.starts_with(m)) {
            if to_model {
                return false;
            }
            if self.open_turn.is_none() {
                self.start_turn(row, facts);
                self.local_turn = true;
            }
            return true;
        }
        if !OUTPUT_TAGS
            .iter()
            .any(|t| text.starts_with(&format!("<{t}>")))
        {
            return false;
        }
        match (self.local_turn, to_model) {
            // Claude hands the output to the model: the turn goes on as a model turn.
            (true, true) => self.local_turn = false,
            (true, false) => {
                self.end_turn(TurnOutcome::Completed, Some(output_of(text)), None, facts);
            }
            (false, true) => return false,
            // The output of a command run while a model turn is open.
            (false, false) => {}
        }
        true
    }
}

/// The text inside a local command's output tags, stdout then stderr.
fn output_of(text: &str) -> String {
    let parts: Vec<&str> = OUTPUT_TAGS
        .iter()
        .filter_map(|tag| between(text, &format!("<{tag}>"), &format!("</{tag}>")))
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect();
    parts.join("\n")
}
