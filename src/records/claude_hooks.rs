//! Claude Code's hooks, read as facts: the JSON Claude hands each hook on stdin (one line per
//! hook call, as `harnex hook-relay` appended it). harnex registers, for its session alone
//! (`--settings`), `Stop` (a turn ended; `last_assistant_message`), `StopFailure` (a turn ended on
//! an API error: `error` is one of Claude's error names, `error_details` its words) and
//! `SubagentStart`/`SubagentStop` (`agent_id`). Checked on Claude Code 2.1.328.
//!
//! Hooks give no turn id: the ledger ties a hook's turn end to the turn harnex started, and the
//! record of the same turn, arriving later, fills in what the hook lacked.

use serde_json::Value;

use super::{ErrorKind, RecordFact, TurnError, TurnOutcome};

/// The facts in one hook line.
pub fn facts(line: &str) -> Vec<RecordFact> {
    let Ok(hook) = serde_json::from_str::<Value>(line.trim()) else {
        return Vec::new();
    };
    let text = |key: &str| hook[key].as_str().map(str::to_string);
    match hook["hook_event_name"].as_str() {
        Some("Stop") => vec![RecordFact::TurnEnded {
            turn_id: None,
            outcome: TurnOutcome::Completed,
            answer: text("last_assistant_message"),
            error: None,
        }],
        Some("StopFailure") => {
            let name = text("error").unwrap_or_else(|| "unknown".into());
            vec![RecordFact::TurnEnded {
                turn_id: None,
                outcome: TurnOutcome::Failed,
                answer: None,
                error: Some(TurnError {
                    kind: kind_of_error(&name),
                    message: text("error_details").unwrap_or_else(|| name.replace('_', " ")),
                    http_status: None,
                }),
            }]
        }
        Some(event @ ("SubagentStart" | "SubagentStop")) => vec![RecordFact::Subagent {
            agent_session_id: text("agent_id"),
            started: event == "SubagentStart",
        }],
        _ => Vec::new(),
    }
}

/// The kind of one of Claude's API error names.
fn kind_of_error(name: &str) -> ErrorKind {
    match name {
        "rate_limit" => ErrorKind::RateLimited,
        "overloaded" | "server_error" => ErrorKind::Overloaded,
        "authentication_failed" | "oauth_org_not_allowed" | "cloud_credential_error" => {
            ErrorKind::Auth
        }
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_ends_the_turn_with_the_last_message() {
        let facts = facts(
            r#"{"hook_event_name":"Stop","session_id":"s","last_assistant_message":"All done."}"#,
        );
        assert_eq!(
            facts,
            vec![RecordFact::TurnEnded {
                turn_id: None,
                outcome: TurnOutcome::Completed,
                answer: Some("All done.".into()),
                error: None,
            }]
        );
    }

    #[test]
    fn stop_failure_names_the_kind() {
        let facts = facts(
            r#"{"hook_event_name":"StopFailure","error":"rate_limit","error_details":"429 Too Many Requests"}"#,
        );
        let RecordFact::TurnEnded {
            outcome,
            error: Some(error),
            ..
        } = &facts[0]
        else {
            panic!("{facts:?}");
        };
        assert_eq!(*outcome, TurnOutcome::Failed);
        assert_eq!(error.kind, ErrorKind::RateLimited);
        assert_eq!(error.message, "429 Too Many Requests");
        assert_eq!(kind_of_error("overloaded"), ErrorKind::Overloaded);
        assert_eq!(kind_of_error("authentication_failed"), ErrorKind::Auth);
    }

    #[test]
    fn subagents_and_other_hooks() {
        assert_eq!(
            facts(r#"{"hook_event_name":"SubagentStart","agent_id":"a1","agent_type":"x"}"#),
            vec![RecordFact::Subagent {
                agent_session_id: Some("a1".into()),
                started: true
            }]
        );
        assert!(facts(r#"{"hook_event_name":"PreToolUse"}"#).is_empty());
        assert!(facts("not json").is_empty());
    }
}
