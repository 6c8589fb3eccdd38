//! Claude Code (tested with 2.1.328).
//!
//! What harnex reads off its screen, its keys and delays are data: `rules/claude.toml` (the screen
//! facts are written down there). This module is what cannot be data: the arguments, the
//! agent's own records.

use super::Adapter;
use crate::vocab::ExitSummary;

pub struct Claude;

impl Adapter for Claude {
    fn name(&self) -> &'static str {
        "claude"
    }

    fn command(&self, cli: &str, args: &[String]) -> Vec<String> {
        let mut argv = vec![
            cli.to_string(),
            "--dangerously-skip-permissions".to_string(),
        ];
        argv.extend(args.iter().cloned());
        argv
    }

    /// Claude takes its session id on the command line, so harnex picks it and knows the
    /// transcript's name before the spawn; a run that names its own session keeps it.
    fn records_plan(
        &self,
        argv: &mut Vec<String>,
        env: &dyn Fn(&str) -> Option<String>,
        _cwd: &std::path::Path,
    ) -> crate::record_files::RecordsPlan {
        use crate::record_files::{RecordsPlan, agent_home};
        let projects_dir = agent_home(env, "CLAUDE_CONFIG_DIR", ".claude").join("projects");
        let value_of = |flags: &[&str]| {
            argv.iter().enumerate().find_map(|(i, arg)| {
                flags.iter().find_map(|flag| {
                    if arg == flag {
                        argv.get(i + 1).filter(|v| !v.starts_with('-')).cloned()
                    } else {
                        arg.strip_prefix(&format!("{flag}=")).map(str::to_string)
                    }
                })
            })
        };
        let has = |flags: &[&str]| {
            argv.iter().any(|a| {
                flags
                    .iter()
                    .any(|f| a == f || a.starts_with(&format!("{f}=")))
            })
        };
        if has(&["--continue", "-c", "--fork-session"]) {
            return RecordsPlan::unavailable(
                "started with --continue or --fork-session: Claude picks the transcript itself",
            );
        }
        let named = value_of(&["--session-id", "--resume", "-r"]);
        if named.is_none() && has(&["--resume", "-r"]) {
            return RecordsPlan::unavailable(
                "started with --resume and no session id: Claude picks the transcript itself",
            );
        }
        let agent_session_id = match named {
            Some(id) if crate::ids::is_uuid(&id) => id,
            Some(_) => {
                return RecordsPlan::unavailable(
                    "the session named on the command line is not a session id (a UUID)",
                );
            }
            None => {
                let id = crate::ids::uuid_v4();
                argv.push("--session-id".into());
                argv.push(id.clone());
                id
            }
        };
        RecordsPlan::ClaudeTranscript {
            projects_dir,
            agent_session_id,
            hooks: None,
        }
    }

    /// Claude prints no usage; its session transcript has it.
    fn usage_from_records(&self, parsed: ExitSummary, cwd: &std::path::Path) -> ExitSummary {
        let from_transcript = parsed.agent_session_id.as_deref().and_then(|session| {
            let config = super::claude_usage::claude_config_dir()?;
            super::claude_usage::claude_usage(&config, cwd, session)
        });
        from_transcript.unwrap_or(parsed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use regex::Regex;

    use super::*;
    use crate::adapters::{Observation, Retry, ScreenView};

    /// The `spinner-line` rule's pattern.
    static SPINNER_LINE: LazyLock<&'static Regex> = LazyLock::new(|| {
        let rules = crate::adapters::rules::builtin("claude");
        let rule = rules.rules.iter().find(|r| r.name == "spinner-line");
        match rule.map(|r| &r.locator) {
            Some(crate::adapters::rules::Locator::Row { pattern, .. }) => pattern,
            other => panic!("spinner-line looks at a row: {other:?}"),
        }
    });

    #[test]
    fn the_resume_id_is_parsed() {
        let tail = "Resume this session with:\r\nclaude --dangerously-skip-permissions --resume b6f9ae22-03a8-4b2e-88b3-f7c26e201e94\r\n";
        assert_eq!(
            Claude.parse_exit_summary(tail).agent_session_id.as_deref(),
            Some("b6f9ae22-03a8-4b2e-88b3-f7c26e201e94")
        );
    }

    #[test]
    fn an_api_error_after_the_last_finished_turn_means_it_gave_up() {
        assert!(Claude.gave_up_on_model("✻ Worked for 3s\n❯ next\n⎿ API Error: Connection error."));
        assert!(!Claude.gave_up_on_model("⎿ API Error: 500\n● ok\n✻ Cooked for 4s · done"));
        assert!(!Claude.gave_up_on_model("❯ hi\n← for agents"));
    }

    fn busy_view(rows: &[&str]) -> ScreenView {
        let mut rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
        rows.push("❯ ".into());
        rows.push("  ⏵⏵ bypass permissions on · esc to interrupt".into());
        ScreenView {
            cursor: (rows.len() as u16 - 2, 2),
            rows,
            ..ScreenView::default()
        }
    }

    #[test]
    fn the_live_status_line_while_retrying_carries_the_attempt() {
        let verdict = Claude.classify(&busy_view(&[
            "❯ Say the answer",
            "✻ 429 Rate limit reached · retrying in 2s · attempt 2/10",
        ]));
        assert_eq!(verdict.observation, Observation::Busy);
        assert_eq!(verdict.rule, "claude.retrying");
        assert_eq!(
            verdict.retry,
            Some(Retry {
                attempt: 2,
                max: Some(10)
            })
        );
        let waiting = Claude.classify(&busy_view(&["✻ API error · retrying… · attempt 1/2"]));
        assert_eq!(waiting.retry.map(|r| r.attempt), Some(1));
        // An older turn's line above the live one does not count.
        let working = Claude.classify(&busy_view(&[
            "✻ API error · retrying in 1s · attempt 1/2",
            "● API Error: 529 Overloaded.",
            "❯ again",
            "✶ Meandering…",
        ]));
        assert_eq!(working.rule, "claude.esc-to-interrupt");
        assert_eq!(working.retry, None);
    }

    #[test]
    fn spinner_lines_are_busy_but_the_after_turn_line_is_not() {
        assert!(SPINNER_LINE.is_match("✶ Meandering…"));
        assert!(SPINNER_LINE.is_match("· Herding…"));
        assert!(!SPINNER_LINE.is_match("✻ Cooked for 4s · done 7:52 AM"));
        assert!(!SPINNER_LINE.is_match("● Done. The mock agent finished the task."));
    }
}
