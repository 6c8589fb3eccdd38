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
        use super::argv::{Flag, Spelling, flag_value, has_flag, named_or_fresh_uuid};
        use crate::record_files::{RecordsPlan, agent_home};
        let projects_dir = agent_home(env, "CLAUDE_CONFIG_DIR", ".claude").join("projects");
        if has_flag(argv, &["--continue", "-c", "--fork-session"]) {
            return RecordsPlan::unavailable(
                "started with --continue or --fork-session: Claude picks the transcript itself",
            );
        }
        if flag_value(argv, &["--resume", "-r"]) == Flag::NoValue {
            return RecordsPlan::unavailable(
                "started with --resume and no session id: Claude picks the transcript itself",
            );
        }
        // A resumed session keeps its id, and so its transcript.
        let names = ["--session-id", "--resume", "-r"];
        let agent_session_id = match named_or_fresh_uuid(argv, &names, Spelling::Separate) {
            Ok(id) => id,
            Err(why) => return RecordsPlan::unavailable(why),
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
    fn the_transcript_is_bound_by_the_session_id_harnex_picks_or_the_run_names() {
        use crate::record_files::RecordsPlan;
        let env = |key: &str| (key == "CLAUDE_CONFIG_DIR").then(|| "/c".to_string());
        let cwd = std::path::Path::new("/repo");
        let session_of = |argv: &mut Vec<String>| match Claude.records_plan(argv, &env, cwd) {
            RecordsPlan::ClaudeTranscript {
                projects_dir,
                agent_session_id,
                ..
            } => {
                assert_eq!(projects_dir, std::path::Path::new("/c/projects"));
                Ok(agent_session_id)
            }
            RecordsPlan::Unavailable { why } => Err(why),
            other => panic!("{other:?}"),
        };
        let mut fresh = vec!["claude".to_string()];
        let id = session_of(&mut fresh).expect("bound");
        assert_eq!(fresh[1..], ["--session-id".to_string(), id]);
        let uuid = "b6f9ae22-03a8-4b2e-88b3-f7c26e201e94";
        for named in [
            vec!["claude".to_string(), "--resume".into(), uuid.into()],
            vec!["claude".to_string(), format!("-r={uuid}")],
            vec!["claude".to_string(), format!("--session-id={uuid}")],
        ] {
            let mut argv = named.clone();
            assert_eq!(session_of(&mut argv).as_deref(), Ok(uuid), "{named:?}");
            assert_eq!(argv, named, "nothing added");
        }
        for (argv, why) in [
            (vec!["claude", "--resume"], "Claude picks"),
            (vec!["claude", "-r", "--verbose"], "Claude picks"),
            (vec!["claude", "--continue"], "Claude picks"),
            (vec!["claude", "--session-id", "x"], "not a session id"),
            (vec!["claude", "--session-id"], "without a session id"),
        ] {
            let mut argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
            let got = session_of(&mut argv);
            assert!(
                got.as_ref().is_err_and(|w| w.contains(why)),
                "{argv:?}: {got:?}"
            );
        }
    }

    #[test]
    fn an_api_error_after_the_last_finished_turn_means_it_gave_up() {
        assert!(Claude.gave_up_on_model("✻ Worked for 3s\n❯ next\n⎿ API Error: Connection error."));
        assert!(!Claude.gave_up_on_model("⎿ API Error: 500\n● ok\n✻ Cooked for 4s · done"));
        assert!(!Claude.gave_up_on_model("❯ hi\n← for agents"));
    }

    fn busy_view(rows: &[&str]) -> ScreenView {
        let mut rows = rows.to_vec();
        rows.push("❯ ");
        rows.push("  ⏵⏵ bypass permissions on · esc to interrupt");
        ScreenView::for_test(&rows, (rows.len() as u16 - 2, 2), "")
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
